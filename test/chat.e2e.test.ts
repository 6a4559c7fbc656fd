// The chat demo (examples/chat) in a real browser: Debian's Chromium driven by
// playwright-core. Two tabs chat, messages are cut to 50 characters and shown
// as text, the hello demo runs open → message → close(1000), and the page
// reconnects by itself when the server goes away and comes back.
// Skipped only when /usr/bin/chromium is absent (.ci/run installs it).
import { describe, it, expect, beforeAll, afterAll, afterEach } from 'vitest';
import type { Server } from 'node:http';
import type { Browser, BrowserContext, Page } from 'playwright-core';

import { CHROMIUM, HAS_CHROMIUM, launchChromium } from './helpers/chromium.ts';
import { ensureDist } from './helpers/dist.ts';
if (!HAS_CHROMIUM) {
  console.warn(`chat.e2e: skipped, ${CHROMIUM} not found (install it with: apt-get install -y chromium)`);
}

// ---- loading the chat (it imports ../../dist/index.js, as `npm start` does) ----

interface Chat {
  server: Server;
  url: string;
  close(options?: { timeout?: number }): Promise<void>;
}
interface ChatModule {
  createChatServer(options?: { port?: number; host?: string; helloCloseDelay?: number }): Promise<Chat>;
}

const APP = '../examples/chat/app.mjs';

