// A deploy of the chat seen from Chromium: two instances of `npm start`
// (examples/chat/server.mjs, as child processes) behind a TCP load balancer
// that sends each new connection to the first instance accepting it. SIGTERM
// to the first drains it with wss.shutdown() (1001, spread over 1.5 s); the
// tabs reconnect by themselves, land on the second instance and chat there.
// Then the same over HTTP/2 (HTTPS=1): the tabs' sockets are streams of the
// page's connection, which gets GOAWAY once they are told.
// Skipped only when /usr/bin/chromium is absent (.ci/run installs it); the
// HTTP/2 case also when openssl is.
import { describe, it, expect, beforeAll, afterAll, afterEach } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { CHROMIUM, HAS_CHROMIUM, launchChromium } from './helpers/chromium.ts';
import { opensslPath, selfSignedCert } from './helpers/cert.ts';
import { ensureDist } from './helpers/dist.ts';
import { until, withTimeout } from './helpers/wait.ts';

if (!HAS_CHROMIUM) console.warn(`shutdown-chromium: skipped, ${CHROMIUM} not found (install it with: apt-get install -y chromium)`);
const HAS_OPENSSL = opensslPath() !== null;
if (HAS_CHROMIUM && !HAS_OPENSSL) console.warn('shutdown-chromium: the HTTP/2 case is skipped: openssl is not installed (Debian package openssl)');

const ROOT = fileURLToPath(new URL('..', import.meta.url));

interface Instance { child: ChildProcess; port: number; out: () => string; exited: Promise<number | null> }

