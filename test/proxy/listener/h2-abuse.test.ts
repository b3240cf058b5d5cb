// HTTP/2 abuse against a real sidecar in its own process (h2-abuse-sidecar.ts: both listeners, the
// upstream client, a recording app), spoken frame by frame (h2-frames.ts): rapid reset (CVE-2023-44487), PING and
// SETTINGS floods, a CONTINUATION flood (CVE-2024-27316 class), more streams than the advertised
// 100, and a header list over 60 KiB. Each attack must end within a bound of frames and time, with
// the app seeing a bounded number of requests, the refusal counted by reason in
// trellis_refused_total, memory not growing past a bound, and the sidecar serving new connections
// afterwards. Addresses: 127.0.86.0/24.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { defaultAbuseLimits, maxConcurrentStreams, maxHeaderListBytes } from '../../../src/proxy/listener/h2-hardening.js';
import {
  continuation, ErrorCode, Flag, headerBlock, headers, ping, RawH2Connection, requestBlock, rstStream, settings, statusOf,
} from './h2-frames.js';
import { withTimeout } from '../proxy-test-support.js';

const address = '127.0.86.1';

/** Connects, and waits for the sidecar's SETTINGS (and, unless `ack` is false, for our ACK to leave). */
export async function connect(port: number, ack = true): Promise<RawH2Connection> {
  const c = new RawH2Connection(address, port, ack);
  await c.ready();
  assert.ok(await c.waitFor(() => c.frames.some((f) => f.type === 0x4 && (f.flags & Flag.ACK) === 0), 3000), 'the sidecar sent its SETTINGS');
  return c;
}

/** One GET over a fresh node:http2 connection: the sidecar still serves after an attack. */
function servesNewConnection(port: number): Promise<number> {
  return withTimeout(new Promise<number>((resolve, reject) => {
    const session = http2.connect(`http://${address}:${port}`);
    session.on('error', reject);
    const req = session.request({ ':path': '/after-attack', ':authority': 'app' });
    req.on('response', (h) => {
      req.resume();
      req.on('end', () => {
        session.close();
        resolve(Number(h[':status']));
      });
    });
    req.on('error', reject);
    req.end();
  }), 10_000, 'a request on a new connection after the attack');
}

/** The sidecar process: asked over IPC for its ports, metrics, what its app saw and its RSS. */
export class SidecarProcess {
  private readonly child: ChildProcess;
  private next = 1;
  private readonly waiting = new Map<number, (value: unknown) => void>();
  readonly ready: Promise<void>;

  constructor(address: string) {
    const script = fileURLToPath(new URL('./h2-abuse-sidecar.js', import.meta.url));
    this.child = fork(script, [address], { execArgv: ['--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.ready = withTimeout(new Promise<void>((resolve, reject) => {
      this.waiting.set(0, () => resolve());
      this.child.once('exit', (code) => reject(new Error(`the sidecar process exited (${code})`)));
    }), 20_000, 'the sidecar process to start');
    this.child.on('message', (m: { id: number; value: unknown }) => {
      this.waiting.get(m.id)?.(m.value);
      this.waiting.delete(m.id);
    });
  }

  ask<T>(what: 'ports' | 'metrics' | 'paths' | 'rss' | 'heap'): Promise<T> {
    const id = this.next++;
    return withTimeout(new Promise<T>((resolve) => {
      this.waiting.set(id, resolve as (v: unknown) => void);
      this.child.send({ id, what });
    }), 10_000, `the sidecar process to answer ${what}`);
  }

  async refused(direction: string, reason: string): Promise<number> {
    const text = await this.ask<string>('metrics');
    const m = new RegExp(`^trellis_refused_total\\{direction="${direction}",reason="${reason}"\\} (\\d+)$`, 'm').exec(text);
    return m ? Number(m[1]) : 0;
  }

  async rssMiB(): Promise<number> {
    return (await this.ask<number>('rss')) / 1024 / 1024;
  }

  async heapMiB(): Promise<number> {
    return (await this.ask<number>('heap')) / 1024 / 1024;
  }

