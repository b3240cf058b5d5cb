// The dashboard in a real browser (Debian's Chromium driven by playwright-core) against a real
// mesh: a web pod calling api (split 80/20 between api-v1 and api-v2 by an HTTPRoute) and db,
// with paced traffic. A screenshot of each page goes to test-output/dashboard/ at the repo's root
// (git-ignored; the path is printed); with TRELLIS_UPDATE_SCREENSHOT=1 the topology's also
// replaces docs/dashboard.png.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BrowserContext, Page } from 'playwright-core';
import { chromiumPath, launchDashboardBrowser } from './dashboard-browser.js';
import { Mesh, waitFor, type Pod } from './mesh-harness.js';
import type { RolloutState } from '../../src/control/rollout/rollout-state.js';

const net = '127.0.62';
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

// the control plane scrapes every second here, so charts and tables fill quickly (default 5 s)
process.env.TRELLIS_STATS_INTERVAL_MS = '1000';

const services = ['web', 'api', 'db'].map((name) => `
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: ${name} }
spec: { ports: [{ port: 8000 }] }
---`).join('') + ['v1', 'v2'].map((v) => `
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: api-${v} }
spec: { ports: [{ port: 8000 }], selector: { app: api, version: ${v} } }
---`).join('');

const route = (v1: number, v2: number) => `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: api-split }
spec:
  parentRefs: [{ name: api }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /v2-only } }]
      backendRefs: [{ name: api-v2 }]
    - backendRefs:
        - { name: api-v1, weight: ${v1} }
        - { name: api-v2, weight: ${v2} }
`;

