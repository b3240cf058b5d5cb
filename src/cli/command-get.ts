import { apiRequest } from './api-client.js';
import { age, printJson, printTable, type OutputFormat } from './output.js';

type Row = Record<string, any>;

// What `trellis get` can list: the API path, how a NAME argument selects rows, and the table.
const views: Record<string, { path: string; name: (r: Row) => string; columns: [string, (r: Row) => unknown][] }> = {
  services: {
    path: '/api/v1/services',
    name: (r) => r.metadata?.name,
    columns: [
      ['NAMESPACE', (r) => r.metadata?.namespace],
      ['NAME', (r) => r.metadata?.name],
      ['CLUSTER-IP', (r) => r.status?.clusterIP ?? '-'],
      ['PORTS', (r) => (r.spec?.ports ?? []).map((p: Row) => `${p.port}/${p.protocol ?? 'auto'}`)],
      ['SELECTOR', (r) => r.spec?.selector],
      ['ENDPOINTS', (r) => r.status?.endpoints],
      ['DRAINING', (r) => r.status?.draining],
    ],
  },
  routes: {
    path: '/api/v1/routes',
    name: (r) => r.metadata?.name,
    columns: [
      ['NAMESPACE', (r) => r.metadata?.namespace],
      ['NAME', (r) => r.metadata?.name],
      ['PARENTS', (r) => (r.spec?.parentRefs ?? []).map((p: Row) => p.name)],
      ['BACKENDS', (r) => (r.spec?.rules ?? []).flatMap((rule: Row) => (rule.backendRefs ?? []).map((b: Row) => `${b.name}:${b.weight ?? 1}`))],
      ['ACCEPTED', (r) => (r.status?.accepted === undefined ? '-' : r.status.accepted ? 'True' : `False (${r.status.reason ?? 'unknown'})`)],
    ],
  },
  grpcroutes: {
    path: '/api/v1/grpcroutes',
    name: (r) => r.metadata?.name,
    columns: [
      ['NAMESPACE', (r) => r.metadata?.namespace],
      ['NAME', (r) => r.metadata?.name],
      ['PARENTS', (r) => (r.spec?.parentRefs ?? []).map((p: Row) => p.name)],
      ['METHODS', (r) => (r.spec?.rules ?? []).flatMap((rule: Row) => (rule.matches ?? [{}]).map(grpcMatchText))],
      ['BACKENDS', (r) => (r.spec?.rules ?? []).flatMap((rule: Row) => (rule.backendRefs ?? []).map((b: Row) => `${b.name}:${b.weight ?? 1}`))],
      ['ACCEPTED', (r) => (r.status?.accepted === undefined ? '-' : r.status.accepted ? 'True' : `False (${r.status.reason ?? 'unknown'})`)],
    ],
  },
  endpoints: {
    path: '/api/v1/endpoints',
    name: (r) => r.service,
    columns: [
      ['SERVICE', (r) => r.service],
      ['ADDRESS', (r) => `${r.address}:${r.port}`],
      ['ZONE', (r) => r.zone],
      ['REGION', (r) => r.region],
      ['STATE', (r) => (r.state === 'ejected' && r.ejectedUntil ? `ejected until ${new Date(r.ejectedUntil).toLocaleTimeString()}` : r.state)],
      ['IN-FLIGHT', (r) => r.inFlight],
      ['EWMA', (r) => (typeof r.ewmaMs === 'number' ? `${r.ewmaMs.toFixed(1)}ms` : null)],
      ['PROXY', (r) => r.proxyId],
      ['LABELS', (r) => r.labels],
    ],
  },
  policies: {
    path: '/api/v1/policies',
    name: (r) => r.metadata?.name,
    columns: [
      ['NAMESPACE', (r) => r.metadata?.namespace],
      ['NAME', (r) => r.metadata?.name],
      ['KIND', (r) => r.kind],
      ['TARGET', (r) => (r.spec?.targetRef ? `${r.spec.targetRef.kind}/${r.spec.targetRef.name}${r.spec.targetRef.sectionName ? `#${r.spec.targetRef.sectionName}` : ''}` : r.kind === 'AuthorizationPolicy' ? '(namespace)' : null)],
      ['ACTION', (r) => r.spec?.action ?? null],
      ['ACCEPTED', (r) => (r.status?.accepted === undefined ? '-' : r.status.accepted ? 'True' : `False (${r.status.reason ?? 'unknown'}): ${r.status.message ?? ''}`)],
    ],
  },
  proxies: {
    path: '/api/v1/proxies',
    name: (r) => r.id,
    columns: [
      ['ID', (r) => r.id],
      ['SERVICE', (r) => r.service],
      ['ADDRESS', (r) => r.address],
      ['CONNECTED', (r) => (r.connected ? `yes (${age(r.connectedAt)})` : 'no')],
      ['CONTROL', (r) => r.controlReplica],
      ['ACKED', (r) => r.ackedVersion],
      ['SENT', (r) => r.sentVersion],
      ['CERT EXPIRES', (r) => certExpiresIn(r.certExpiry)],
      ['LAST NACK', (r) => (r.lastNack ? `${r.lastNack.version}: ${r.lastNack.error}` : null)],
    ],
  },
};

const aliases: Record<string, string> = {
  service: 'services', svc: 'services', route: 'routes', httproute: 'routes', httproutes: 'routes', grpcroute: 'grpcroutes',
  endpoint: 'endpoints', ep: 'endpoints', proxy: 'proxies',
  policy: 'policies', resiliencepolicy: 'policies', resiliencepolicies: 'policies', rp: 'policies',
  authorizationpolicy: 'policies', authorizationpolicies: 'policies', authz: 'policies',
};

export function resolveView(kind: string): string {
  const k = kind.toLowerCase();
  const v = views[k] ? k : aliases[k];
  if (!v) throw new Error(`unknown kind "${kind}"; expected one of ${Object.keys(views).join(', ')}`);
  return v;
}

export async function getCommand(apiUrl: string, kind: string, name: string | undefined, output: OutputFormat): Promise<number> {
  const view = views[resolveView(kind)];
  let rows = await apiRequest<Row[]>(apiUrl, 'GET', view.path);
  if (name) {
    rows = rows.filter((r) => view.name(r) === name);
    if (rows.length === 0) {
      process.stderr.write(`error: ${resolveView(kind)} "${name}" not found\n`);
      return 1;
    }
  }
  if (output === 'json') printJson(rows);
  else printTable(rows, view.columns);
  return 0;
}

/** A GRPCRoute match as `pkg.Svc/Method` (`*` for a part left out, `~` before a regular expression); `*` alone matches every call. */
function grpcMatchText(m: Row): string {
  const method = m.method as Row | undefined;
  const text = method ? `${method.type === 'RegularExpression' ? '~' : ''}${method.service ?? '*'}/${method.method ?? '*'}` : '*';
  const headers = (m.headers ?? []) as Row[];
  return headers.length ? `${text}[${headers.map((h) => `${h.name}${h.type === 'RegularExpression' ? '~' : '='}${h.value}`).join(',')}]` : text;
}

/** "in 23h", "in 12m", "expired"; null (shown "-") without a certificate. */
function certExpiresIn(iso: string | null | undefined, now = Date.now()): string | null {
  if (!iso) return null;
  const s = Math.round((Date.parse(iso) - now) / 1000);
  if (s <= 0) return 'expired';
  return s < 120 ? `in ${s}s` : s < 7200 ? `in ${Math.round(s / 60)}m` : `in ${Math.round(s / 3600)}h`;
}
