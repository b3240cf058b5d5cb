// One demo application instance: answers on --listen and, for each request, calls the next
// service through its own sidecar (http://<pod address>:15001 with Host: <service>), as any app
// in the mesh would. Run as: node demo-app.js --name api --version v1 --listen 127.0.1.11:8000 --call inventory --sidecar 127.0.1.11:15001
import http from 'node:http';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    name: { type: 'string' },
    version: { type: 'string', default: 'v1' },
    listen: { type: 'string' },
    call: { type: 'string' },
    sidecar: { type: 'string' },
    'fail-rate': { type: 'string', default: '0' },
  },
});
if (!values.name || !values.listen) {
  process.stderr.write('demo-app: --name and --listen are required\n');
  process.exit(2);
}
const name = values.name;
const version = values.version!;
const failRate = Number(values['fail-rate']);
const [host, portText] = [values.listen.slice(0, values.listen.lastIndexOf(':')), values.listen.slice(values.listen.lastIndexOf(':') + 1)];
const sidecar = values.sidecar ? { host: values.sidecar.slice(0, values.sidecar.lastIndexOf(':')), port: Number(values.sidecar.slice(values.sidecar.lastIndexOf(':') + 1)) } : undefined;
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

function callNext(path: string): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve) => {
    const req = http.request({ host: sidecar!.host, port: sidecar!.port, path, agent, headers: { host: values.call! }, timeout: 5000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let body: unknown = text;
        try { body = JSON.parse(text); } catch { /* not JSON: an error from the mesh, shown as text */ }
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) => resolve({ status: 502, body: `call to ${values.call} failed: ${err.message}` }));
    req.end();
  });
}

const server = http.createServer(async (req, res) => {
  if (failRate > 0 && Math.random() < failRate) {
    res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ service: name, version, error: 'injected failure' }));
    return;
  }
  const reply: Record<string, unknown> = { service: name, version, pod: host, path: req.url };
  let status = 200;
  if (values.call && sidecar) {
    const next = await callNext(req.url ?? '/');
    reply[values.call] = next.body;
    if (next.status >= 500) status = 502;
  }
  res.writeHead(status, { 'content-type': 'application/json', 'x-served-by': `${name}-${version}@${host}` });
  res.end(JSON.stringify(reply) + '\n');
});
server.keepAliveTimeout = 65_000;
server.listen(Number(portText), host, () => process.stderr.write(`demo-app ${name} ${version} on ${values.listen}\n`));
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
