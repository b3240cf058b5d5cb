// The sidecar of the HTTP/2 abuse tests in a process of its own (hardening-support.ts's
// startSidecar), so that its resident memory is its own and an attacker in the test process
// cannot starve it of the event loop. Driven over IPC: it answers `ports`, `metrics` (the
// Prometheus text), `paths` (what the app saw) and `rss` and `heap` (bytes resident, bytes of V8 heap in use; after a full GC).
import { startSidecar } from './hardening-support.js';

type Ask = { id: number; what: 'ports' | 'metrics' | 'paths' | 'rss' | 'heap' };

const address = process.argv[2];
if (!address || !process.send) throw new Error('usage: fork h2-abuse-sidecar.js ADDRESS (with an IPC channel)');
const sc = await startSidecar(address);

process.on('message', async (m: Ask) => {
  let value: unknown;
  if (m.what === 'ports') value = { outbound: sc.outboundPort, inbound: sc.inboundPort };
  else if (m.what === 'metrics') value = await sc.runtime.metrics.text();
  else if (m.what === 'paths') value = sc.app.paths();
  else {
    (globalThis as { gc?: () => void }).gc?.();
    value = m.what === 'rss' ? process.memoryUsage().rss : process.memoryUsage().heapUsed;
  }
  process.send!({ id: m.id, value });
});
process.on('disconnect', () => {
  void sc.close().finally(() => process.exit(0));
});
process.send({ id: 0, value: 'ready' });
