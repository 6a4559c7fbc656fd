// Chromium opens WebSockets over HTTP/2 (RFC 8441) from a page served over h2:
// the server sees each socket arrive as a stream of the page's own session,
// several sockets on one connection, echo and clean closes. The certificate is
// made by the test (openssl) and pinned in Chromium by its SPKI hash.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { once } from 'node:events';
import http2, { type Http2SecureServer, type ServerHttp2Session } from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { Browser } from 'playwright-core';
import { WebSocketServer, type WebSocket } from '../src/index.ts';
import { CHROMIUM, HAS_CHROMIUM, launchChromium } from './helpers/chromium.ts';
import { opensslPath, selfSignedCert } from './helpers/cert.ts';
import { T, until, withTimeout } from './helpers/wait.ts';

const CAN_RUN = HAS_CHROMIUM && opensslPath() !== null;
if (!HAS_CHROMIUM) console.log(`h2 Chromium test skipped: ${CHROMIUM} not found (Debian package chromium)`);
else if (!CAN_RUN) console.log('h2 Chromium test skipped: openssl not found (Debian package openssl)');

const PAGE = `<!doctype html><meta charset="utf-8"><title>h2</title><script>
window.openSockets = (n, path) => Promise.all(Array.from({ length: n }, (_, i) => new Promise((resolve, reject) => {
  const ws = new WebSocket('wss://' + location.host + path + '?i=' + i);
  ws.onopen = () => ws.send('hello ' + i);
  ws.onmessage = (e) => { ws.close(1000, 'done ' + i); resolve(String(e.data)); };
  ws.onerror = () => reject(new Error('socket ' + i + ' failed'));
})));
window.closeCodes = [];
window.openAndWait = (path) => new Promise((resolve) => {
  const ws = new WebSocket('wss://' + location.host + path);
  ws.onopen = () => resolve('open');
  ws.onclose = (e) => window.closeCodes.push(e.code);
});
</script>`;