/** `node examples/chat/server.mjs` on a free port; resolves once it prints its URL. */
async function startChat(env: Record<string, string>): Promise<Instance> {
  const child = spawn(process.execPath, ['examples/chat/server.mjs'], {
    cwd: ROOT, env: { ...process.env, PORT: '0', ...env }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => { out += d; });
  child.stderr!.on('data', (d) => { out += d; });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  await until(() => /Chat running at https?:\/\/127\.0\.0\.1:\d+\//.test(out) || child.exitCode !== null, 15_000, () => `the chat's URL (output: ${out})`);
  const port = Number(/Chat running at https?:\/\/127\.0\.0\.1:(\d+)\//.exec(out)?.[1]);
  return { child, port, out: () => out, exited };
}

/** A TCP load balancer: each new connection goes to the first backend that accepts it. */
class Balancer {
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  readonly picked: number[] = [];
  readonly backends: number[] = [];
  port = 0;
  constructor() {
    const backends = this.backends;
    this.server = net.createServer((client) => {
      client.on('error', () => {});
      this.track(client);
      const attempt = (i: number): void => {
        if (i === backends.length) { client.destroy(); return; }
        const upstream = net.connect(backends[i]!, '127.0.0.1');
        let connected = false;
        upstream.once('error', () => { if (!connected) attempt(i + 1); });
        upstream.once('connect', () => {
          connected = true;
          this.picked.push(backends[i]!);
          this.track(upstream);
          upstream.on('error', () => client.destroy());
          upstream.on('close', () => client.destroy());
          client.on('close', () => upstream.destroy());
          client.pipe(upstream);
          upstream.pipe(client);
        });
      };
      attempt(0);
    });
  }
  private track(s: net.Socket): void { this.sockets.add(s); s.once('close', () => this.sockets.delete(s)); }
  async listen(): Promise<this> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }
  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((r) => this.server.close(() => r()));
  }
}

describe.skipIf(!HAS_CHROMIUM)(`chat deploy in Chromium (${HAS_CHROMIUM ? CHROMIUM : 'skipped'})`, () => {
  let browser: Browser;
  const cleanups: Array<() => unknown> = [];

  beforeAll(async () => {
    ensureDist();
    // Trusts the test certificate both instances serve in the HTTP/2 case.
    browser = await launchChromium(HAS_OPENSSL ? [`--ignore-certificate-errors-spki-list=${selfSignedCert().spki}`] : []);
  }, 300_000);
  afterAll(async () => { await browser?.close(); });
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await Promise.resolve(c()).catch(() => {});
  });

  const waitForState = (page: Page, wanted: string, timeout = 10_000): Promise<unknown> =>
    page.waitForFunction((s) => document.getElementById('status')?.dataset.state === s, wanted, { timeout });
  const messages = (page: Page): Promise<string[]> =>
    page.locator('#messages > div').evaluateAll((els) => els.map((e) => e.textContent ?? ''));
  /** From now on the tab notes when it was told to go, and every status text it shows. */
  const watchStatus = (page: Page): Promise<void> => page.evaluate(() => {
    const status = document.getElementById('status')!;
    const w = window as unknown as { seen: string[]; closedAt: number };
    w.seen = [];
    new MutationObserver(() => {
      if (status.dataset.state === 'closed' && !w.closedAt) w.closedAt = Date.now();
      w.seen.push(`${status.dataset.state}: ${status.textContent}`);
    }).observe(status, { childList: true, characterData: true, subtree: true, attributes: true });
  });
  /** What watchStatus noted; the tab must have shown our 1001 (not a lost connection). */
  async function statusSeen(page: Page): Promise<{ seen: string[]; closedAt: number }> {
    const w = await page.evaluate(() => {
      const w = window as unknown as { seen: string[]; closedAt: number };
      return { seen: w.seen, closedAt: w.closedAt };
    });
    expect(w.seen.find((s) => s.startsWith('closed:'))).toMatch(/^closed: Disconnected: closed with 1001 \(Server going away\)\./);
    return w;
  }
  async function say(page: Page, text: string): Promise<void> {
    const input = page.locator('form[name="publish"] input[name="message"]');
    await input.fill(text);
    await input.press('Enter');
  }

  it('SIGTERM to the first instance: every tab is told 1001 (spread out), reconnects to the second and chats there', async () => {
    const spread = 1500;
    const lb = new Balancer();
    await lb.listen();
    cleanups.push(() => lb.close());
    const url = `http://127.0.0.1:${lb.port}/`;
    // The pages come from the balancer's origin: each instance is told it is theirs.
    const first = await startChat({ SHUTDOWN_SPREAD: String(spread), SHUTDOWN_TIMEOUT: '5000', ORIGINS: url.slice(0, -1) });
    cleanups.push(() => first.child.kill('SIGKILL'));
    const second = await startChat({ ORIGINS: url.slice(0, -1) });
    cleanups.push(() => { second.child.kill('SIGKILL'); });
    lb.backends.push(first.port, second.port);

    const tabs: Page[] = [];
    const pageErrors: string[] = [];
    for (let i = 0; i < 3; i++) {
      const ctx: BrowserContext = await browser.newContext(); // its own connections
      cleanups.push(() => ctx.close());
      const page = await ctx.newPage();
      page.on('pageerror', (err) => pageErrors.push(err.message));
      await page.goto(url);
      await waitForState(page, 'open');
      tabs.push(page);
    }
    expect(lb.picked.every((p) => p === first.port)).toBe(true); // all on the first instance
    await say(tabs[0]!, 'before the deploy');
    for (const t of tabs) await t.waitForFunction(() => document.querySelectorAll('#messages > div').length >= 1);

    for (const t of tabs) await watchStatus(t);
    const picksBefore = lb.picked.length;
    first.child.kill('SIGTERM');
    expect(await withTimeout(first.exited, 15_000, 'the first instance to exit')).toBe(0);
    expect(first.out()).toMatch(/SIGTERM: 3 chat connections drained in \d+ ms \(3 closed cleanly, 0 abnormally, 0 terminated; GOAWAY on 0 HTTP\/2 connections\)/);

    for (const t of tabs) await waitForState(t, 'open', 20_000); // reconnected (backoff starts at 0.25-0.5 s)
    const told = await Promise.all(tabs.map(statusSeen));
    const closedAt = told.map((w) => w.closedAt).sort((a, b) => a - b);
    console.log(`tabs told to go at +0, +${closedAt[1]! - closedAt[0]!}, +${closedAt[2]! - closedAt[0]!} ms (spread ${spread} ms)`);
    expect(closedAt[2]! - closedAt[0]!).toBeGreaterThan(spread / 3); // not all at one moment

    const picksAfter = lb.picked.slice(picksBefore);
    expect(picksAfter.length).toBeGreaterThanOrEqual(3); // the three reconnects
    expect(picksAfter.every((p) => p === second.port)).toBe(true);
    await say(tabs[1]!, 'after the deploy');
    for (const t of tabs) {
      await t.waitForFunction(() => document.querySelectorAll('#messages > div').length >= 2, undefined, { timeout: 10_000 });
      expect(await messages(t)).toEqual(['before the deploy', 'after the deploy']);
    }
    expect(pageErrors).toEqual([]);
  }, 90_000);

  it.skipIf(!HAS_OPENSSL)('over HTTP/2: the page\'s connection gets GOAWAY after its sockets are told 1001; the tabs come back on the second instance', async () => {
    const { key, cert, spki } = selfSignedCert();
    const tls = JSON.stringify({ key: key.toString('base64'), cert: cert.toString('base64'), spki });
    const lb = new Balancer();
    await lb.listen();
    cleanups.push(() => lb.close());
    const url = `https://127.0.0.1:${lb.port}/`;
    const first = await startChat({ CHAT_TLS: tls, ORIGINS: url.slice(0, -1), SHUTDOWN_SPREAD: '600', SHUTDOWN_TIMEOUT: '5000' });
    cleanups.push(() => first.child.kill('SIGKILL'));
    const second = await startChat({ CHAT_TLS: tls, ORIGINS: url.slice(0, -1) });
    cleanups.push(() => { second.child.kill('SIGKILL'); });
    lb.backends.push(first.port, second.port);

    const ctx = await browser.newContext(); // both tabs on one HTTP/2 connection
    cleanups.push(() => ctx.close());
    const tabs = [await ctx.newPage(), await ctx.newPage()];
    for (const t of tabs) {
      await t.goto(url);
      await waitForState(t, 'open');
      expect(await t.evaluate(() => (performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming).nextHopProtocol)).toBe('h2');
    }
    const picksBefore = lb.picked.length;
    expect(lb.picked.every((p) => p === first.port)).toBe(true);
    for (const t of tabs) await watchStatus(t);
    first.child.kill('SIGTERM');
    expect(await withTimeout(first.exited, 15_000, 'the first instance to exit')).toBe(0);
    expect(first.out()).toMatch(/SIGTERM: 2 chat connections drained in \d+ ms \(2 closed cleanly, 0 abnormally, 0 terminated; GOAWAY on 1 HTTP\/2 connections\)/);
    for (const t of tabs) await waitForState(t, 'open', 20_000);
    for (const t of tabs) await statusSeen(t); // our close frame, before the GOAWAY
    expect(lb.picked.slice(picksBefore).every((p) => p === second.port)).toBe(true);
    await say(tabs[0]!, 'h2 after the deploy');
    await tabs[1]!.waitForFunction(() => document.querySelectorAll('#messages > div').length >= 1, undefined, { timeout: 10_000 });
    expect(await messages(tabs[1]!)).toEqual(['h2 after the deploy']);
  }, 90_000);
});
