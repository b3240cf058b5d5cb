import { stringify } from 'yaml';
import { apiRequest } from './api-client.js';
import { resolveView } from './command-get.js';
import { printJson, type OutputFormat } from './output.js';

type Row = Record<string, any>;

/** A resource as stored plus its status, or what a proxy holds (from its admin /config_dump). */
export async function describeCommand(apiUrl: string, kind: string, name: string, namespace: string, output: OutputFormat): Promise<number> {
  const view = resolveView(kind);
  if (view === 'proxies') return describeProxy(apiUrl, name, output);
  if (view === 'endpoints') throw new Error('describe takes service, route or proxy; use `trellis get endpoints SERVICE`');
  const rows = await apiRequest<Row[]>(apiUrl, 'GET', `/api/v1/${view}`);
  const row = rows.find((r) => r.metadata?.name === name && (r.metadata?.namespace ?? 'default') === namespace);
  if (!row) {
    process.stderr.write(`error: ${view.replace(/s$/, '')} "${name}" not found in namespace ${namespace}\n`);
    return 1;
  }
  if (output === 'json') printJson(row);
  else process.stdout.write(stringify(row));
  return 0;
}

async function describeProxy(apiUrl: string, id: string, output: OutputFormat): Promise<number> {
  const proxies = await apiRequest<Row[]>(apiUrl, 'GET', '/api/v1/proxies');
  const p = proxies.find((x) => x.id === id);
  if (!p) {
    process.stderr.write(`error: proxy "${id}" not found; \`trellis get proxies\` lists them\n`);
    return 1;
  }
  const adminUrl = `http://${p.address.includes(':') ? `[${p.address}]` : p.address}:${p.adminPort ?? 15000}/config_dump`;
  let dump: Row | null = null;
  let dumpError: string | null = null;
  try {
    const res = await fetch(adminUrl, { signal: AbortSignal.timeout(5000) });
    dump = (await res.json()) as Row;
  } catch (err) {
    dumpError = `cannot read ${adminUrl}: ${(err as Error).message}`;
  }
  if (output === 'json') {
    printJson({ proxy: p, configDump: dump, error: dumpError });
    return 0;
  }
  process.stdout.write(stringify({ proxy: p }));
  if (!dump) {
    process.stdout.write(`config: ${dumpError}\n`);
    return 0;
  }
  process.stdout.write(stringify({ config: summarize(dump) }));
  return 0;
}

/** The parts of a config dump a person reads first: listeners, routes, clusters, endpoints. */
function summarize(dump: Row): Row {
  const listeners = (dump.listeners ?? []) as Row[];
  const routes = (dump.routes ?? []) as Row[];
  const clusters = (dump.clusters ?? []) as Row[];
  const endpoints = (dump.endpoints ?? []) as Row[];
  return {
    version: dump.version,
    source: dump.source,
    xds: dump.xds,
    listeners: listeners.map((l) => `${l.name} ${l.address}:${l.port} -> ${l.routeConfigName}`),
    routes: routes.flatMap((t) => (t.virtualHosts ?? []).flatMap((vh: Row) => (vh.routes ?? []).map((r: Row) =>
      `${vh.name} ${r.match?.kind} ${r.match?.value} -> ${(r.clusters ?? []).map((c: Row) => `${c.cluster}:${c.weight}`).join(',')}`))),
    clusters: clusters.map((c) => c.name),
    endpoints: endpoints.map((e) => `${e.clusterName}: ${(e.endpoints ?? []).map((x: Row) => `${x.address}:${x.port}${x.healthy === false ? ' (unhealthy)' : ''}`).join(', ') || 'none'}`),
  };
}
