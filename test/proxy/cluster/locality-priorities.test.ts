// The priorities the control plane sends (relative to the asking proxy's locality) and what the
// sidecar decodes from them: compile → decode, no sockets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileEndpoints, localityDistance } from '../../../src/control/compiler/compile-endpoints.js';
import { decodeClusterLoadAssignment } from '../../../src/proxy/xds/cluster-load-assignment-decoder.js';
import type { MeshService } from '../../../src/control/compiler/mesh-services.js';
import { instance } from '../../control/helpers.js';

const svc: MeshService = { name: 'api', namespace: 'default', key: 'api.default' };
const instances = [
  instance({ address: '127.0.36.101', zone: 'zone-a', region: 'r1' }),
  instance({ address: '127.0.36.102', zone: 'zone-b', region: 'r1' }),
  instance({ address: '127.0.36.103', zone: 'zone-c', region: 'r2' }),
  instance({ address: '127.0.36.104', zone: 'zone-a', region: 'r1' }),
];

function decodedPriorities(client?: { region: string; zone: string }): [string, string, string, number][] {
  const out = decodeClusterLoadAssignment(compileEndpoints(svc, instances, client) as never);
  assert.ok(out.ok);
  return out.value.endpoints.map((e) => [e.address, e.region ?? '', e.zone, e.priority ?? 0]);
}

test('distance: own zone 0, own region 1, elsewhere 2; a client that says nowhere prefers nothing', () => {
  const client = { region: 'r1', zone: 'zone-a' };
  assert.equal(localityDistance(client, 'r1', 'zone-a'), 0);
  assert.equal(localityDistance(client, 'r1', 'zone-b'), 1);
  assert.equal(localityDistance(client, 'r2', 'zone-a'), 2, 'the same zone name in another region is elsewhere');
  assert.equal(localityDistance({ region: '', zone: '' }, 'r2', 'zone-c'), 0);
});

test('each proxy gets the priorities of its own locality, and they round-trip through the decoder', () => {
  assert.deepEqual(decodedPriorities({ region: 'r1', zone: 'zone-a' }), [
    ['127.0.36.101', 'r1', 'zone-a', 0],
    ['127.0.36.104', 'r1', 'zone-a', 0],
    ['127.0.36.102', 'r1', 'zone-b', 1],
    ['127.0.36.103', 'r2', 'zone-c', 2],
  ]);
  assert.deepEqual(decodedPriorities({ region: 'r2', zone: 'zone-c' }), [
    ['127.0.36.103', 'r2', 'zone-c', 0],
    ['127.0.36.101', 'r1', 'zone-a', 1],
    ['127.0.36.104', 'r1', 'zone-a', 1],
    ['127.0.36.102', 'r1', 'zone-b', 1],
  ], 'no endpoint in its region but its zone: priorities stay contiguous (0, 1)');
  assert.deepEqual(decodedPriorities(undefined).map((e) => e[3]), [0, 0, 0, 0]);
});

test('the wire form: priority only when above 0, locality weights unchanged', () => {
  const cla = compileEndpoints(svc, instances, { region: 'r1', zone: 'zone-b' }) as { endpoints: Record<string, unknown>[] };
  assert.deepEqual(cla.endpoints.map((l) => [l.locality, l.priority, (l.load_balancing_weight as { value: number }).value]), [
    [{ region: 'r1', zone: 'zone-b' }, undefined, 1],
    [{ region: 'r1', zone: 'zone-a' }, 1, 2],
    [{ region: 'r2', zone: 'zone-c' }, 2, 1],
  ]);
});

test('the decoder refuses a priority out of range', () => {
  const bad = decodeClusterLoadAssignment({ cluster_name: 'api.default', endpoints: [{ priority: 500, lb_endpoints: [] }] });
  assert.equal(bad.ok, false);
  if (!bad.ok) assert.match(bad.error, /endpoints\[0\]\.priority/);
});
