// Raw TCP over xDS (docs/xds.md "Listeners", docs/protocols.md): what the compiler sends for a
// Service's tcp port decodes through real protobuf bytes into the typed config (an outbound
// tcp_proxy listener that tunnels in a CONNECT; the inbound CONNECT route and its app cluster);
// clashes are left out and reported; malformed shapes are refused naming the field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileSnapshot } from '../../../src/control/compiler/compile-snapshot.js';
import { nodeClashes, tcpPlan } from '../../../src/control/compiler/compile-tcp.js';
import { encodeSnapshot } from '../../../src/control/xds/encoded-snapshot.js';
import { parseResources } from '../../../src/resources/validate.js';
import type { Resource } from '../../../src/resources/kinds.js';
import type { ClusterConfig, ListenerConfig } from '../../../src/proxy/config/proxy-config.js';
import { clusterKind, decodeResourceBytes, listenerKind, type ResourceKind } from '../../../src/proxy/xds/ads-resource-kinds.js';
import { decodeListener } from '../../../src/proxy/xds/listener-decoder.js';
import { typeUrls } from '../../../src/xds/type-urls.js';
import type { NodeInfo } from '../../../src/xds/node.js';
import { packResource } from './xds-fixtures.js';
import { instance } from '../../control/helpers.js';

function parse(yaml: string): Resource[] {
  const r = parseResources(yaml, 't.yaml');
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.resources;
}

const node = (service: string, address: string, appPort = 8000): NodeInfo => ({
  id: `${service}-1`, service, namespace: 'default', address, inboundPort: 15006, outboundPort: 15001, adminPort: 15000,
  app: { address, port: appPort }, labels: {}, zone: '', region: '', version: 'test',
});

const mesh = parse(`apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: db, creationTimestamp: "2026-01-01T00:00:00Z" }
spec: { ports: [{ name: pg, port: 5432, protocol: tcp, targetPort: 15432 }, { port: 8000 }] }
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: db-copy, creationTimestamp: "2026-01-02T00:00:00Z" }
spec: { ports: [{ port: 5432, protocol: tcp }, { port: 15001, protocol: tcp }] }
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: web }
spec: { ports: [{ port: 9000, protocol: tcp }] }
`);

function decodeAll<T>(kind: ResourceKind<T>, snapshot: ReturnType<typeof encodeSnapshot>): Map<string, T> {
  const out = new Map<string, T>();
  for (const [name, any] of snapshot.resources.get(kind.typeUrl) ?? []) {
    const r = decodeResourceBytes(kind, any.value);
    if (!r.ok) throw new Error(`${name}: ${r.error}`);
    out.set(name, r.value);
  }
  return out;
}

test('a tcp port compiles into an outbound tcp_proxy listener that tunnels in a CONNECT, and decodes back', () => {
  const web = node('web', '127.0.75.20');
  const db = instance({ service: 'db', address: '127.0.75.21', app: { address: '127.0.75.21', port: 8000 } });
  const snap = encodeSnapshot(compileSnapshot({ resources: mesh, instances: [db] }, web));
  const listeners = decodeAll<ListenerConfig>(listenerKind, snap);
  const l = listeners.get('tcp|5432');
  assert.deepEqual(l, {
    name: 'tcp|5432', address: '127.0.75.20', port: 5432, direction: 'outbound', routeConfigName: '',
    tcpProxy: { cluster: 'db.default', idleTimeoutMs: 3_600_000, maxConnectAttempts: 3, tunnelHostname: 'db.default:15432' },
  });
  // db-copy's 5432 clashes with the older db; 15001 is the sidecar's own; web's 9000 is web's own port
  assert.deepEqual([...listeners.keys()].filter((n) => n.startsWith('tcp|')).sort(), ['tcp|5432']);
  const plan = tcpPlan(mesh);
  assert.match(plan.conflicts.get('db-copy.default')![0], /Service default\/db \(older\) declares tcp port 5432 too and keeps it/);
  assert.match(plan.conflicts.get('db-copy.default')![1], /port 15001 is reserved/);
});

