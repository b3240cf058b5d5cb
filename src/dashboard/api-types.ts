// The rows of the control plane's JSON API as the dashboard reads them
// (src/control/api/api-views.ts and the telemetry's StatsRow are the source of truth).

export interface ProxyRow {
  id: string;
  service: string;
  namespace: string;
  address: string;
  adminPort: number;
  labels: Record<string, string>;
  zone: string;
  region: string;
  state: string;
  connected: boolean;
  connectedAt: string | null;
  disconnectedAt: string | null;
  /** When the sidecar process started (null from sidecars that do not say). */
  startedAt?: string | null;
  ackedVersion: string | null;
  sentVersion: string | null;
  lastNack: { version: string; error: string } | null;
  /** ISO time the proxy's mesh certificate expires; null without one (absent from older control planes). */
  certExpiry?: string | null;
}

export interface ServiceRow {
  kind: 'Service';
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec: { ports?: { port: number; name?: string }[]; selector?: Record<string, string> };
  status: { clusterIP: string | null; endpoints: number; draining: number };
}

export interface BackendRef { name: string; namespace?: string; weight?: number }

export interface RouteMatch {
  /** HTTPRoute */
  path?: { type?: string; value?: string };
  /** GRPCRoute: a gRPC service and/or method (Exact or RegularExpression) */
  method?: { type?: string; service?: string; method?: string };
  headers?: { type?: string; name: string; value: string }[];
}

export interface RouteRule {
  name?: string;
  matches?: RouteMatch[];
  backendRefs: BackendRef[];
}

/** An HTTPRoute (topic routes) or a GRPCRoute (topic grpcroutes): the service page shows both. */
export interface RouteRow {
  kind: 'HTTPRoute' | 'GRPCRoute';
  metadata: { name: string; namespace?: string };
  spec: { parentRefs: { name: string; namespace?: string }[]; rules: RouteRule[] };
  status: { accepted: boolean; reason?: string; message?: string };
}

export interface EndpointRow {
  service: string;
  namespace: string;
  address: string;
  port: number;
  labels: Record<string, string>;
  zone: string;
  state: 'healthy' | 'ejected' | 'draining';
  proxyId: string;
  ejectedUntil: string | null;
  inFlight: number | null;
  ewmaMs: number | null;
}

export interface PolicyRow {
  kind: string;
  metadata: { name: string; namespace?: string };
  /** AuthorizationPolicies may have no targetRef: they then cover their whole namespace. */
  spec: { targetRef?: { kind: string; name: string; namespace?: string; sectionName?: string }; action?: string; rules?: unknown[] } & Record<string, unknown>;
  status: { accepted: boolean; reason?: string; message?: string };
}

// The control plane's own row types (type-only: nothing of the server is bundled).
import type { StatsRow, HistoryPoint } from '../control/telemetry/stats-history.js';
import type { RolloutView, LiveBackendFigures } from '../control/rollout/rollout-live.js';
export type { StatsRow, HistoryPoint, RolloutView, LiveBackendFigures };

export interface Topics {
  proxies: ProxyRow[];
  services: ServiceRow[];
  routes: RouteRow[];
  grpcroutes: RouteRow[];
  endpoints: EndpointRow[];
  policies: PolicyRow[];
  stats: StatsRow[];
  rollouts: RolloutView[];
}

export type Topic = keyof Topics;