describe.skipIf(!HAS_CHROMIUM)(`chat in Chromium (${HAS_CHROMIUM ? CHROMIUM : `skipped: ${CHROMIUM} not found`})`, () => {
  let app: ChatModule;
  let browser: Browser;
  const chats: Chat[] = [];
  const contexts: BrowserContext[] = [];
  const pageErrors: string[] = [];

  beforeAll(async () => {
    ensureDist();
    app = (await import(/* @vite-ignore */ APP)) as ChatModule;
    browser = await launchChromium();
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
  });

  afterEach(async () => {
    await Promise.all(contexts.splice(0).map((c) => c.close()));
    await Promise.all(chats.splice(0).map((c) => c.close({ timeout: 200 })));
    expect(pageErrors.splice(0)).toEqual([]);
  });

  async function startChat(options: { port?: number; helloCloseDelay?: number } = {}): Promise<Chat> {
    const chat = await app.createChatServer({ port: 0, ...options });
    chats.push(chat);
    return chat;
  }

  /** A tab on `url`; page errors and CSP violations fail the test. */
  async function open(url: string, context?: BrowserContext): Promise<Page> {
    let ctx = context;
    if (!ctx) {
      ctx = await browser.newContext();
      contexts.push(ctx);
    }
    const page = await ctx.newPage();
    page.on('pageerror', (err) => pageErrors.push(`${url}: ${err.message}`));
    page.on('console', (msg) => {
      if (msg.type() === 'error' && /Content.Security.Policy|Refused to/i.test(msg.text())) pageErrors.push(`${url}: ${msg.text()}`);
    });
    await page.goto(url);
    return page;
  }

  const state = (page: Page): Promise<string | undefined> => page.locator('#status').evaluate((el) => (el as HTMLElement).dataset.state);

  async function waitForState(page: Page, wanted: string, timeout = 10_000): Promise<void> {
    await page.waitForFunction((s) => document.getElementById('status')?.dataset.state === s, wanted, { timeout });
  }

  /** Types into the chapter's form and presses Enter. */
  async function say(page: Page, text: string): Promise<void> {
    const input = page.locator('form[name="publish"] input[name="message"]');
    await input.fill(text);
    await input.press('Enter');
  }

  const messages = (page: Page): Promise<string[]> =>
    page.locator('#messages > div').evaluateAll((els) => els.map((e) => e.textContent ?? ''));

  async function waitForMessages(page: Page, count: number, timeout = 10_000): Promise<string[]> {
    await page.waitForFunction((n) => document.querySelectorAll('#messages > div').length >= n, count, { timeout });
    return messages(page);
  }

  it('a message typed in one tab appears in both', async () => {
    const chat = await startChat();
    const ctx = await browser.newContext();
    contexts.push(ctx);
    const a = await open(chat.url, ctx);
    const b = await open(chat.url, ctx);
    await waitForState(a, 'open');
    await waitForState(b, 'open');
    expect(await a.locator('#status').textContent()).toBe('Connected');
    await say(a, 'Hello from tab A');
    expect(await waitForMessages(a, 1)).toEqual(['Hello from tab A']);
    expect(await waitForMessages(b, 1)).toEqual(['Hello from tab A']);
    expect(await a.locator('input[name="message"]').inputValue()).toBe(''); // cleared after sending
    await say(b, 'And back from B');
    expect(await waitForMessages(a, 2)).toEqual(['Hello from tab A', 'And back from B']);
    expect(await waitForMessages(b, 2)).toEqual(['Hello from tab A', 'And back from B']);
  });

  it('a 60-character message arrives cut to 50; emoji stay whole; a <b> tag arrives as text', async () => {
    const chat = await startChat();
    const a = await open(chat.url);
    const b = await open(chat.url);
    await waitForState(a, 'open');
    await waitForState(b, 'open');
    const sixty = '123456789 '.repeat(6);
    expect(sixty.length).toBe(60);
    await say(a, sixty);
    await say(a, '😀'.repeat(60));
    await say(a, '<b>bold</b> <img src=x onerror="throw new Error(1)">');
    const got = await waitForMessages(b, 3);
    expect(got[0]).toBe(sixty.slice(0, 50));
    expect(got[0].length).toBe(50);
    expect(got[1]).toBe('😀'.repeat(50));
    expect(got[2]).toBe('<b>bold</b> <img src=x onerror="throw new Error(1)">'.slice(0, 50));
    expect(got[2].startsWith('<b>bold</b>')).toBe(true);
    for (const page of [a, b]) {
      expect(await page.locator('#messages b, #messages img').count()).toBe(0); // text, not markup
      expect(await page.locator('#messages').innerHTML()).toContain('&lt;b&gt;bold&lt;/b&gt;');
    }
    expect(await messages(a)).toEqual(got);
  });

  it('the hello demo shows open → message → close with code 1000, wasClean', async () => {
    const chat = await startChat(); // the chapter's 5 s before the server closes
    const page = await open(new URL('demo/hello', chat.url).href);
    await page.waitForFunction(() => document.querySelectorAll('#log li').length >= 4, undefined, { timeout: 15_000 });
    const log = await page.locator('#log li').evaluateAll((els) => els.map((e) => e.textContent));
    expect(log).toEqual([
      '[open] Connection established',
      'Sending to server',
      '[message] Data received from server: Hello from server, John',
      '[close] Connection closed cleanly, code=1000 reason=Bye!', // only when event.wasClean
    ]);
  }, 30_000);

  it('reconnects by itself when the server restarts on the same port, and chats again', async () => {
    const first = await startChat();
    const port = Number(new URL(first.url).port);
    const a = await open(first.url);
    const b = await open(first.url);
    await waitForState(a, 'open');
    await waitForState(b, 'open');
    await say(a, 'before');
    await waitForMessages(b, 1);

    // Every text the status shows from here on, in order.
    await a.evaluate(() => {
      const status = document.getElementById('status')!;
      const seen: string[] = ((window as unknown as { seen: string[] }).seen = []);
      new MutationObserver(() => seen.push(`${status.dataset.state}: ${status.textContent}`))
        .observe(status, { childList: true, characterData: true, subtree: true, attributes: true });
    });
    await first.close({ timeout: 500 });
    await waitForState(a, 'closed');
    await waitForState(b, 'closed');
    const seen = await a.evaluate(() => (window as unknown as { seen: string[] }).seen);
    expect(seen.find((t) => t.startsWith('closed:'))).toMatch(/^closed: Disconnected: closed with 1001 \(Server going away\)\. Reconnecting in \d+ s…$/);
    expect(await a.locator('form[name="publish"] input[type="submit"]').isDisabled()).toBe(true);

    // Down for a moment: the page's retries fail and it backs off.
    await new Promise((r) => setTimeout(r, 1500));
    expect(await state(a)).not.toBe('open');
    const later = await a.evaluate(() => (window as unknown as { seen: string[] }).seen);
    expect(later.some((t) => t.startsWith('connecting: Reconnecting… (attempt'))).toBe(true); // it tried
    expect(later.some((t) => t.startsWith('open:'))).toBe(false);

    await startChat({ port });
    await waitForState(a, 'open', 20_000); // backoff is capped at 10 s
    await waitForState(b, 'open', 20_000);
    await say(b, 'after the restart');
    expect(await waitForMessages(a, 2)).toEqual(['before', 'after the restart']);
    expect(await waitForMessages(b, 2)).toEqual(['before', 'after the restart']);
  }, 60_000);
});
