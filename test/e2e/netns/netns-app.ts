// An app that knows nothing of the mesh, run inside a namespace host: answers GET / with its name,
// and with --call URL first calls that URL (by service name, `http://api:8080/`) and nests the answer.
import http from 'node:http';
import net from 'node:net';

const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const name = flag('--name') ?? 'app';
const port = Number(flag('--port') ?? 8080);
const call = flag('--call');
// --tcp-port P: a TCP service on 127.0.0.1 (beside the sidecar, which reaches it there) that
// answers every line with "<name> <line>"
const tcpPort = flag('--tcp-port');
if (tcpPort) {
  net.createServer((s) => {
    s.on('error', () => undefined);
    s.on('data', (c: Buffer) => s.write(`${name} ${c.toString()}`));
  }).listen(Number(tcpPort), '127.0.0.1');
}

const server = http.createServer((req, res) => {
  const reply = (status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  if (!call) return reply(200, { name });
  fetch(call, { signal: AbortSignal.timeout(8000) }).then(
    async (r) => reply(r.status === 200 ? 200 : 502, { name, upstreamStatus: r.status, upstream: await r.text() }),
    (err: Error) => reply(502, { name, error: (err.cause as Error | undefined)?.message ?? err.message }),
  );
});
server.listen(port, '0.0.0.0', () => process.stderr.write(`${name} listening on :${port}\n`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