/** Requests at a steady, modest pace (a browser shares the two cores): one every `everyMs` until stopped. */
class PacedLoad {
  sent = 0;
  private readonly timer: NodeJS.Timeout;
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(mesh: Mesh, from: Pod, host: string, everyMs: number) {
    this.timer = setInterval(() => {
      if (this.inFlight.size >= 8) return;
      const p = mesh.request(from, host, '/').catch(() => undefined).finally(() => this.inFlight.delete(p));
      this.inFlight.add(p);
      this.sent++;
    }, everyMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await Promise.all(this.inFlight);
  }
}

describe('the dashboard in a browser', {
  skip: existsSync(chromiumPath) ? false : `no Chromium at ${chromiumPath} (Debian package \`chromium\`; .ci/run installs it)`,
}, () => {
  const mesh = new Mesh(net);
  const shots = path.join(repoRoot, 'test-output', 'dashboard');
  const profile = mkdtempSync(path.join(os.tmpdir(), 'trellis-chromium-profile-'));
  const consoleErrors: string[] = [];
  const loads: PacedLoad[] = [];
  let context: BrowserContext;
  let page: Page;
  let web: Pod;
  let spare: Pod;

  const shot = async (name: string): Promise<string> => {
    const file = path.join(shots, `${name}.png`);
    await page.screenshot({ path: file, fullPage: true });
    return file;
  };

  before(async () => {
    // disconnected proxies stay registered long enough to be seen as such
    await mesh.startControl({ grace: '10m' });
    const applied = await mesh.apply(services + route(80, 20));
    assert.equal(applied.code, 0, applied.stderr);
    web = await mesh.addPod('web-1', 'web');
    await mesh.addPod('api-v1-1', 'api', { version: 'v1' });
    await mesh.addPod('api-v2-1', 'api', { version: 'v2' });
    await mesh.addPod('db-1', 'db');
    spare = await mesh.addPod('db-2', 'db');
    // a sidecar that joined with a token holds a mesh certificate (permissive mTLS: the others need none)
    await mesh.addPod('vault-1', 'vault', {}, { token: await mesh.joinToken('vault') });
    await mesh.waitInSync(20_000, 6);
    loads.push(new PacedLoad(mesh, web, 'api', 40), new PacedLoad(mesh, web, 'db', 100));

    ({ context, page } = await launchDashboardBrowser(profile, 30_000, consoleErrors));
    mkdirSync(shots, { recursive: true });
    console.log(`dashboard screenshots: ${shots}`);
  });

  after(async () => {
    // the browser goes first: a mesh closing under an open page would only add noise
    await context?.close();
    await Promise.all(loads.map((l) => l.stop()));
    await mesh.close();
    rmSync(profile, { recursive: true, force: true });
  });

  it('shows the services and the calls between them on the topology', async () => {
    await page.goto(`${mesh.apiUrl}/#/`);
    const graph = page.getByTestId('topology-graph');
    // the graph itself (cytoscape) holds the nodes and edges, not only the tables under it
    await page.waitForFunction(() => {
      const d = document.querySelector<HTMLElement>('[data-testid=topology-graph]')?.dataset;
      const edges = (d?.edges ?? '').split(',');
      return ['web->api-v1', 'web->api-v2', 'web->db'].every((e) => edges.includes(e));
    });
    const nodes = (await graph.getAttribute('data-nodes'))!.split(',');
    for (const s of ['web', 'api', 'api-v1', 'api-v2', 'db']) assert.ok(nodes.includes(s), `node ${s} in ${nodes}`);
    assert.ok(await graph.locator('canvas').count() > 0, 'cytoscape drew on a canvas');
    const edgeRow = page.locator('[data-testid=edges-table] tr[data-edge="web->db"]');
    await edgeRow.waitFor();
    assert.match(await edgeRow.innerText(), /web\s*→\s*db\s+[\d.]+ rps\s+100\.0%/);
    await shot('topology');
    // clicking a service opens its page
    await page.locator('[data-testid=services-table] tr[data-service=db] a').click();
    await page.waitForFunction(() => location.hash === '#/service/db');
    await page.locator('section.service[data-service=db] h1').waitFor();
  });

  it("opens a call's own page by clicking its edge on the graph, with its figures over time", async () => {
    await page.goto(`${mesh.apiUrl}/#/`);
    const graph = page.getByTestId('topology-graph');
    await page.waitForFunction(() => (document.querySelector<HTMLElement>('[data-testid=topology-graph]')?.dataset.edges ?? '').split(',').includes('web->db'));
    // where cytoscape drew the edge: a click there is what a person's click is
    const edgeAt = () => page.evaluate(() => {
      const box = document.querySelector('[data-testid=topology-graph]') as HTMLElement & { topologyGraph?: { renderedPosition(id: string): { x: number; y: number } | null } };
      return box.topologyGraph!.renderedPosition('web->db');
    });
    // the graph is laid out again when its shape changes (a call appears): click where the edge is now
    for (let attempt = 1; ; attempt++) {
      const at = await edgeAt();
      const box = await graph.boundingBox();
      assert.ok(at && box, 'the edge and the graph are drawn');
      await page.mouse.click(box.x + at.x, box.y + at.y);
      try {
        await page.waitForFunction(() => location.hash === '#/edge/web/db', undefined, { timeout: 3000 });
        break;
      } catch (err) {
        if (attempt === 3) throw new Error(`clicking the edge web->db did not open it (hash ${await page.evaluate(() => location.hash)}): ${(err as Error).message}`);
      }
    }
    const edge = page.locator('section.edge[data-edge="web->db"]');
    await edge.locator('h1').waitFor();
    assert.match(await edge.locator('h1').innerText(), /web\s*→\s*db/);
    await page.waitForFunction(() => /rps$/.test(document.querySelector('[data-testid=edge-summary] [data-field=rps]')?.textContent ?? ''));
    assert.equal(await edge.locator('[data-testid=edge-summary] [data-field=success]').innerText(), '100.0%');
    // what the API has for this call over time is what the charts draw
    await page.waitForFunction(() => ['chart-rps', 'chart-success', 'chart-latency']
      .every((id) => Number(document.querySelector<HTMLElement>(`[data-testid=${id}]`)?.dataset.points) > 0));
    const history = await fetch(`${mesh.apiUrl}/api/v1/stats/history?from=web&to=db&window=15m&step=10s`).then((r) => r.json()) as { from: string; to: string; points: { requests: number }[] };
    assert.equal(history.from, 'web');
    assert.ok(history.points.some((p) => p.requests > 0), JSON.stringify(history));
    const missing = await fetch(`${mesh.apiUrl}/api/v1/stats/history?from=web`);
    assert.equal(missing.status, 400);
    assert.match(((await missing.json()) as { error: string }).error, /^to is required/);
    await shot('edge');
    // the keyboard's way to the same page: the arrow in the calls table
    await page.goto(`${mesh.apiUrl}/#/`);
    await page.locator('[data-testid=edges-table] tr[data-edge="web->api-v1"] a[data-field=open-edge]').click();
    await page.waitForFunction(() => location.hash === '#/edge/web/api-v1');
    await page.locator('section.edge[data-edge="web->api-v1"] h1').waitFor();
  });

  it("fills the service page's charts with data points, and keeps adding them live", async () => {
    // the pods serve as `api` (api-v1 and api-v2 select subsets of them), so api's charts have the traffic
    await page.goto(`${mesh.apiUrl}/#/service/api`);
    const points = async (id: string) => Number(await page.getByTestId(id).getAttribute('data-points'));
    await page.waitForFunction(() => ['chart-rps', 'chart-success', 'chart-latency']
      .every((id) => Number(document.querySelector<HTMLElement>(`[data-testid=${id}]`)?.dataset.points) > 0));
    const first = await points('chart-rps');
    assert.ok(first > 0);
    // a new 10 s step appears without reloading the page
    await page.waitForFunction((n) => Number(document.querySelector<HTMLElement>('[data-testid=chart-rps]')?.dataset.points) > n, first, { timeout: 40_000 });
    assert.ok(await page.locator('[data-testid=chart-rps] canvas').count() > 0, 'uPlot drew on a canvas');
    await page.locator('[data-testid=endpoints-table] tr[data-endpoint]').first().waitFor();
    assert.match(await page.getByTestId('endpoints-table').innerText(), /127\.0\.62\.\d+:\d+\s+api-v1-1[\s\S]*healthy/);
    // web reaches api through its route's backends: still listed as api's caller
    await page.locator('[data-testid=callers-table] tr[data-service=web]').waitFor();
    await shot('service-charts');
    // web calls the subsets (the route's backends), so they list it as their caller
    await page.goto(`${mesh.apiUrl}/#/service/api-v1`);
    await page.locator('[data-testid=callers-table] tr[data-service=web]').waitFor();
  });

  it("shows a route's weights as the API has them, and follows a change live", async () => {
    await page.goto(`${mesh.apiUrl}/#/service/api`);
    const weights = async () => {
      const out: Record<string, number> = {};
      for (const b of ['api-v1', 'api-v2']) {
        out[b] = Number(await page.locator(`[data-route=api-split] tr[data-rule="1"][data-backend=${b}] [data-field=weight]`).innerText());
      }
      return out;
    };
    const fromApi = async () => {
      const routes = await mesh.getJson('routes');
      const r = routes.find((x) => x.metadata.name === 'api-split')!;
      return Object.fromEntries(r.spec.rules[1].backendRefs.map((b: { name: string; weight: number }) => [b.name, b.weight])) as Record<string, number>;
    };
    await page.locator('[data-route=api-split] tr[data-rule="1"][data-backend=api-v1]').waitFor();
    assert.deepEqual(await weights(), await fromApi());
    assert.deepEqual(await fromApi(), { 'api-v1': 80, 'api-v2': 20 });
    // the traffic each backend actually got sits beside its weight
    const share = (b: string) => page.locator(`[data-route=api-split] tr[data-rule="1"][data-backend=${b}] [data-field=actual-share]`);
    await page.waitForFunction(() => /%$/.test(document.querySelector('[data-route=api-split] tr[data-rule="1"][data-backend=api-v1] [data-field=actual-share]')?.textContent ?? ''));
    assert.ok(parseFloat(await share('api-v1').innerText()) > parseFloat(await share('api-v2').innerText()), 'api-v1 (weight 80) gets more than api-v2 (20)');
    await shot('service');

    const applied = await mesh.apply(route(30, 70));
    assert.equal(applied.code, 0, applied.stderr);
    await page.waitForFunction(() => document.querySelector('[data-route=api-split] tr[data-rule="1"][data-backend=api-v2] [data-field=weight]')?.textContent === '70');
    assert.deepEqual(await weights(), await fromApi());
  });

  it('marks a stopped sidecar on the proxies page', async () => {
    await page.goto(`${mesh.apiUrl}/#/proxies`);
    const row = page.locator('[data-testid=proxies-table] tr[data-proxy=db-2]');
    await row.waitFor();
    await page.waitForFunction(() => document.querySelector('tr[data-proxy=db-2]')?.getAttribute('data-standing') === 'in-sync');
    assert.equal(await page.locator('[data-testid=proxies-table] tbody tr').count(), 6);
    // uptime runs from the sidecar's own start, as it said in its xDS Node
    const api = await mesh.getJson('proxies');
    const db2 = api.find((p) => p.id === 'db-2')!;
    assert.ok(db2.startedAt && Date.parse(db2.startedAt) <= Date.parse(db2.connectedAt), JSON.stringify(db2));
    assert.equal(await row.locator('[data-field=uptime] [data-started-at]').getAttribute('data-started-at'), db2.startedAt);
    assert.match(await row.locator('[data-field=uptime]').innerText(), /^\d+s|^\d+m \d+s$/);
    // a certificate's expiry, for the sidecar that has one; none for the others
    const vault = api.find((p) => p.id === 'vault-1')!;
    assert.ok(vault.certExpiry, JSON.stringify(vault));
    const cert = page.locator('tr[data-proxy=vault-1] td:nth-child(9) .badge');
    await cert.waitFor();
    assert.equal(await cert.getAttribute('title'), vault.certExpiry);
    assert.match(await cert.innerText(), /^in \d+/);
    assert.equal(await row.locator('td:nth-child(9)').innerText(), '–');
    await mesh.stopSidecar(spare);
    await page.waitForFunction(() => document.querySelector('tr[data-proxy=db-2]')?.getAttribute('data-standing') === 'disconnected');
    assert.match(await row.innerText(), /DISCONNECTED/);
    assert.match(await page.getByTestId('proxies-summary').innerText(), /1 disconnected/);
    // the others are untouched (once they ACKed the config without db-2's endpoint)
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=proxies-table] tr[data-standing=in-sync]').length === 5);
    await shot('proxies');
  });

  it('watches requests scroll in on the live tap', async () => {
    await page.goto(`${mesh.apiUrl}/#/tap`);
    // tapping needs a token with read access in every auth mode: the admin's here, cleared below
    await page.locator('#api-token').fill(mesh.adminTokens.get(mesh.apiUrl)!);
    await page.locator('#api-token').press('Enter');
    await page.waitForSelector('[data-testid=tap-service] option[value=api]', { state: 'attached' });
    await page.selectOption('[data-testid=tap-service]', 'api');
    await page.click('[data-testid=tap-start]');
    await page.waitForFunction(() => document.querySelector('[data-testid=tap-state]')?.textContent?.includes('Tapping api'));
    await page.locator('[data-testid=tap-table] tbody tr').nth(2).waitFor({ timeout: 20_000 });
    assert.match(await page.locator('[data-testid=tap-table] tbody tr').first().innerText(), /api\.default\s+GET\s+(\S+\s+)?\/\s+200/);
    await shot('tap');
    // leaving the page ends the tap
    await page.goto(`${mesh.apiUrl}/#/`);
    await page.locator('#api-token').fill('');
    await page.locator('form.token button[type=submit]').click();
    await page.waitForFunction(() => sessionStorage.getItem('trellis.apiToken') === null);
  });

  it('moves between pages with single keys, and lists them on ?', async () => {
    await page.goto(`${mesh.apiUrl}/#/service/web`);
    await page.locator('section.service[data-service=web] h1').waitFor();
    for (const [key, hash] of [['t', '#/'], ['p', '#/proxies'], ['l', '#/tap'], ['c', '#/canaries'], ['t', '#/']]) {
      await page.keyboard.press(key);
      await page.waitForFunction((h) => location.hash === h, hash);
    }
    // every page's key is on the navigation, and ? lists them all
    assert.deepEqual(await page.locator('header nav a kbd').allInnerTexts(), ['t', 'p', 'l', 'c']);
    await page.keyboard.press('?');
    const help = page.getByTestId('keys-help');
    await help.waitFor();
    const text = await help.innerText();
    for (const line of [/t\s+Topology/, /p\s+Proxies/, /l\s+Live tap/, /c\s+Canaries/]) assert.match(text, line);
    await page.keyboard.press('Escape');
    await help.waitFor({ state: 'detached' });
    // a key typed into a field is text, not a shortcut
    await page.locator('#api-token').fill('');
    await page.locator('#api-token').press('p');
    assert.equal(await page.evaluate(() => location.hash), '#/');
    await page.locator('#api-token').fill('');
  });

  it('can be driven with Tab and Enter alone, and the focused element is always visible', async () => {
    /** Presses `key` until the focused element matches `selector` (at most 40 times); fails otherwise. */
    const focusBy = async (key: 'Tab' | 'Shift+Tab', selector: string) => {
      for (let i = 0; i < 40; i++) {
        if (await page.evaluate((sel) => document.activeElement?.matches(sel) ?? false, selector)) return;
        await page.keyboard.press(key);
      }
      throw new Error(`${key} never reached ${selector}; focus is on ${await page.evaluate(() => document.activeElement?.outerHTML.slice(0, 120))}`);
    };
    /** The focused element draws an outline and sits inside the window. */
    const assertFocusVisible = async () => {
      const f = await page.evaluate(() => {
        const el = document.activeElement as HTMLElement;
        const css = getComputedStyle(el);
        const box = el.getBoundingClientRect();
        return { html: el.outerHTML.slice(0, 80), style: css.outlineStyle, width: parseFloat(css.outlineWidth), box: [box.top, box.bottom, box.width], vh: innerHeight };
      });
      assert.notEqual(f.style, 'none', `outline of ${f.html}`);
      assert.ok(f.width >= 2, `outline width ${f.width} of ${f.html}`);
      assert.ok(f.box[0] >= 0 && f.box[1] <= f.vh && f.box[2] > 0, `${f.html} is inside the window: ${JSON.stringify(f)}`);
    };
    await page.goto(`${mesh.apiUrl}/#/`);
    await page.locator('[data-testid=services-table] tr[data-service=db]').waitFor();
    // from the page's heading back up to the navigation, then along it
    await focusBy('Shift+Tab', 'header nav a[href="#/proxies"]');
    await assertFocusVisible();
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => location.hash === '#/proxies');
    await focusBy('Shift+Tab', 'header nav a[href="#/canaries"]');
    await assertFocusVisible();
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => location.hash === '#/canaries');
    await focusBy('Shift+Tab', 'header nav a[href="#/"]');
    await assertFocusVisible();
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => location.hash === '#/');
    // down the topology's table to a service, and open it
    await page.locator('[data-testid=services-table] tr[data-service=db]').waitFor();
    await focusBy('Tab', '[data-testid=services-table] tr[data-service=db] a');
    await assertFocusVisible();
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => location.hash === '#/service/db');
    await page.locator('section.service[data-service=db] h1').waitFor();
    // the new page's heading has the focus, so the next Tab starts on it
    assert.equal(await page.evaluate(() => document.activeElement?.tagName), 'H1');
  });

  it('sends the API token the user entered with every request, the event stream included', async () => {
    const sent: { url: string; auth?: string }[] = [];
    const onRequest = (r: { url(): string; headers(): Record<string, string> }) => {
      if (r.url().includes('/api/v1/')) sent.push({ url: r.url(), auth: r.headers().authorization });
    };
    page.on('request', onRequest);
    try {
      await page.goto(`${mesh.apiUrl}/#/service/api`);
      await page.locator('#api-token').fill('tok-123');
      await page.locator('form.token button[type=submit]').click();
      await page.waitForFunction(() => sessionStorage.getItem('trellis.apiToken') === 'tok-123');
      const stream = () => sent.find((s) => s.url.endsWith('/api/v1/events') && s.auth === 'Bearer tok-123');
      const deadline = Date.now() + 10_000;
      while (!stream() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      assert.ok(stream(), `the restarted stream carries the token: ${JSON.stringify(sent.slice(-5))}`);
    } finally {
      page.off('request', onRequest);
      // cleared the way a person would: an empty field and "Clear"
      await page.locator('#api-token').fill('');
      await page.locator('form.token button[type=submit]').click();
      await page.waitForFunction(() => sessionStorage.getItem('trellis.apiToken') === null);
    }
    if (process.env.TRELLIS_UPDATE_SCREENSHOT === '1') {
      copyFileSync(path.join(shots, 'topology.png'), path.join(repoRoot, 'docs', 'dashboard.png'));
    }
  });

  it('shows a canary rollout live: its steps, the weights, the figures of the step in force and every verdict', async () => {
    // the page follows the event stream: it never polls the rollouts itself
    const polled: string[] = [];
    const onRequest = (r: { url(): string }) => { if (r.url().includes('/api/v1/rollouts')) polled.push(r.url()); };
    page.on('request', onRequest);
    try {
      await page.goto(`${mesh.apiUrl}/#/canaries`);
      await page.waitForFunction(() => /No rollouts yet/.test(document.querySelector('[data-testid=rollouts-summary]')?.textContent ?? ''));
      // the split the route test left is 30/70; the canary starts again from api-v1
      const started = await mesh.cli(['canary', 'api', '--from', 'api-v1', '--to', 'api-v2', '--steps', '10,50,100', '--interval', '5s', '--min-requests', '5', '--max-p99-ratio', '1000']);
      assert.equal(started.code, 0, started.stderr);
      const rollout = page.locator('article[data-rollout=api]');
      await rollout.waitFor();
      assert.equal(await rollout.locator('[data-testid=rollout-steps] li').count(), 3);
      assert.match(await rollout.getByTestId('rollout-steps').innerText(), /step 1\s+10% to api-v2[\s\S]*step 2\s+50% to api-v2[\s\S]*step 3\s+100% to api-v2/);

      // step 1 in force: its weights, and both backends' live figures before any verdict (at 10 % the old one gets more)
      const live = rollout.getByTestId('rollout-live');
      await page.waitForFunction(() => {
        const cell = (role: string) => Number(document.querySelector(`article[data-rollout=api] [data-testid=rollout-live] tr[data-role=${role}] [data-field=requests]`)?.textContent);
        return document.querySelector('article[data-rollout=api] li[data-step="1"]')?.getAttribute('data-state') === 'current' && cell('new') > 0 && cell('old') > cell('new');
      }, undefined, { timeout: 20_000 }).catch(async (err: Error) => {
        throw new Error(`${err.message}; the page shows: ${await rollout.innerText()}`);
      });
      assert.match(await rollout.getByTestId('rollout-weights').innerText(), /api-v1 9000 : api-v2 1000 \(10% to api-v2\)/);
      assert.match(await live.locator('tr[data-role=new]').innerText(), /new: api-v2\s+\d+\s+[\d.]+ rps\s+100\.00%\s+[\d.]+ (ms|s)/);
      assert.match(await live.locator('tr[data-role=old]').innerText(), /old: api-v1\s+\d+\s+[\d.]+ rps\s+100\.00%/);

      // step 2: the first verdict, with the figures it judged, and the new weights
      // a step lasts its interval plus whatever grace the judge needs to see enough requests on a busy machine
      await page.waitForFunction(() => document.querySelector('article[data-rollout=api] li[data-step="2"]')?.getAttribute('data-state') === 'current', undefined, { timeout: 60_000 });
      const state = JSON.parse((await mesh.cli(['canary', 'status', 'api', '-o', 'json'])).stdout) as RolloutState;
      const judged = state.history.find((h) => h.step === 1 && h.verdict === 'pass');
      assert.ok(judged, JSON.stringify(state.history));
      const verdict = rollout.locator('[data-testid=rollout-verdicts] tr[data-step="1"][data-verdict=pass]');
      await verdict.waitFor();
      const cells = await verdict.locator('td').allInnerTexts();
      assert.equal(cells[2], String(judged.newBackend.requests));
      assert.equal(cells[3], '100.00%');
      assert.equal(cells[5], String(judged.baseline?.requests));
      await page.waitForFunction(() => /api-v1 5000 : api-v2 5000/.test(document.querySelector('article[data-rollout=api] [data-testid=rollout-weights]')?.textContent ?? ''));
      await shot('canaries');

      // to the end: every step done, three passes
      await page.waitForFunction(() => document.querySelector('article[data-rollout=api]')?.getAttribute('data-phase') === 'completed', undefined, { timeout: 40_000 });
      assert.deepEqual(await rollout.locator('[data-testid=rollout-steps] li').evaluateAll((els) => els.map((e) => e.getAttribute('data-state'))), ['done', 'done', 'done']);
      assert.deepEqual(await rollout.locator('[data-testid=rollout-verdicts] tr[data-verdict=pass]').evaluateAll((els) => els.map((e) => e.getAttribute('data-step'))), ['1', '2', '3']);
      assert.match(await rollout.getByTestId('rollout-weights').innerText(), /api-v1 0 : api-v2 10000/);
      assert.equal(await rollout.getByTestId('rollout-live').count(), 0, 'a finished rollout has no step in force');
      const done = await waitFor(async () => {
        const routes = await mesh.getJson('routes');
        const w = routes.find((x) => x.metadata.name === 'api-split')!.spec.rules[1].backendRefs as { name: string; weight: number }[];
        return w.find((b) => b.name === 'api-v2')?.weight === 10_000 ? w : undefined;
      }, 10_000, 'the route at 100% api-v2');
      assert.deepEqual(done.map((b) => [b.name, b.weight]), [['api-v1', 0], ['api-v2', 10_000]]);
      assert.deepEqual(polled, []);
    } finally {
      page.off('request', onRequest);
    }
  });

  it('logged no console errors on any page', () => {
    assert.deepEqual(consoleErrors, []);
  });
});
