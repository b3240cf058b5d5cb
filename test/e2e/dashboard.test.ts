// The dashboard in a real browser (Debian's Chromium driven by playwright-core) against a real
// mesh: a web pod calling api (split 80/20 between api-v1 and api-v2 by an HTTPRoute) and db,
// with paced traffic. Screenshots of each page go to a temp folder named in the test output;
// with TRELLIS_UPDATE_SCREENSHOT=1 the topology's also replaces docs/dashboard.png.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { Mesh, type Pod } from './mesh-harness.js';

const net = '127.0.62';
const chromiumPath = process.env.TRELLIS_CHROMIUM ?? '/usr/bin/chromium';
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
  const shots = mkdtempSync(path.join(os.tmpdir(), 'trellis-dashboard-screenshots-'));
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
    await mesh.waitInSync(20_000, 5);
    loads.push(new PacedLoad(mesh, web, 'api', 40), new PacedLoad(mesh, web, 'db', 100));

    context = await chromium.launchPersistentContext(profile, {
      executablePath: chromiumPath,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 1440, height: 900 },
    });
    page = context.pages()[0] ?? await context.newPage();
    page.setDefaultTimeout(30_000);
    page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(`console: ${m.text()}`); });
    page.on('pageerror', (err) => consoleErrors.push(`page error: ${err.message}`));
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
    await shot('service-api-charts');
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
    await shot('service-api');

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
    assert.equal(await page.locator('[data-testid=proxies-table] tbody tr').count(), 5);
    await mesh.stopSidecar(spare);
    await page.waitForFunction(() => document.querySelector('tr[data-proxy=db-2]')?.getAttribute('data-standing') === 'disconnected');
    assert.match(await row.innerText(), /DISCONNECTED/);
    assert.match(await page.getByTestId('proxies-summary').innerText(), /1 disconnected/);
    // the others are untouched
    assert.equal(await page.locator('[data-testid=proxies-table] tr[data-standing=in-sync]').count(), 4);
    await shot('proxies');
  });

  it('logged no console errors and keyboard shortcuts move between pages', async () => {
    await page.goto(`${mesh.apiUrl}/#/service/web`);
    await page.locator('section.service[data-service=web] h1').waitFor();
    await page.keyboard.press('t');
    await page.waitForFunction(() => location.hash === '#/');
    await page.keyboard.press('p');
    await page.waitForFunction(() => location.hash === '#/proxies');
    assert.deepEqual(consoleErrors, []);
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
      await page.evaluate(() => sessionStorage.removeItem('trellis.apiToken'));
    }
    if (process.env.TRELLIS_UPDATE_SCREENSHOT === '1') {
      copyFileSync(path.join(shots, 'topology.png'), path.join(repoRoot, 'docs', 'dashboard.png'));
    }
  });
});
