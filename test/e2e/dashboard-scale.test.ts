// The dashboard against a control plane holding hundreds of Services (a few of them with real
// sidecars and traffic): the topology's graph and service table show them all, and an update
// from the event stream changes what changed in place: rows of unchanged services stay the very
// same DOM nodes, the graph keeps its canvas and its layout. No timing is asserted.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BrowserContext, Page } from 'playwright-core';
import { chromiumPath, launchDashboardBrowser } from './dashboard-browser.js';
import { Mesh, SteadyLoad } from './mesh-harness.js';

const net = '127.0.91';
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const count = 300;

// scrapes every second, so the stats topic moves while the test watches
process.env.TRELLIS_STATS_INTERVAL_MS = '1000';

const name = (i: number) => `svc-${String(i).padStart(3, '0')}`;
const service = (n: string) => `apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: ${n} }
spec: { ports: [{ port: 8000 }] }
`;

/** What the page's observer saw happen to the service table's rows since it was installed. */
interface RowMutations { added: string[]; removed: string[] }

describe('the dashboard with hundreds of services', {
  skip: existsSync(chromiumPath) ? false : `no Chromium at ${chromiumPath} (Debian package \`chromium\`)`,
  timeout: 60_000,
}, () => {
  const mesh = new Mesh(net);
  const profile = mkdtempSync(path.join(os.tmpdir(), 'trellis-chromium-scale-'));
  const consoleErrors: string[] = [];
  let context: BrowserContext;
  let page: Page;
  let load: SteadyLoad;

  before(async () => {
    await mesh.startControl();
    const docs = [...Array.from({ length: count }, (_, i) => service(name(i))), service('web'), service('api')];
    const applied = await mesh.apply(docs.join('---\n'));
    assert.equal(applied.code, 0, applied.stderr);
    const web = await mesh.addPod('web-1', 'web');
    await mesh.addPod('api-1', 'api');
    await mesh.waitInSync(20_000, 2);
    load = new SteadyLoad(mesh, web, 'api', 1);

    ({ context, page } = await launchDashboardBrowser(profile, 20_000, consoleErrors));
  });

  after(async () => {
    await context?.close();
    await load?.stop();
    await mesh.close();
    rmSync(profile, { recursive: true, force: true });
  });

  it('shows every service on the graph and in the table, and updates them in place', async () => {
    await page.goto(`${mesh.apiUrl}/#/`);
    const rows = page.locator('[data-testid=services-table] tbody tr');
    await page.waitForFunction((n) => document.querySelectorAll('[data-testid=services-table] tbody tr').length === n, count + 2);
    await page.waitForFunction((n) => (document.querySelector<HTMLElement>('[data-testid=topology-graph]')?.dataset.nodes ?? '').split(',').length === n, count + 2);
    assert.equal(await rows.count(), count + 2);
    // the traffic's figures arrive: web → api on the graph and in the tables
    await page.waitForFunction(() => (document.querySelector<HTMLElement>('[data-testid=topology-graph]')?.dataset.edges ?? '').split(',').includes('web->api'));
    await page.locator('[data-testid=services-table] tr[data-service=api] td.num', { hasText: 'rps' }).first().waitFor();

    // remember nodes of the DOM and of the graph, and watch the table's rows come and go
    await page.evaluate(() => {
      const w = window as unknown as Record<string, unknown>;
      const tbody = document.querySelector('[data-testid=services-table] tbody')!;
      const seen: RowMutations = { added: [], removed: [] };
      w.rowMutations = seen;
      new MutationObserver((records) => {
        for (const r of records) {
          for (const n of r.addedNodes) if (n instanceof HTMLTableRowElement) seen.added.push(n.dataset.service ?? '?');
          for (const n of r.removedNodes) if (n instanceof HTMLTableRowElement) seen.removed.push(n.dataset.service ?? '?');
        }
      }).observe(tbody, { childList: true });
      w.quietRow = document.querySelector('[data-testid=services-table] tr[data-service=svc-150]');
      w.busyRow = document.querySelector('[data-testid=services-table] tr[data-service=api]');
      w.busyText = (w.busyRow as HTMLElement).innerText;
      w.canvas = document.querySelector('[data-testid=topology-graph] canvas');
    });
    const graphPosition = (id: string) => page.evaluate((el) => {
      const box = document.querySelector('[data-testid=topology-graph]') as HTMLElement & { topologyGraph?: { renderedPosition(id: string): { x: number; y: number } | null } };
      return box.topologyGraph!.renderedPosition(el);
    }, id);
    const before = await graphPosition('svc-150');
    assert.ok(before, 'svc-150 is on the graph');

    // stats updates: the busy row's figures change, in the same row
    await page.waitForFunction(() => {
      const w = window as unknown as Record<string, unknown>;
      return (w.busyRow as HTMLElement).innerText !== w.busyText;
    }, undefined, { timeout: 30_000 });
    assert.ok(await page.evaluate(() => {
      const w = window as unknown as Record<string, unknown>;
      return w.busyRow === document.querySelector('[data-testid=services-table] tr[data-service=api]');
    }), 'the busy row is the same element, with new figures');
    assert.deepEqual(await graphPosition('svc-150'), before, 'figures alone do not lay the graph out again');

    // a service more: one row added, none removed, nothing else re-created
    const applied = await mesh.apply(service(name(count)), 'one-more.yaml');
    assert.equal(applied.code, 0, applied.stderr);
    await page.locator(`[data-testid=services-table] tr[data-service=${name(count)}]`).waitFor();
    const mutations = await page.evaluate(() => (window as unknown as { rowMutations: RowMutations }).rowMutations);
    assert.deepEqual(mutations, { added: [name(count)], removed: [] });
    assert.ok(await page.evaluate(() => {
      const w = window as unknown as Record<string, unknown>;
      const row = document.querySelector('[data-testid=services-table] tr[data-service=svc-150]');
      return w.quietRow === row && (row as HTMLElement).isConnected && w.canvas === document.querySelector('[data-testid=topology-graph] canvas');
    }), 'the quiet row and the graph\'s canvas are the same elements');
    await page.waitForFunction((n) => (document.querySelector<HTMLElement>('[data-testid=topology-graph]')?.dataset.nodes ?? '').split(',').includes(n), name(count));

    const shots = path.join(repoRoot, 'test-output', 'dashboard');
    mkdirSync(shots, { recursive: true });
    await page.screenshot({ path: path.join(shots, 'topology-300-services.png') });
    console.log(`dashboard screenshot: ${path.join(shots, 'topology-300-services.png')}`);
    assert.deepEqual(consoleErrors, []);
  });
});
