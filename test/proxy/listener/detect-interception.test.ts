// Interception of a connection to a service's virtual IP at a port without a protocol: the
// interception listener hands it to that port's detecting listener, which binds nothing
// (bind_to_port false) and sends HTTP to the outbound HTTP listener (routed by Host) and anything
// else to the TCP proxy, falling back to TCP when the client stays silent for the detection
// timeout. A real ProxyRuntime, real sockets, a fake SO_ORIGINAL_DST. 127.0.87.0/24.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net, { type Socket } from 'node:net';
import { MetricRegistry } from '../../../src/proxy/telemetry/metric-registry.js';
import { ProxyRuntime } from '../../../src/proxy/proxy-runtime.js';
import { InterceptListener } from '../../../src/proxy/listener/intercept-listener.js';
import type { ListenerConfig, ProxyConfig } from '../../../src/proxy/config/proxy-config.js';
import type { OriginalDestination } from '../../../src/proxy/listener/original-destination.js';
import { endpoint, freePort, outboundConfig, withTimeout } from '../proxy-test-support.js';

const address = '127.0.87.200';
const vip = '10.200.240.11';

/** The service's app: answers an HTTP request as HTTP, says a banner first on a raw connection, echoes the rest. */
async function app(): Promise<net.Server> {
  const server = net.createServer((s) => {
    s.on('error', () => undefined);
    let first = true;
    const banner = setTimeout(() => s.write('220 ready\r\n'), 150);
    s.on('data', (d: Buffer) => {
      if (first && d.toString('latin1').startsWith('GET ')) {
        clearTimeout(banner);
        s.end('HTTP/1.1 200 OK\r\ncontent-length: 4\r\nconnection: close\r\n\r\nhttp');
        return;
      }
      first = false;
      s.write(`tcp ${d.toString()}`);
    });
    s.on('close', () => clearTimeout(banner));
  });
  await new Promise<void>((resolve) => server.listen(0, address, resolve));
  return server;
}

test('an intercepted connection to a virtual IP at an auto port is detected: HTTP routed by Host, TLS and silence to TCP', async () => {
  const upstream = await app();
  const appPort = (upstream.address() as net.AddressInfo).port;
  const outboundPort = await freePort(address);
  const config: ProxyConfig = outboundConfig({ address, port: outboundPort, services: [{ name: 'cache', endpoints: [endpoint(address, appPort)] }] });
  // as the compiler sends it: the virtual host is named after the cluster, and the virtual IP and ip:port are its domains
  const vh = config.routes.get('outbound')!.virtualHosts[0];
  vh.name = 'cache.default';
  vh.domains.push(vip, `${vip}:6380`);
  const detecting: ListenerConfig = {
    name: 'auto|cache.default|6380', address, port: 6380, direction: 'outbound', routeConfigName: 'outbound', bindToPort: false,
    tcpProxy: { cluster: 'cache.default', idleTimeoutMs: 60_000, maxConnectAttempts: 1 },
    detect: { timeoutMs: 300, http1: true, h2c: true },
  };
  config.listeners.push(detecting);
  const rt = new ProxyRuntime({ listenerDrainMs: 100 });
  rt.applyConfig(config);
  await withTimeout(rt.listening(), 3000, 'listeners bound');
  assert.equal(rt.ready, true, 'a listener that binds nothing does not hold readiness back');
  assert.equal(rt.activeListeners().get(detecting.name)?.address, null, 'nothing bound at 6380');
  const intercept = new InterceptListener({
    address, port: 0, registry: new MetricRegistry(),
    outbound: () => rt.httpListener('outbound'),
    tcp: (cluster, port) => rt.tcpListenerFor(cluster, port),
    originalDestination: (): OriginalDestination => ({ address: vip, port: 6380, family: 4 }),
  });
  const { port } = await intercept.listen();
  const talk = (send: string | null, until: (got: string) => boolean): Promise<{ got: string; ms: number }> => withTimeout(new Promise((resolve, reject) => {
    const start = Date.now();
    const s: Socket = net.connect(port, address, () => {
      if (send !== null) s.write(send);
    });
    let got = '';
    s.on('data', (d: Buffer) => {
      got += d.toString();
      if (until(got)) {
        s.destroy();
        resolve({ got, ms: Date.now() - start });
      }
    });
    s.on('error', reject);
  }), 5000, `an answer to ${JSON.stringify(send)}`);
  try {
    const http = await talk('GET / HTTP/1.1\r\nHost: cache:6380\r\n\r\n', (g) => g.endsWith('http'));
    assert.match(http.got, /^HTTP\/1\.1 200/, 'routed by Host through the outbound HTTP listener');
    const binary = await talk('\x00\x01ping', (g) => g.includes('tcp'));
    assert.ok(binary.got.includes('tcp \x00\x01ping'), `unrecognized bytes go to the TCP proxy at once (${JSON.stringify(binary.got)})`);
    const silent = await talk(null, (g) => g.includes('220 ready'));
    assert.ok(silent.ms >= 250, `a silent client waits out the 300ms detection timeout (${silent.ms} ms)`);
    const text = rt.metrics.registry.metrics();
    for (const [protocol, outcome] of [['http1', 'matched'], ['tcp', 'unrecognized'], ['tcp', 'timeout']]) {
      assert.match(text, new RegExp(`trellis_protocol_detections_total\\{direction="outbound",cluster="cache.default",port="6380",protocol="${protocol}",outcome="${outcome}"\\} 1`));
    }
  } finally {
    await intercept.close();
    await rt.drain(100);
    await new Promise<void>((resolve) => upstream.close(() => resolve()));
  }
});
