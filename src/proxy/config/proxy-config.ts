// The sidecar's typed, validated view of its xDS config. The xDS client decodes each Envoy
// resource once into these shapes; the data path never sees protobuf objects.

export interface ListenerConfig {
  name: string;               // "outbound" | "inbound"
  address: string;
  port: number;
  direction: 'outbound' | 'inbound';
  routeConfigName: string;    // RDS name, or the name of the inline route config
  inlineRoutes?: RouteTable;  // set when the HttpConnectionManager carries route_config inline
}

export interface RouteTable {
  name: string;
  virtualHosts: VirtualHost[];
}

export interface VirtualHost {
  name: string;
  domains: string[];          // exact host names, "*" or "*.suffix" / "prefix.*"
  routes: Route[];
}

export type PathMatch =
  | { kind: 'prefix'; value: string }
  | { kind: 'exact'; value: string };

export interface WeightedCluster {
  cluster: string;
  weight: number;
}

export interface Route {
  name: string;
  match: PathMatch;
  clusters: WeightedCluster[]; // one entry for a plain cluster route; weights sum > 0
  timeoutMs: number;           // 0 = no route timeout
}

export interface ClusterConfig {
  name: string;
  connectTimeoutMs: number;
  lbPolicy: 'round-robin';
  /** EDS service name, or the cluster name; STATIC clusters carry inline endpoints instead. */
  edsServiceName?: string;
  staticEndpoints?: EndpointConfig[];
}

export interface EndpointConfig {
  address: string;
  port: number;
  weight: number;
  healthy: boolean;
  zone: string;
  labels: Record<string, string>;
}

export interface ClusterLoadAssignment {
  clusterName: string;
  endpoints: EndpointConfig[];
}

/** One complete, consistent config the data path can switch to atomically. */
export interface ProxyConfig {
  version: string;
  listeners: ListenerConfig[];
  routes: Map<string, RouteTable>;
  clusters: Map<string, ClusterConfig>;
  endpoints: Map<string, ClusterLoadAssignment>;
}