  /** Disconnecting makes it close its sidecar and exit; killed if it does not within 10 s. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.disconnect();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
}

describe('HTTP/2 abuse against both sidecar listeners', () => {
  let sc: SidecarProcess;
  let ports: Record<'outbound' | 'inbound', number> = { outbound: 0, inbound: 0 };

  before(async () => {
    sc = new SidecarProcess(address);
    await sc.ready;
    ports = await sc.ask('ports');
  });

  after(async () => {
    await sc?.stop();
  });

  const appPaths = (): Promise<string[]> => sc.ask<string[]>('paths');
  const appSaw = async (prefix: string): Promise<number> => (await appPaths()).filter((p) => p.startsWith(prefix)).length;

  for (const direction of ['outbound', 'inbound'] as const) {
    it(`rapid reset (${direction}): thousands of HEADERS + RST_STREAM end in GOAWAY ENHANCE_YOUR_CALM, bounded`, { timeout: 60_000 }, async () => {
      const before = await sc.refused(direction, 'h2-rapid-reset');
      const attempts = 5000;
      const c = await connect(ports[direction]);
      const started = Date.now();
      let sent = 0;
      for (let i = 0; i < attempts && !c.ended; i++, sent++) {
        const id = 2 * i + 1;
        await c.send(Buffer.concat([headers(id, requestBlock('app', `/rr-${direction}-${i}`)), rstStream(id, ErrorCode.CANCEL)]));
      }
      assert.ok(await c.waitClosed(10_000), 'the sidecar closed the connection');
      const tookMs = Date.now() - started;
      // a reset (the client still flooding when the sidecar closed) may drop the GOAWAY before it is
      // read; the refusal count below says the guard tripped either way
      assert.ok(c.goaways.length > 0 || c.resetByPeer, 'GOAWAY, or a reset that may have dropped it');
      if (c.goaways.length > 0) {
        assert.equal(c.goaways[0].errorCode, ErrorCode.ENHANCE_YOUR_CALM, 'GOAWAY ENHANCE_YOUR_CALM');
        // the guard trips on the reset after maxClientResets; streams after that one were never processed
        assert.ok(c.goaways[0].lastStreamId <= 2 * (defaultAbuseLimits.maxClientResets + 1) + 1, `GOAWAY last stream ${c.goaways[0].lastStreamId}`);
      }
      // how many the client got written before the GOAWAY reached it is the kernel's buffering, not
      // the sidecar's bound: that is the GOAWAY's last stream id and what the app saw
      assert.ok(sent > defaultAbuseLimits.maxClientResets, `sent ${sent}`);
      assert.ok(tookMs < 15_000, `ended in ${tookMs} ms`);
      const saw = await appSaw(`/rr-${direction}-`);
      assert.ok(saw <= defaultAbuseLimits.maxClientResets + 1, `the app saw ${saw} of the reset requests`);
      assert.equal(await sc.refused(direction, 'h2-rapid-reset'), before + 1);
      assert.equal(await servesNewConnection(ports[direction]), 200);
    });
  }

  it('rapid reset over many connections: resident memory stays bounded', { timeout: 120_000 }, async () => {
    const before = await sc.refused('outbound', 'h2-rapid-reset');
    const connections = 30;
    // one warm-up round so the first connection's allocations (JIT, pools) are not counted
    const rounds = async (n: number, tag: string): Promise<void> => {
      for (let k = 0; k < n; k++) {
        const c = await connect(ports.outbound);
        for (let i = 0; i < 1000 && !c.ended; i++) {
          const id = 2 * i + 1;
          await c.send(Buffer.concat([headers(id, requestBlock('app', `/mem-${tag}-${k}-${i}`)), rstStream(id, ErrorCode.CANCEL)]));
        }
        assert.ok(await c.waitClosed(10_000), `connection ${tag}-${k} closed by the sidecar`);
      }
    };
    await rounds(2, 'warm');
    const rss0 = await sc.rssMiB();
    await rounds(connections, 'load');
    const grew = (await sc.rssMiB()) - rss0;
    // 30 × 1,000 streams; unbounded buffering of even 2 KiB per stream would be 60 MiB
    assert.ok(grew < 48, `RSS grew ${grew.toFixed(1)} MiB over ${connections} rapid-reset connections`);
    assert.equal(await sc.refused('outbound', 'h2-rapid-reset'), before + 2 + connections);
    assert.equal(await servesNewConnection(ports.outbound), 200);
  });

  for (const direction of ['outbound', 'inbound'] as const) {
    it(`PING flood (${direction}): GOAWAY ENHANCE_YOUR_CALM after the limit, counted`, { timeout: 30_000 }, async () => {
      const before = await sc.refused(direction, 'h2-ping-flood');
      const c = await connect(ports[direction]);
      let sent = 0;
      for (; sent < 10_000 && !c.ended; sent++) await c.send(ping(sent));
      assert.ok(sent < 10_000, `GOAWAY came before all PINGs were sent (sent ${sent})`);
      assert.ok(await c.waitClosed(10_000), 'the sidecar closed the connection');
      assert.ok(c.goaways.length > 0 || c.resetByPeer, 'GOAWAY, or a reset that may have dropped it');
      if (c.goaways.length > 0) assert.equal(c.goaways[0].errorCode, ErrorCode.ENHANCE_YOUR_CALM);
      const acks = c.frames.filter((f) => f.type === 0x6).length;
      assert.ok(acks <= defaultAbuseLimits.maxPings + 1, `the sidecar answered ${acks} PINGs`);
      assert.equal(await sc.refused(direction, 'h2-ping-flood'), before + 1);
      assert.equal(await servesNewConnection(ports[direction]), 200);
    });
  }

  it('SETTINGS flood: GOAWAY ENHANCE_YOUR_CALM after the limit, counted', { timeout: 30_000 }, async () => {
    const before = await sc.refused('outbound', 'h2-settings-flood');
    const c = await connect(ports.outbound);
    let sent = 0;
    for (; sent < 10_000 && !c.ended; sent++) await c.send(settings([[0x4, 65_535 + sent]]));
    assert.ok(sent < 10_000, `GOAWAY came before all SETTINGS were sent (sent ${sent})`);
    assert.ok(await c.waitClosed(10_000), 'the sidecar closed the connection');
    assert.ok(c.goaways.length > 0 || c.resetByPeer, 'GOAWAY, or a reset that may have dropped it');
    if (c.goaways.length > 0) assert.equal(c.goaways[0].errorCode, ErrorCode.ENHANCE_YOUR_CALM);
    const acks = c.frames.filter((f) => f.type === 0x4 && (f.flags & Flag.ACK) !== 0).length;
    // the first SETTINGS of the connection plus maxSettings more at most
    assert.ok(acks <= defaultAbuseLimits.maxSettings + 2, `the sidecar acknowledged ${acks} SETTINGS`);
    assert.equal(await sc.refused('outbound', 'h2-settings-flood'), before + 1);
    assert.equal(await servesNewConnection(ports.outbound), 200);
  });

  for (const size of ['small', 'empty'] as const) {
    it(`CONTINUATION flood (${size} frames, never END_HEADERS): the session ends, counted, nothing reaches the app`, { timeout: 30_000 }, async () => {
      const before = await sc.refused('outbound', 'h2-continuation-flood');
      const rss0 = await sc.rssMiB();
      const c = await connect(ports.outbound);
      await c.send(headers(1, requestBlock('app', `/cont-${size}`), Flag.END_STREAM));
      const started = Date.now();
      let frames = 0;
      for (; frames < 200_000 && !c.ended; frames++) {
        await c.send(continuation(1, size === 'empty' ? Buffer.alloc(0) : headerBlock([[`x-c${frames}`, 'v'.repeat(200)]])));
      }
      assert.ok(await c.waitClosed(10_000), 'the sidecar closed the connection');
      const tookMs = Date.now() - started;
      assert.ok(frames < 200_000, `the session ended after ${frames} CONTINUATION frames`);
      assert.ok(tookMs < 15_000, `ended in ${tookMs} ms`);
      // nghttp2 gives up after a handful of CONTINUATIONs (Node ends the session: GOAWAY INTERNAL_ERROR)
      // (a client still writing when the sidecar closes may get a reset that drops the GOAWAY)
      if (c.goaways.length > 0) {
        assert.equal(c.goaways[0].errorCode, ErrorCode.INTERNAL_ERROR);
        assert.equal(c.goaways[0].lastStreamId, 1);
      }
      assert.equal(await appSaw(`/cont-${size}`), 0);
      assert.equal(await sc.refused('outbound', 'h2-continuation-flood'), before + 1);
      const grew = (await sc.rssMiB()) - rss0;
      assert.ok(grew < 48, `RSS grew ${grew.toFixed(1)} MiB during the flood`);
      assert.equal(await servesNewConnection(ports.outbound), 200);
    });
  }

  it('more than 100 streams at once, before the client acknowledged SETTINGS: the excess refused (REFUSED_STREAM), the rest served', { timeout: 30_000 }, async () => {
    const c = await connect(ports.outbound, false);
    const n = maxConcurrentStreams + 20;
    const frames = [];
    for (let i = 0; i < n; i++) frames.push(headers(2 * i + 1, requestBlock('app', `/many-early-${i}`)));
    await c.send(Buffer.concat(frames));
    const outcomes = (): { served: number; refused: number } => {
      let served = 0;
      let refused = 0;
      for (const o of c.streams.values()) {
        if (o.resetCode === ErrorCode.REFUSED_STREAM) refused++;
        else if (o.ended && o.resetCode === -1 && statusOf(o) === 200) served++;
      }
      return { served, refused };
    };
    assert.ok(await c.waitFor(() => outcomes().served + outcomes().refused === n, 15_000), `every stream answered: ${JSON.stringify(outcomes())}`);
    assert.deepEqual(outcomes(), { served: maxConcurrentStreams, refused: 20 });
    assert.equal(c.goaways.length, 0, 'the connection goes on');
    assert.equal(await appSaw('/many-early-'), maxConcurrentStreams);
    c.destroy();
  });

  it('more than 100 streams at once after acknowledging the limit: the session ends (GOAWAY), counted h2-too-many-streams', { timeout: 30_000 }, async () => {
    const before = await sc.refused('outbound', 'h2-too-many-streams');
    const c = await connect(ports.outbound);
    // the ACK of the sidecar's SETTINGS must be processed before the streams arrive
    await new Promise((r) => setTimeout(r, 100));
    const frames = [];
    for (let i = 0; i < maxConcurrentStreams + 20; i++) frames.push(headers(2 * i + 1, requestBlock('app', `/many-late-${i}`)));
    await c.send(Buffer.concat(frames));
    assert.ok(await c.waitClosed(10_000), 'the sidecar closed the connection');
    assert.ok(c.goaways.length > 0, 'GOAWAY');
    assert.ok(c.goaways[0].lastStreamId <= 2 * (maxConcurrentStreams + 1) + 1, `GOAWAY last stream ${c.goaways[0].lastStreamId}`);
    assert.ok(await appSaw('/many-late-') <= maxConcurrentStreams);
    assert.equal(await sc.refused('outbound', 'h2-too-many-streams'), before + 1);
    assert.equal(await servesNewConnection(ports.outbound), 200);
  });

  /** HEADERS + CONTINUATIONs (16 KiB each) carrying one request whose header list is `bytes` long or more. */
  function bigRequest(id: number, path: string, bytes: number): Buffer {
    const fields: Array<[string, string]> = [];
    for (let i = 0; i * 2000 < bytes; i++) fields.push([`x-big-${i}`, 'b'.repeat(2000)]);
    const block = requestBlock('app', path, 'GET', fields);
    const out: Buffer[] = [];
    for (let off = 0; off < block.length; off += 16_384) {
      const chunk = block.subarray(off, off + 16_384);
      const last = off + 16_384 >= block.length;
      out.push(off === 0 ? headers(id, chunk, Flag.END_STREAM | (last ? Flag.END_HEADERS : 0)) : continuation(id, chunk, last ? Flag.END_HEADERS : 0));
    }
    return Buffer.concat(out);
  }

