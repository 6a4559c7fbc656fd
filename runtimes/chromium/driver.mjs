// Drives the vectors page in Chromium (Debian's /usr/bin/chromium, or
// CHROMIUM_PATH) through playwright-core. No HTTP server: the page's requests
// to http://wasmsocket.test/ are answered from the repository (runtimes/ and
// test/vectors/ only) and from the directory holding the browser bundle.
import { chromium } from 'playwright-core';
import { readFile } from 'node:fs/promises';
import { join, normalize } from 'node:path';

const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.json': 'application/json' };

export async function runChromium({ root, bundleDir, timeoutMs = 60_000 }) {
  const executablePath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
  const browser = await chromium.launch({ executablePath, args: ['--no-sandbox', '--disable-gpu'], timeout: timeoutMs });
  try {
    const context = await browser.newContext();
    await context.route('http://wasmsocket.test/**', async (route) => {
      const path = normalize(decodeURIComponent(new URL(route.request().url()).pathname));
      let file;
      if (path.startsWith('/bundle/')) file = join(bundleDir, path.slice('/bundle/'.length));
      else if (path.startsWith('/runtimes/') || path.startsWith('/test/vectors/')) file = join(root, path);
      const ext = file ? file.slice(file.lastIndexOf('.')) : '';
      if (!file || !TYPES[ext]) return route.fulfill({ status: 404, body: 'not found' });
      try {
        return route.fulfill({ status: 200, contentType: TYPES[ext], body: await readFile(file) });
      } catch {
        return route.fulfill({ status: 404, body: 'not found' });
      }
    });
    const out = {};
    for (const [mode, query] of [['default', ''], ['scalar', '?scalar=1']]) {
      const page = await context.newPage();
      const errors = [];
      page.on('pageerror', (e) => errors.push(String(e)));
      await page.goto(`http://wasmsocket.test/runtimes/chromium/index.html${query}`, { timeout: timeoutMs });
      await page.waitForFunction(() => window.__vectors !== undefined, undefined, { timeout: timeoutMs });
      out[mode] = await page.evaluate(() => window.__vectors);
      if (errors.length) out[mode].failures.push(...errors.map((e) => `page error: ${e}`)), (out[mode].failed += errors.length);
      out[mode].userAgent = await page.evaluate(() => navigator.userAgent);
      await page.close();
    }
    return out;
  } finally {
    await browser.close();
  }
}
