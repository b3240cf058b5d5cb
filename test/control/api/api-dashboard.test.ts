import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Dashboard } from '../../../src/control/api/api-dashboard.js';

const host = '127.0.62.250';

interface SseEvent { event: string; data: string }

/** Reads server-sent events from `url` until `enough` says so (or 10 s pass); returns them and closes the stream. */
function readEvents(url: string, enough: (events: SseEvent[]) => boolean, onOpen?: () => void): Promise<SseEvent[]> {
  return new Promise((resolve, reject) => {
    const events: SseEvent[] = [];
    const req = http.get(url, (res) => {
      assert.equal(res.statusCode, 200);
      assert.match(String(res.headers['content-type']), /^text\/event-stream/);
      onOpen?.();
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        let end: number;
        while ((end = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event && data !== undefined) events.push({ event, data });
        }
        if (enough(events)) {
          clearTimeout(timer);
          req.destroy();
          resolve(events);
        }
      });
    });
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`timed out with events ${JSON.stringify(events)}`));
    }, 10_000);
    req.on('error', (err) => { if (!req.destroyed) reject(err); });
  });
}

describe('dashboard server: static files and the event stream', () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'trellis-dashboard-static-'));
  const staticDir = path.join(root, 'static');
  const state: Record<string, unknown> = { '/api/v1/proxies': [{ id: 'a' }], '/api/v1/services': [], '/api/v1/routes': [], '/api/v1/endpoints': [], '/api/v1/policies': [] };
  const changeListeners = new Set<() => void>();
  // a long tick: only a change notification can explain an event arriving within the test's bounds
  const dashboard = new Dashboard({
    staticDir,
    intervalMs: 60_000,
    read: async (p) => (p in state ? [200, state[p]] : [503, { error: 'telemetry is not running' }]),
    changes: [(cb) => { changeListeners.add(cb); return () => changeListeners.delete(cb); }],
  });
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (dashboard.serveStatic(req, res) || dashboard.serveEvents(req, res, url)) return;
    res.writeHead(404).end('api');
  });
  let base = '';

  before(async () => {
    mkdirSync(staticDir);
    writeFileSync(path.join(root, 'secret.txt'), 'secret');
    writeFileSync(path.join(staticDir, 'index.html'), '<!doctype html><title>t</title>');
    writeFileSync(path.join(staticDir, 'main.js'), 'console.log(1)');
    await new Promise<void>((resolve) => server.listen(0, host, resolve));
    base = `http://${host}:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    dashboard.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(root, { recursive: true, force: true });
  });

  it('serves index.html at / and bundle files by name, with a content security policy', async () => {
    const index = await fetch(`${base}/`);
    assert.equal(index.status, 200);
    assert.match(index.headers.get('content-type')!, /^text\/html/);
    assert.match(index.headers.get('content-security-policy')!, /default-src 'self'/);
    assert.equal(await index.text(), '<!doctype html><title>t</title>');
    const js = await fetch(`${base}/main.js`);
    assert.match(js.headers.get('content-type')!, /^text\/javascript/);
    assert.equal((await fetch(`${base}/missing.js`)).status, 404);
  });

  it('leaves API paths to the API and never serves a file outside its folder', async () => {
    for (const p of ['/api/v1/proxies', '/a/b.js']) assert.equal(await (await fetch(`${base}${p}`)).text(), 'api', p);
    // raw paths, as a hostile client sends them (fetch would normalise them first)
    for (const p of ['/../secret.txt', '/..%2fsecret.txt', '/%2e%2e/secret.txt', '/static/../../secret.txt']) {
      const body = await new Promise<string>((resolve, reject) => {
        http.get({ host, port: Number(new URL(base).port), path: p }, (res) => {
          let text = '';
          res.setEncoding('utf8').on('data', (c: string) => (text += c)).on('end', () => resolve(text));
        }).on('error', reject);
      });
      assert.notEqual(body, 'secret', `${p} served a file outside the static folder`);
    }
  });

  it('sends every available topic on connect, then only the topics that changed, soon after a change', async () => {
    let opened = false;
    const events = await readEvents(`${base}/api/v1/events`, (ev) => {
      if (ev.length === 5 && opened) {
        // a change to one topic, announced: only it is pushed, long before the 60 s tick
        state['/api/v1/proxies'] = [{ id: 'a' }, { id: 'b' }];
        for (const cb of changeListeners) cb();
      }
      return ev.length >= 6;
    }, () => (opened = true));
    assert.deepEqual(events.slice(0, 5).map((e) => e.event).sort(), ['endpoints', 'policies', 'proxies', 'routes', 'services']);
    assert.ok(!events.some((e) => e.event === 'stats'), 'a topic the API cannot answer is left out');
    assert.deepEqual(events[5], { event: 'proxies', data: JSON.stringify([{ id: 'a' }, { id: 'b' }]) });
  });

  it('stops polling when the last stream closes', async () => {
    await readEvents(`${base}/api/v1/events`, (ev) => ev.length >= 5);
    const deadline = Date.now() + 5000;
    while (dashboard.streamCount > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(dashboard.streamCount, 0);
  });

  it('serves a clear 503 when the dashboard was not built', async () => {
    const bare = new Dashboard({ staticDir: path.join(staticDir, 'nope'), read: async () => [200, []] });
    const s = http.createServer((req, res) => { if (!bare.serveStatic(req, res)) res.writeHead(404).end(); });
    await new Promise<void>((resolve) => s.listen(0, host, resolve));
    try {
      const res = await fetch(`http://${host}:${(s.address() as AddressInfo).port}/`);
      assert.equal(res.status, 503);
      assert.match(await res.text(), /npm run build/);
    } finally {
      bare.close();
      await new Promise<void>((resolve) => s.close(() => resolve()));
    }
  });
});
