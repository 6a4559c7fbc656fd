// `npm start` with WORKERS=2 and REDIS_URL: the chat on two processes
// (node:cluster) sharing one port, joined through a real redis-server; two
// Chromium tabs whose WebSockets landed on different workers chat with each
// other. Skips when redis-server or Chromium is absent.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { CHROMIUM, HAS_CHROMIUM, launchChromium } from './helpers/chromium.ts';
import { ensureDist } from './helpers/dist.ts';
import { HAS_REDIS, NO_REDIS_REASON, RedisServer } from './helpers/redis.ts';
import { until } from './helpers/wait.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const skip = !HAS_REDIS ? NO_REDIS_REASON : !HAS_CHROMIUM ? `${CHROMIUM} not found` : '';
if (skip) console.log(`skipping the two-worker chat: ${skip}`);

describe.skipIf(skip !== '')('npm start with WORKERS=2 and REDIS_URL', () => {
  let redis: RedisServer;
  let browser: Browser;
  let chat: ChildProcess;
  let url = '';
  let out = '';

  beforeAll(async () => {
    ensureDist();
    redis = await RedisServer.start();
    chat = spawn(process.execPath, ['examples/chat/server.mjs'], {
      cwd: ROOT, env: { ...process.env, PORT: '0', WORKERS: '2', REDIS_URL: redis.url }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    chat.stdout!.on('data', (d) => { out += d; });
    chat.stderr!.on('data', (d) => { out += d; });
    await until(() => /Chat running at http:\/\/127\.0\.0\.1:\d+\/ on 2 workers/.test(out), 30_000, () => `the URL on stdout (got ${JSON.stringify(out)})`);
    url = /Chat running at (\S+)/.exec(out)![1]!;
    browser = await launchChromium();
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    if (chat && chat.exitCode === null) {
      const exited = new Promise((r) => chat.once('exit', r));
      chat.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (chat.exitCode === null) chat.kill('SIGKILL');
    }
    await redis?.stop();
  });

  /** A tab with the chat open; resolves with the worker its WebSocket landed on (X-Chat-Worker in the 101). */
  async function tab(): Promise<{ page: Page; worker: string }> {
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    const cdp = await ctx.newCDPSession(page);
    await cdp.send('Network.enable');
    const worker = new Promise<string>((resolve) => {
      cdp.on('Network.webSocketHandshakeResponseReceived', (e: any) => {
        const h = e.response.headers;
        resolve(h['X-Chat-Worker'] ?? h['x-chat-worker']);
      });
    });
    await page.goto(url);
    await page.waitForFunction(() => document.getElementById('status')?.dataset.state === 'open', undefined, { timeout: 15_000 });
    return { page, worker: await worker };
  }

  async function say(page: Page, text: string): Promise<void> {
    const input = page.locator('form[name="publish"] input[name="message"]');
    await input.fill(text);
    await input.press('Enter');
  }

  async function waitForMessages(page: Page, count: number): Promise<string[]> {
    await page.waitForFunction((n) => document.querySelectorAll('#messages > div').length >= n, count, { timeout: 15_000 });
    return page.locator('#messages > div').evaluateAll((els) => els.map((e) => e.textContent ?? ''));
  }

  it('two tabs on different workers chat with each other', async () => {
    // node:cluster hands connections to the workers in turn; open tabs until two sockets sit on different workers.
    const tabs = [await tab()];
    while (!tabs.some((t) => t.worker !== tabs[0]!.worker)) {
      if (tabs.length >= 8) throw new Error(`8 tabs, all on worker ${tabs[0]!.worker}`);
      tabs.push(await tab());
    }
    const a = tabs[0]!;
    const b = tabs.find((t) => t.worker !== a.worker)!;
    expect(new Set([a.worker, b.worker])).toEqual(new Set(['1', '2']));
    await say(a.page, `Hello from worker ${a.worker}`);
    expect(await waitForMessages(b.page, 1)).toEqual([`Hello from worker ${a.worker}`]);
    await say(b.page, `And back from worker ${b.worker}`);
    const both = [`Hello from worker ${a.worker}`, `And back from worker ${b.worker}`];
    expect(await waitForMessages(a.page, 2)).toEqual(both);
    expect(await waitForMessages(b.page, 2)).toEqual(both);
    // Every tab, whichever worker it is on, saw both messages once, in order.
    for (const t of tabs) expect(await waitForMessages(t.page, 2)).toEqual(both);
  }, 120_000);
});
