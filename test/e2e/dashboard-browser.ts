// The headless Chromium the dashboard tests drive: one persistent profile, one page that records
// every console error and page error (the tests assert there are none).
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const chromiumPath = process.env.TRELLIS_CHROMIUM ?? '/usr/bin/chromium';

export async function launchDashboardBrowser(profile: string, defaultTimeoutMs: number, consoleErrors: string[]): Promise<{ context: BrowserContext; page: Page }> {
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1440, height: 900 },
  });
  const page = context.pages()[0] ?? await context.newPage();
  page.setDefaultTimeout(defaultTimeoutMs);
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(`console: ${m.text()}`); });
  page.on('pageerror', (err) => consoleErrors.push(`page error: ${err.message}`));
  return { context, page };
}
