// allowedOrigins with a real browser: Chromium loads a page from the server's
// own origin (127.0.0.1:A) and from another (127.0.0.2:B); the first page's
// socket opens and echoes, the second's is refused with 403 before verifyClient.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import diagnosticsChannel from 'node:diagnostics_channel';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser } from 'playwright-core';
import { WebSocketServer, type VerifyClientInfo } from '../src/index.ts';
import { CHROMIUM, HAS_CHROMIUM, launchChromium } from './helpers/chromium.ts';
import { echoMessages } from './helpers/servers.ts';

const PAGE = '<!doctype html><title>origin</title>';

async function listen(server: http.Server, host: string): Promise<string> {
  await new Promise<void>((r) => server.listen(0, host, r));
  return `http://${host}:${(server.address() as AddressInfo).port}`;
}

// What the page's socket did: opened and echoed, or failed (a refused handshake is a 1006 close in the browser).
function tryWebSocket(wsUrl: string): Promise<{ opened: boolean; echo?: string; code?: number }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(wsUrl);
    const timer = setTimeout(() => resolve({ opened: false, code: -1 }), 5000);
    ws.onopen = () => ws.send('same origin');
    ws.onmessage = (e) => { clearTimeout(timer); ws.close(1000); resolve({ opened: true, echo: String(e.data) }); };
    ws.onclose = (e) => { clearTimeout(timer); resolve({ opened: false, code: e.code }); };
  });
}

describe.skipIf(!HAS_CHROMIUM)(`allowedOrigins in Chromium (${HAS_CHROMIUM ? CHROMIUM : 'skipped: no /usr/bin/chromium'})`, () => {
  let browser: Browser;
  let own: http.Server, other: http.Server;
  let wss: WebSocketServer;
  let ownOrigin: string, otherOrigin: string;
  const verified: Array<string | undefined> = [];
  const refusedOrigins: Array<string | undefined> = [];
  const onRefused = (m: unknown): void => { refusedOrigins.push((m as { request: http.IncomingMessage }).request.headers.origin); };

  beforeAll(async () => {
    browser = await launchChromium();
    own = http.createServer((_req, res) => res.end(PAGE));
    other = http.createServer((_req, res) => res.end(PAGE));
    ownOrigin = await listen(own, '127.0.0.1');
    otherOrigin = await listen(other, '127.0.0.2');
    wss = new WebSocketServer({
      server: own, allowedOrigins: [ownOrigin],
      verifyClient: (info: VerifyClientInfo) => { verified.push(info.origin); return true; },
    });
    wss.on('connection', (ws) => { echoMessages(ws); ws.on('error', () => {}); });
    diagnosticsChannel.subscribe('wasmsocket:server:handshakeRefused', onRefused);
  }, 120_000);

  afterAll(async () => {
    diagnosticsChannel.unsubscribe('wasmsocket:server:handshakeRefused', onRefused);
    await browser?.close();
    for (const c of wss?.clients ?? []) c.terminate();
    await Promise.all([own, other].map((s) => new Promise((r) => s?.close(r))));
  });

  it('a page on another origin is refused (403) and a same-origin page connects and echoes', async () => {
    const wsUrl = ownOrigin.replace('http', 'ws') + '/';
    const foreign = await browser.newPage();
    // The page sees only a 1006 close; Chromium names the status on the console.
    const logs: string[] = [];
    foreign.on('console', (m) => logs.push(m.text()));
    await foreign.goto(otherOrigin + '/');
    const refused = await foreign.evaluate(tryWebSocket, wsUrl);
    expect(refused).toEqual({ opened: false, code: 1006 });
    expect(logs.join('\n')).toContain('Unexpected response code: 403');
    expect(refusedOrigins).toEqual([otherOrigin]);
    expect(wss.stats.refused.origin).toBe(1);
    expect(verified).toEqual([]); // refused before verifyClient
    await foreign.close();

    const same = await browser.newPage();
    await same.goto(ownOrigin + '/');
    expect(await same.evaluate(tryWebSocket, wsUrl)).toEqual({ opened: true, echo: 'same origin' });
    expect(verified).toEqual([ownOrigin]);
    await same.close();
  });
});
