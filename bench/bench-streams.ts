// Streams through the mesh vs direct, same run: raw TCP throughput (one connection pushing
// bytes), TCP connections per second (connect, one byte echoed, close) and WebSocket round
// trips per second (1 KiB messages, one at a time), each through client sidecar ⇒ mTLS ⇒ server
// sidecar and straight to the app, interleaved, median of 3 runs. Own control plane on
// 127.0.75.x. Run: `npm run build && node dist/bench/bench-streams.js`.
import net from 'node:net';
import http from 'node:http';
import WebSocket, { WebSocketServer } from 'ws';
import { Mesh, waitFor } from '../test/e2e/mesh-harness.js';

const tcpPort = 7300;
const uploadBytes = 64 * 1024 * 1024;
const connections = 300;
const wsRoundTrips = 3000;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Sends `bytes`, half-closes, waits for the server's count: MB/s. */
function upload(host: string, port: number, bytes: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const chunk = Buffer.alloc(256 * 1024, 7);
    const start = process.hrtime.bigint();
    const c = net.connect({ host, port, allowHalfOpen: true }, () => {
      let sent = 0;
      const pump = () => {
        while (sent < bytes) {
          sent += chunk.length;
          if (!c.write(chunk)) {
            c.once('drain', pump);
            return;
          }
        }
        c.end();
      };
      pump();
    });
    let answer = '';
    c.on('data', (d: Buffer) => (answer += d));
    c.on('end', () => {
      const s = Number(process.hrtime.bigint() - start) / 1e9;
      if (Number(answer) !== bytes) reject(new Error(`server counted ${answer} of ${bytes} bytes`));
      else resolve(bytes / 1e6 / s);
      c.destroy();
    });
    c.on('error', reject);
  });
}

/** Sequential short connections: connect, one byte echoed, close. Connections per second. */
async function connectRate(host: string, port: number, n: number): Promise<number> {
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    await new Promise<void>((resolve, reject) => {
      const c = net.connect({ host, port }, () => c.write('x'));
      c.once('data', () => {
        c.destroy();
        resolve();
      });
      c.on('error', reject);
    });
  }
  return n / (Number(process.hrtime.bigint() - start) / 1e9);
}

async function wsRate(url: string, host: string, n: number): Promise<number> {
  const ws = new WebSocket(url, { headers: { host } });
  await new Promise<void>((resolve, reject) => ws.once('open', () => resolve()).once('error', reject));
  const msg = Buffer.alloc(1024, 1);
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    await new Promise<void>((resolve) => {
      ws.once('message', () => resolve());
      ws.send(msg);
    });
  }
  const rate = n / (Number(process.hrtime.bigint() - start) / 1e9);
  ws.close();
  return rate;
}

async function main(): Promise<void> {
  const mesh = new Mesh('127.0.75', 100);
  const servers: net.Server[] = [];
  try {
    await mesh.startControl();
    await mesh.apply(`apiVersion: trellis.dev/v1alpha1\nkind: Service\nmetadata: { name: sink }\nspec: { ports: [{ port: 8000, protocol: http }, { port: ${tcpPort}, protocol: tcp }] }\n---\napiVersion: trellis.dev/v1alpha1\nkind: Service\nmetadata: { name: client }\n`);
    const token = async (s: string) => (JSON.parse((await mesh.cli(['token', 'create', '--service', s, '-o', 'json'])).stdout) as { token: string }).token;
    const sink = await mesh.addPod('sink-1', 'sink', {}, { token: await token('sink') });
    const client = await mesh.addPod('client-1', 'client', {}, { token: await token('client') });
    // the sink: counts an upload and answers the count; echoes a connection's first byte
    const s = net.createServer({ allowHalfOpen: true }, (sock) => {
      let n = 0;
      sock.on('data', (d: Buffer) => {
        if (n === 0 && d.length === 1) sock.write(d);
        n += d.length;
      });
      sock.on('end', () => sock.end(String(n)));
      sock.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => s.listen(tcpPort, sink.address, resolve));
    servers.push(s);
    const wss = new WebSocketServer({ noServer: true });
    wss.on('connection', (ws) => ws.on('message', (d: Buffer) => ws.send(d)));
    sink.app.on('upgrade', (req: http.IncomingMessage, sock: net.Socket, head: Buffer) => wss.handleUpgrade(req, sock, head, (ws) => wss.emit('connection', ws, req)));
    const dump = async (p: typeof sink) => (await (await fetch(`http://${p.address}:15000/config_dump`)).json()) as Record<string, any>;
    await waitFor(async () => (await dump(sink)).identity?.serial && (await dump(client)).identity?.serial, 30_000, 'certificates');
    await mesh.waitInSync(20_000, 2);
    await waitFor(async () => (await dump(client)).clusters.find((c: any) => c.name === 'sink.default')?.endpoints?.[0]?.tls === true, 20_000, 'mTLS to sink');
    await upload(client.address, tcpPort, 1024 * 1024); // warm-up
    await wsRate(`ws://${client.address}:15001/`, 'sink', 100);

    const rows: Record<string, { mesh: number[]; direct: number[] }> = {
      'TCP upload, MB/s (one connection, 64 MiB)': { mesh: [], direct: [] },
      'TCP connections/s (connect, 1-byte echo, close; sequential)': { mesh: [], direct: [] },
      'WebSocket round trips/s (1 KiB, one at a time)': { mesh: [], direct: [] },
    };
    const [up, conn, ws] = Object.values(rows);
    for (let run = 0; run < 3; run++) {
      up.mesh.push(await upload(client.address, tcpPort, uploadBytes));
      up.direct.push(await upload(sink.address, tcpPort, uploadBytes));
      conn.mesh.push(await connectRate(client.address, tcpPort, connections));
      conn.direct.push(await connectRate(sink.address, tcpPort, connections));
      ws.mesh.push(await wsRate(`ws://${client.address}:15001/`, 'sink', wsRoundTrips));
      ws.direct.push(await wsRate(`ws://${sink.address}:8000/`, 'sink', wsRoundTrips));
    }
    console.log('| stream | through the mesh (mTLS) | direct | mesh ÷ direct |');
    console.log('|---|---|---|---|');
    for (const [name, r] of Object.entries(rows)) {
      const m = median(r.mesh);
      const d = median(r.direct);
      console.log(`| ${name} | ${m.toFixed(0)} | ${d.toFixed(0)} | ${(m / d).toFixed(2)} |`);
    }
  } finally {
    for (const s of servers) s.close();
    await mesh.close();
  }
}

main().catch((err: Error) => {
  console.error(err.message);
  process.exit(1);
});
