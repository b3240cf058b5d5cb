// The xDS Node a sidecar introduces itself with: what it encodes is what the control plane decodes,
// and a field it cannot read is refused by name.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeNode, encodeNode, type NodeInfo } from '../../src/xds/node.js';

const node: NodeInfo = {
  id: 'api-127.0.1.5', service: 'api', namespace: 'shop', address: '127.0.1.5', inboundPort: 15006, outboundPort: 15001, adminPort: 15000,
  app: { address: '127.0.1.5', port: 8080 }, labels: { version: 'v2', zone: 'z1' }, zone: 'z1', region: '', version: '0.1.0',
  startedAt: '2026-03-04T05:06:07.890Z',
};

/** The decoded Node without its unset (undefined) fields. */
const decoded = (n: NodeInfo) => JSON.parse(JSON.stringify(decodeNode(encodeNode(n)))) as unknown;

test("a Node round-trips, the sidecar's start time included", () => {
  assert.deepEqual(decoded(node), node);
  const { startedAt: _, ...older } = node;
  assert.deepEqual(decoded(older), older, 'a sidecar that does not say when it started');
});

test('a start time that is not an ISO 8601 time is refused, naming the field', () => {
  for (const bad of ['yesterday', '2026-13-45T00:00:00Z', 1_700_000_000]) {
    const encoded = encodeNode(node) as { metadata: { fields: Record<string, unknown> } };
    encoded.metadata.fields.startedAt = typeof bad === 'number' ? { number_value: bad } : { string_value: bad };
    const r = decodeNode(encoded);
    assert.equal(typeof r, 'string', `${bad} refused`);
    assert.match(r as string, /^node\.metadata\.startedAt must be an ISO 8601 time/);
  }
});
