// Run inside a namespace host: GETs a URL N times (or, for tcp://host:port, sends a line over a
// new TCP connection each time), one after another, and prints one JSON line
// with the outcomes (statuses, bodies by who answered, errors). Each request is bounded.
const [url, countText, timeoutText] = process.argv.slice(2);
const count = Number(countText ?? 10);
const timeoutMs = Number(timeoutText ?? 5000);
import net from 'node:net';

/** tcp://host:port: one connection per try, sends a line, returns the first answer. */
function tcpOnce(target: URL): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const s = net.connect(Number(target.port), target.hostname);
    const timer = setTimeout(() => s.destroy(new Error('timeout')), timeoutMs);
    s.on('connect', () => s.write('hello\n'));
    s.once('data', (c: Buffer) => {
      clearTimeout(timer);
      s.destroy();
      resolve({ status: 0, body: c.toString() });
    });
    s.on('error', (err) => { clearTimeout(timer); reject(err); });
    s.on('close', () => { clearTimeout(timer); reject(new Error('closed without an answer')); });
  });
}

const results: Array<{ status: number; body: string } | { error: string }> = [];
for (let i = 0; i < count; i++) {
  if (url.startsWith('tcp://')) {
    try {
      results.push(await tcpOnce(new URL(url)));
    } catch (err) {
      results.push({ error: (err as Error).message });
    }
    continue;
  }
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    results.push({ status: res.status, body: await res.text() });
  } catch (err) {
    results.push({ error: ((err as Error).cause as Error | undefined)?.message ?? (err as Error).message });
  }
}
process.stdout.write(`${JSON.stringify(results)}\n`);