test('the inbound listener of a member terminates CONNECTs to its tcp target ports only, at its app', () => {
  const dbNode = node('db', '127.0.75.21');
  const snap = encodeSnapshot(compileSnapshot({ resources: mesh, instances: [] }, dbNode));
  const listeners = decodeAll<ListenerConfig>(listenerKind, snap);
  const inbound = listeners.get('inbound')!;
  // 15432: the tcp port's target; 8000: db's port without a protocol, whose TCP path tunnels too (compile-detect.ts)
  assert.deepEqual(inbound.inlineRoutes?.connect, [{ name: 'tcp|8000', port: 8000, cluster: 'inbound|tcp|8000' }, { name: 'tcp|15432', port: 15432, cluster: 'inbound|tcp|15432' }]);
  assert.equal(inbound.inlineRoutes?.virtualHosts[0].routes.length, 1, 'the CONNECT route is not an HTTP route');
  const clusters = decodeAll<ClusterConfig>(clusterKind, snap);
  assert.deepEqual(clusters.get('inbound|tcp|15432')?.staticEndpoints?.map((e) => `${e.address}:${e.port}`), ['127.0.75.21:15432']);
  // the member has no outbound listener for its own port (its app holds it)
  assert.equal(listeners.has('tcp|5432'), true, 'other tcp services stay reachable');
  const selfOnly = encodeSnapshot(compileSnapshot({ resources: mesh, instances: [] }, node('db', '127.0.75.22', 5432)));
  assert.equal(decodeAll<ListenerConfig>(listenerKind, selfOnly).has('tcp|5432'), false, 'no listener on the app\'s own port');
});

test('per-proxy clashes are named for the Service status; members are not clashes', () => {
  const plan = tcpPlan(mesh);
  const clashing = instance({ service: 'web', address: '127.0.75.30', app: { address: '127.0.75.30', port: 5432 } });
  const member = instance({ service: 'db', address: '127.0.75.31', app: { address: '127.0.75.31', port: 15432 } });
  const out = nodeClashes(plan, 'db.default', [clashing, member], (inst, key) => key === 'db.default' && inst.service === 'db');
  assert.deepEqual(out, ['proxy web-127.0.75.30: no TCP listener on 127.0.75.30:5432 (its app listens on 127.0.75.30:5432)']);
});

test('malformed tcp_proxy listeners are refused naming the field', () => {
  const listener = (tcp: Record<string, unknown>, direction = 'OUTBOUND') => ({
    name: 'tcp|1', address: { socket_address: { address: '127.0.75.9', port_value: 1 } }, traffic_direction: direction,
    filter_chains: [{ filters: [{ name: 'envoy.filters.network.tcp_proxy', typed_config: packResource(typeUrls.tcpProxy, { stat_prefix: 's', ...tcp }) }] }],
  });
  const refused = (l: Record<string, unknown>) => {
    const r = decodeListener(l);
    assert.equal(r.ok, false);
    return (r as { error: string }).error;
  };
  assert.match(refused(listener({})), /TcpProxy\.cluster is required/);
  assert.match(refused(listener({ cluster: 'a', hash_policy: [{ source_ip: {} }] })), /TcpProxy\.hash_policy is not supported/);
  assert.match(refused(listener({ cluster: 'a', tunneling_config: { hostname: 'a:1', use_post: true } })), /tunneling_config\.use_post is not supported/);
  assert.match(refused(listener({ cluster: 'a', tunneling_config: { hostname: 'no-port' } })), /hostname must be HOST:PORT/);
  assert.match(refused(listener({ cluster: 'a', max_connect_attempts: { value: 50 } })), /max_connect_attempts must be 1-10/);
  assert.match(refused(listener({ cluster: 'a' }, 'INBOUND')), /must be OUTBOUND/);
  const ok = decodeListener(listener({ cluster: 'a' }));
  assert.deepEqual(ok.ok && ok.value.tcpProxy, { cluster: 'a', idleTimeoutMs: 3_600_000, maxConnectAttempts: 1 });
});