  it('a header list over 60 KiB from a client that never acknowledged SETTINGS: 431, counted, the connection goes on', { timeout: 30_000 }, async () => {
    const before = await sc.refused('outbound', 'h2-header-list-too-large');
    const c = await connect(ports.outbound, false);
    await c.send(Buffer.concat([bigRequest(1, '/big-early', maxHeaderListBytes + 4096), headers(3, requestBlock('app', '/big-early-next'))]));
    assert.ok(await c.waitFor(() => c.streams.get(1)?.ended === true && c.streams.get(3)?.ended === true, 10_000), 'both streams answered');
    assert.equal(statusOf(c.streams.get(1)), 431);
    assert.equal(await appSaw('/big-early'), 1, 'only the next request reached the app');
    assert.equal((await appPaths()).filter((p) => p === '/big-early-next').length, 1);
    assert.equal(await sc.refused('outbound', 'h2-header-list-too-large'), before + 1);
    assert.equal(c.closed, false);
    c.destroy();
  });

  it('a header list over 60 KiB after acknowledging the limit: the stream is reset (ENHANCE_YOUR_CALM) by nghttp2, the connection goes on', { timeout: 30_000 }, async () => {
    const c = await connect(ports.outbound);
    await new Promise((r) => setTimeout(r, 100));
    await c.send(Buffer.concat([bigRequest(1, '/big-late', maxHeaderListBytes + 4096), headers(3, requestBlock('app', '/big-late-next'))]));
    assert.ok(await c.waitFor(() => c.streams.get(1)?.resetCode !== undefined && c.streams.get(1)!.resetCode >= 0 && c.streams.get(3)?.ended === true, 10_000), 'stream 1 reset, stream 3 answered');
    assert.equal(c.streams.get(1)!.resetCode, ErrorCode.ENHANCE_YOUR_CALM);
    assert.equal(statusOf(c.streams.get(3)), 200);
    assert.deepEqual((await appPaths()).filter((p) => p.startsWith('/big-late')), ['/big-late-next']);
    assert.equal(c.closed, false);
    c.destroy();
  });
});