describe.skipIf(!CAN_RUN)('Chromium over HTTP/2', () => {
  let browser: Browser;
  let server: Http2SecureServer;
  let wss: WebSocketServer;
  let port: number;
  const sessions: ServerHttp2Session[] = [];
  const arrivals: Array<{ version: string; session: unknown; url: string; ws: WebSocket }> = [];
  const closes: number[] = [];

  beforeAll(async () => {
    const { key, cert, spki } = selfSignedCert();
    // The page comes from the user's own request handler on the same server.
    server = http2.createSecureServer({ key, cert, allowHTTP1: true }, (req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(PAGE);
    });
    server.on('session', (s) => sessions.push(s));
    wss = new WebSocketServer({ server, path: '/ws', perMessageDeflate: true });
    wss.on('connection', (ws, req) => {
      const stream = (req as unknown as { stream?: { session: unknown } }).stream;
      arrivals.push({ version: req.httpVersion, session: stream?.session, url: req.url!, ws });
      ws.on('message', (d, isBinary) => ws.send(isBinary ? d : `echo ${d}`));
      ws.on('close', (code) => closes.push(code));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
    browser = await launchChromium([`--ignore-certificate-errors-spki-list=${spki}`]);
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    for (const s of sessions) s.destroy();
    await withTimeout(new Promise<void>((r) => server.close(() => r())), T, 'server close').catch(() => undefined);
  });

  it('opens several sockets as streams of the page\'s HTTP/2 connection, echoes and closes cleanly', async () => {
    const page = await browser.newPage();
    const res = await page.goto(`https://127.0.0.1:${port}/`);
    expect(res?.status()).toBe(200);
    expect(await page.evaluate(() => performance.getEntriesByType('navigation')[0] && (performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming).nextHopProtocol)).toBe('h2');
    const replies = await withTimeout(page.evaluate(() => (window as unknown as { openSockets(n: number, p: string): Promise<string[]> }).openSockets(5, '/ws')), 2 * T, 'sockets');
    expect(replies).toEqual([0, 1, 2, 3, 4].map((i) => `echo hello ${i}`));
    expect(arrivals.length).toBe(5);
    for (const a of arrivals) expect(a.version).toBe('2.0');
    // All on the one TLS connection that served the page.
    expect(sessions.length).toBe(1);
    for (const a of arrivals) expect(a.session).toBe(sessions[0]);
    for (const a of arrivals) expect(a.ws.extensions).toMatch(/permessage-deflate/);
    await until(() => closes.length === 5, T, 'server-side closes');
    expect(closes).toEqual([1000, 1000, 1000, 1000, 1000]);
    await page.close();
  });

  it('a server-side terminate() resets only its stream: the page sees 1006, the others stay open', async () => {
    const page = await browser.newPage();
    await page.goto(`https://127.0.0.1:${port}/`);
    const before = arrivals.length;
    const open = () => page.evaluate(() => (window as unknown as { openAndWait(p: string): Promise<string> }).openAndWait('/ws'));
    expect(await withTimeout(open(), T, 'open a')).toBe('open');
    expect(await withTimeout(open(), T, 'open b')).toBe('open');
    await until(() => arrivals.length === before + 2, T, 'arrivals');
    arrivals[before].ws.terminate();
    await until(() => closes.length >= 6, T, 'server close');
    const codes = await page.evaluate(async () => {
      for (let i = 0; i < 100 && (window as unknown as { closeCodes: number[] }).closeCodes.length < 1; i++) await new Promise((r) => setTimeout(r, 20));
      return (window as unknown as { closeCodes: number[] }).closeCodes;
    });
    expect(codes).toEqual([1006]);
    expect(arrivals[before + 1].ws.readyState).toBe(1);
    arrivals[before + 1].ws.send('still');
    await page.close();
  });
});

describe.skipIf(!CAN_RUN)('the chat over HTTP/2 (npm start with HTTPS=1)', () => {
  it('two tabs load the page over h2 and chat over WebSocket streams of their connections; closing the server disconnects them', async () => {
    const { ensureDist } = await import('./helpers/dist.ts');
    ensureDist();
    const APP = '../examples/chat/app.mjs';
    const app = (await import(/* @vite-ignore */ APP)) as {
      createChatServer(o: object): Promise<{ url: string; wss: WebSocketServer; close(o?: object): Promise<void> }>;
    };
    const { key, cert, spki } = selfSignedCert();
    const chat = await app.createChatServer({ port: 0, tls: { key, cert } });
    const browser = await launchChromium([`--ignore-certificate-errors-spki-list=${spki}`]);
    try {
      const ctx = await browser.newContext();
      const [a, b] = [await ctx.newPage(), await ctx.newPage()];
      for (const p of [a, b]) {
        await p.goto(chat.url);
        await p.waitForFunction(() => document.getElementById('status')?.dataset.state === 'open', null, { timeout: 10_000 });
        expect(await p.evaluate(() => (performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming).nextHopProtocol)).toBe('h2');
      }
      // Each server-side socket sits on an HTTP/2 stream (it has a session), not a TCP socket.
      expect(chat.wss.clients.size).toBe(2);
      for (const ws of chat.wss.clients) expect((ws as unknown as { _socket: { session?: unknown } })._socket.session).toBeTruthy();
      const input = a.locator('form[name="publish"] input[name="message"]');
      await input.fill('over h2');
      await input.press('Enter');
      await b.waitForFunction(() => document.querySelectorAll('#messages > div').length >= 1, null, { timeout: 10_000 });
      expect(await b.locator('#messages > div').first().textContent()).toBe('over h2');
      await withTimeout(chat.close({ timeout: 2000 }), T, 'chat close');
      await a.waitForFunction(() => document.getElementById('status')?.dataset.state !== 'open', null, { timeout: 10_000 });
      await ctx.close();
    } finally {
      await browser.close();
      await chat.close({ timeout: 200 });
    }
  }, 60_000);
});
