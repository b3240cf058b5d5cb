import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import net, { type Socket } from 'node:net';
import http from 'node:http';
import { once } from 'node:events';
import { MetricRegistry } from '../../../src/proxy/telemetry/metric-registry.js';
import { InterceptListener, meshDestinations, type InterceptTarget } from '../../../src/proxy/listener/intercept-listener.js';
import type { RouteTable } from '../../../src/proxy/config/proxy-config.js';
import type { OriginalDestination } from '../../../src/proxy/listener/original-destination.js';

const host = '127.0.84.2';

const table: RouteTable = {
  name: 'outbound',
  virtualHosts: [
    { name: 'api.default', domains: ['api', 'api.default', '10.200.240.9', '10.200.240.9:8080'], routes: [] },
    { name: 'db.default', domains: ['db', '10.200.240.10'], routes: [] },
  ],
};

describe('meshDestinations', () => {
  it('is the ip:port domains of the route table and their addresses', () => {
    assert.deepEqual([...meshDestinations(table).ports], ['10.200.240.9:8080']);
    assert.deepEqual([...meshDestinations(table).addresses], [['10.200.240.9', 'api.default'], ['10.200.240.10', 'db.default']]);
  });
});

describe('InterceptListener', () => {
  const cleanup: Array<() => unknown> = [];
  after(async () => {
    for (const c of cleanup.reverse()) await c();
  });

  it('hands mesh and direct connections to the outbound listener and passes the rest through to their original destination', async () => {
    // the "outbound listener": an HTTP server fed the sockets interception hands it
    const meshServer = http.createServer((req, res) => res.end(`mesh ${req.headers.host}`));
    const target: InterceptTarget = { routeTable: table, acceptConnection: (s: Socket) => meshServer.emit('connection', s) };
    // the "original destination" of a passthrough: a real server elsewhere on loopback
    const elsewhere = net.createServer((s) => s.end('elsewhere\n'));
    elsewhere.listen(0, host);
    await once(elsewhere, 'listening');
    const elsewherePort = (elsewhere.address() as net.AddressInfo).port;
    // one that answers only once the client has half-closed (the FIN must pass through)
    const afterEnd = net.createServer({ allowHalfOpen: true }, (s) => {
      let got = '';
      s.on('data', (c: Buffer) => { got += c.toString(); });
      s.on('end', () => s.end(`got ${got}`));
    });
    afterEnd.listen(0, host);
    await once(afterEnd, 'listening');
    const afterEndPort = (afterEnd.address() as net.AddressInfo).port;
    // the destination the next client "was going to" (dials run one after another)
    let next: OriginalDestination | null | Error = null;
    const registry = new MetricRegistry();
    // the "TCP listener" of db's tcp port 5432: echoes what it gets, prefixed
    const tcpServer = net.createServer({ allowHalfOpen: true }, (s) => {
      s.resume();
      s.on('data', (c: Buffer) => s.write(`tcp ${c.toString()}`));
      s.on('end', () => s.end());
    });
    const listener = new InterceptListener({
      address: host, port: 0, outbound: () => target, registry,
      tcp: (cluster, p) => (cluster === 'db.default' && p === 5432 ? { acceptConnection: (s: Socket) => tcpServer.emit('connection', s) } : undefined),
      originalDestination: () => {
        if (next instanceof Error) throw next;
        return next;
      },
    });
    const { port } = await listener.listen();
    cleanup.push(() => listener.close(), () => meshServer.close(), () => elsewhere.close(), () => afterEnd.close());

    const dial = async (dst: OriginalDestination | null | Error, payload: string): Promise<string> => {
      next = dst;
      const s = net.connect({ port, host });
      s.on('error', () => undefined); // a refused passthrough resets the client, as a refused connect would
      s.end(payload);
      let data = '';
      s.on('data', (c: Buffer) => { data += c.toString(); });
      await new Promise((resolve) => s.on('close', resolve));
      return data;
    };
    const get = 'GET / HTTP/1.1\r\nHost: api:8080\r\nConnection: close\r\n\r\n';
    assert.match(await dial({ address: '10.200.240.9', port: 8080, family: 4 }, get), /mesh api:8080/);
    assert.match(await dial(null, get), /mesh api:8080/);
    assert.equal(await dial({ address: host, port: elsewherePort, family: 4 }, 'hi'), 'elsewhere\n');
    assert.equal(await dial({ address: host, port: afterEndPort, family: 4 }, 'ping'), 'got ping');
    // an unreachable passthrough destination resets the client, as a refused connect would
    assert.equal(await dial({ address: host, port: 1, family: 4 }, 'x'), '');
    // a service's tcp port goes to that port's TCP listener
    assert.equal(await dial({ address: '10.200.240.10', port: 5432, family: 4 }, 'select 1'), 'tcp select 1');
    // a service address on a port it does not serve: reset at once, never passed through
    assert.equal(await dial({ address: '10.200.240.9', port: 9999, family: 4 }, 'x'), '');
    assert.equal(await dial(Object.assign(new Error('gone'), { code: 'EBADF' }), 'x'), '');

    const text = await registry.metrics();
    assert.match(text, /trellis_intercepted_connections_total\{path="mesh"\} 2/);
    assert.match(text, /trellis_intercepted_connections_total\{path="direct"\} 1/);
    assert.match(text, /trellis_intercepted_connections_total\{path="passthrough"\} 3/);
    assert.match(text, /trellis_intercepted_connections_total\{path="error"\} 1/);
    assert.match(text, /trellis_intercepted_connections_total\{path="refused"\} 1/);
    assert.match(text, /trellis_passthrough_connect_failures_total 1/);
  });

  it('resets a connection that loops back to it (the sidecar not running as the excluded uid) instead of passing it through again', async () => {
    const registry = new MetricRegistry();
    let self: OriginalDestination | null = null;
    const listener = new InterceptListener({ address: host, port: 0, outbound: () => undefined, registry, originalDestination: () => self });
    const { port } = await listener.listen();
    cleanup.push(() => listener.close());
    // every connection "was going to" the listener itself: its passthrough lands on it again
    self = { address: host, port, family: 4 };
    const s = net.connect({ port, host });
    s.on('error', () => undefined);
    s.end('x');
    await new Promise((resolve) => s.on('close', resolve));
    const text = await registry.metrics();
    assert.match(text, /trellis_intercepted_connections_total\{path="passthrough"\} 1\n/, 'passed through once, not again and again');
    assert.match(text, /trellis_intercepted_connections_total\{path="error"\} 1\n/);
  });
});
