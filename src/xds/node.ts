// How a sidecar introduces itself in the xDS Node (shared/DESIGN.md §2): this message is its
// registration, so both ends share one encoder/decoder.

export interface NodeInfo {
  id: string;
  service: string;
  namespace: string;
  address: string;            // the pod address every sidecar listener binds
  inboundPort: number;        // where peers reach this pod's sidecar (15006)
  outboundPort: number;       // where the app reaches its sidecar (15001)
  adminPort: number;          // the sidecar's admin server (15000), for `trellis describe proxy`
  app?: { address: string; port: number }; // the local application; absent for an ingress
  ingressFor?: string;        // an ingress sends requests for unknown hosts to this service
  /** The services this proxy calls (`name` or `name.namespace`); absent: every service in the mesh. */
  egress?: string[];
  /** The sidecar takes the app's intercepted connections (`--intercept`): it gets listeners that bind nothing (docs/protocols.md). */
  intercept?: boolean;
  labels: Record<string, string>;
  zone: string;
  region: string;
  version: string;            // the Trellis build
  /** When this sidecar started (ISO 8601): its uptime, which outlives reconnections to the control plane. */
  startedAt?: string;
}

type StructValue =
  | { null_value: 0 } | { number_value: number } | { string_value: string } | { bool_value: boolean }
  | { struct_value: { fields: Record<string, StructValue> } } | { list_value: { values: StructValue[] } };

export function toStruct(obj: Record<string, unknown>): { fields: Record<string, StructValue> } {
  const fields: Record<string, StructValue> = {};
  for (const [k, v] of Object.entries(obj)) if (v !== undefined) fields[k] = toValue(v);
  return { fields };
}

function toValue(v: unknown): StructValue {
  if (v === null) return { null_value: 0 };
  if (typeof v === 'number') return { number_value: v };
  if (typeof v === 'string') return { string_value: v };
  if (typeof v === 'boolean') return { bool_value: v };
  if (Array.isArray(v)) return { list_value: { values: v.map(toValue) } };
  return { struct_value: toStruct(v as Record<string, unknown>) };
}

export function fromStruct(s: { fields?: Record<string, any> } | undefined | null): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(s?.fields ?? {})) out[k] = fromValue(v);
  return out;
}

function fromValue(v: any): unknown {
  if (v == null) return null;
  if ('string_value' in v && v.string_value !== undefined) return v.string_value;
  if ('number_value' in v && v.number_value !== undefined) return v.number_value;
  if ('bool_value' in v && v.bool_value !== undefined) return v.bool_value;
  if ('struct_value' in v && v.struct_value) return fromStruct(v.struct_value);
  if ('list_value' in v && v.list_value) return (v.list_value.values ?? []).map(fromValue);
  return null;
}

/** The envoy.config.core.v3.Node object (snake_case) for a NodeInfo. */
export function encodeNode(n: NodeInfo): Record<string, unknown> {
  return {
    id: n.id,
    cluster: n.service,
    user_agent_name: 'trellis',
    user_agent_version: n.version,
    locality: { region: n.region, zone: n.zone },
    metadata: toStruct({
      namespace: n.namespace,
      address: n.address,
      inboundPort: n.inboundPort,
      outboundPort: n.outboundPort,
      adminPort: n.adminPort,
      app: n.app ? `${n.app.address}:${n.app.port}` : undefined,
      labels: n.labels,
      ingressFor: n.ingressFor,
      egress: n.egress,
      intercept: n.intercept ? true : undefined,
      startedAt: n.startedAt,
    }),
  };
}

/** Reads a Node sent by a sidecar; returns an error string when it lacks what registration needs. */
export function decodeNode(node: any): NodeInfo | string {
  if (!node || typeof node.id !== 'string' || !node.id) return 'node.id is required';
  if (typeof node.cluster !== 'string' || !node.cluster) return 'node.cluster (the service name) is required';
  const md = fromStruct(node.metadata);
  const address = typeof md.address === 'string' ? md.address : '';
  if (!address) return 'node.metadata.address is required';
  let app: NodeInfo['app'];
  if (typeof md.app === 'string' && md.app) {
    const i = md.app.lastIndexOf(':');
    app = { address: md.app.slice(0, i), port: Number(md.app.slice(i + 1)) };
    if (!app.address || !Number.isInteger(app.port)) return `node.metadata.app must be ADDR:PORT, got ${md.app}`;
  }
  let egress: string[] | undefined;
  if (md.egress !== undefined && md.egress !== null) {
    if (!Array.isArray(md.egress) || md.egress.some((e) => typeof e !== 'string' || !e)) return 'node.metadata.egress must be a list of service names';
    egress = md.egress as string[];
  }
  let startedAt: string | undefined;
  if (md.startedAt !== undefined && md.startedAt !== null) {
    if (typeof md.startedAt !== 'string' || !/^\d{4}-\d\d-\d\dT/.test(md.startedAt) || Number.isNaN(Date.parse(md.startedAt))) {
      return `node.metadata.startedAt must be an ISO 8601 time such as 2026-01-01T00:00:00.000Z, got ${JSON.stringify(md.startedAt)}`;
    }
    startedAt = new Date(md.startedAt).toISOString();
  }
  const labels: Record<string, string> = {};
  if (md.labels && typeof md.labels === 'object') for (const [k, v] of Object.entries(md.labels)) labels[k] = String(v);
  return {
    id: node.id,
    service: node.cluster,
    namespace: typeof md.namespace === 'string' && md.namespace ? md.namespace : 'default',
    address,
    inboundPort: typeof md.inboundPort === 'number' ? md.inboundPort : 15006,
    outboundPort: typeof md.outboundPort === 'number' ? md.outboundPort : 15001,
    adminPort: typeof md.adminPort === 'number' ? md.adminPort : 15000,
    app,
    ingressFor: typeof md.ingressFor === 'string' && md.ingressFor ? md.ingressFor : undefined,
    ...(egress ? { egress } : {}),
    ...(md.intercept === true ? { intercept: true } : {}),
    labels,
    zone: node.locality?.zone ?? labels.zone ?? '',
    region: node.locality?.region ?? labels.region ?? '',
    version: node.user_agent_version ?? '',
    ...(startedAt ? { startedAt } : {}),
  };
}
