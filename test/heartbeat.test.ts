// Idle timeout / heartbeat (src/core/heartbeat.ts): one timer per server pings
// silent peers and terminates those that stay silent for idleTimeout; any
// inbound frame counts as life. Real peers on 127.0.0.1: ws clients with and
// without auto-pong, a raw TCP peer that stops reading, 10,000 idle ws clients
// in a child process, and Chromium's automatic pongs.
import { describe, expect, it } from 'vitest';
import { once } from 'node:events';
import http from 'node:http';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { WebSocket as WsClient, WebSocketServer as WsServer } from 'ws';
import { WebSocketServer, WebSocket } from '../src/index.ts';
import { cleanupList, closeWss, portWhenListening, rawPeer } from './helpers/servers.ts';
import { T, sleep, until, withTimeout } from './helpers/wait.ts';
import { HAS_CHROMIUM, CHROMIUM, launchChromium } from './helpers/chromium.ts';

const cleanups = cleanupList({ bestEffort: true, ms: T });

async function server(opts: Record<string, unknown>): Promise<{ wss: WebSocketServer; port: number; closes: Array<{ code: number; at: number }> }> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', ...opts });
  cleanups.push(() => closeWss(wss));
  const port = await portWhenListening(wss);
  const closes: Array<{ code: number; at: number }> = [];
  wss.on('connection', (ws) => ws.on('close', (code) => closes.push({ code, at: Date.now() })));
  return { wss, port, closes };
}

function wsClient(port: number, opts: Record<string, unknown> = {}): WsClient {
  const c = new WsClient(`ws://127.0.0.1:${port}/`, opts);
  cleanups.push(() => c.terminate());
  return c;
}

describe('idle timeout', () => {
  it('a ws client with autoPong: false is pinged, then terminated within idleTimeout of its last frame', async () => {
    const IDLE = 1000;
    const { wss, port, closes } = await server({ idleTimeout: IDLE });
    const timeouts: string[] = [];
    wss.on('timeout', (_ws, why) => timeouts.push(why));
    const c = wsClient(port, { autoPong: false });
    let pings = 0;
    c.on('ping', () => { pings++; });
    await withTimeout(once(c, 'open'), T, 'open');
    const lastFrame = Date.now(); // the handshake is the last thing it sent
    const [code] = await withTimeout(once(c, 'close'), IDLE * 3, 'the server to drop the silent peer');
    const gone = Date.now() - lastFrame;
    console.log(`[heartbeat] idleTimeout ${IDLE} ms: a ws client with autoPong: false pinged ${pings}x, terminated ${gone} ms after its last frame`);
    expect(code).toBe(1006); // terminated: no close handshake with a peer that does not answer
    expect(pings).toBeGreaterThanOrEqual(1);
    // 4/5 of idleTimeout at least; idleTimeout at most, plus timer slack on a shared machine.
    expect(gone).toBeGreaterThanOrEqual(IDLE * 0.8 - 50);
    expect(gone).toBeLessThanOrEqual(IDLE + 300);
    await until(() => closes.length === 1, T, 'server close');
    expect(timeouts).toEqual(['idle']);
    expect(wss.stats.idleTimeouts).toBe(1);
  });

  it('a raw TCP peer that stops answering after the handshake is gone within idleTimeout', async () => {
    const IDLE = 800;
    const { wss, port } = await server({ idleTimeout: IDLE });
    const { sock, ws } = await rawPeer<WebSocket>(wss, port, cleanups);
    const t0 = Date.now();
    sock.pause(); // reads nothing more, answers nothing
    await withTimeout(once(ws, 'close'), IDLE * 3, 'server-side close');
    expect(Date.now() - t0).toBeLessThanOrEqual(IDLE + 300);
    sock.resume(); // reading again, it finds the connection closed
    await withTimeout(once(sock, 'close'), T, 'TCP close');
  });

  it('pongs keep a quiet peer alive; so do messages from a peer that never pongs', async () => {
    const IDLE = 600;
    const { wss, port, closes } = await server({ idleTimeout: IDLE });
    wss.on('connection', (ws) => ws.on('message', () => undefined));
    const ponging = wsClient(port); // ws answers pings by itself
    const talking = wsClient(port, { autoPong: false });
    let pingsSeen = 0;
    ponging.on('ping', () => { pingsSeen++; });
    await Promise.all([once(ponging, 'open'), once(talking, 'open')]);
    const talk = setInterval(() => talking.send('still here'), IDLE / 4);
    cleanups.push(() => clearInterval(talk));
    await sleep(IDLE * 4);
    clearInterval(talk);
    expect(ponging.readyState).toBe(WsClient.OPEN);
    expect(talking.readyState).toBe(WsClient.OPEN);
    expect(pingsSeen).toBeGreaterThanOrEqual(2);
    expect(closes).toEqual([]);
    expect(wss.stats.idleTimeouts).toBe(0);
  });

  it('a peer that never reads while we send is terminated as stalled within idleTimeout of the queue stopping', async () => {
    const IDLE = 800;
    const { wss, port } = await server({ idleTimeout: IDLE });
    const timeouts: string[] = [];
    wss.on('timeout', (_ws, why) => timeouts.push(why));
    const { sock, ws } = await rawPeer<WebSocket>(wss, port, cleanups);
    sock.pause();
    // It keeps sending (masked pings: life), but takes none of our 16 MiB.
    const ping = Buffer.from([0x89, 0x80, 1, 2, 3, 4]);
    const keepTalking = setInterval(() => sock.write(ping), 100);
    cleanups.push(() => clearInterval(keepTalking));
    const big = Buffer.alloc(1024 * 1024, 7);
    for (let i = 0; i < 16; i++) ws.send(big);
    const t0 = Date.now();
    await withTimeout(once(ws, 'close'), IDLE * 4, 'stalled peer dropped');
    clearInterval(keepTalking);
    expect(Date.now() - t0).toBeLessThanOrEqual(IDLE + 500);
    expect(timeouts).toEqual(['stalled']);
    expect(wss.stats.stalledSends).toBe(1);
  });

  it('our client with idleTimeout drops a server that stops answering', async () => {
    const wss = new WsServer({ port: 0, host: '127.0.0.1', autoPong: false });
    cleanups.push(() => new Promise((r) => { for (const c of wss.clients) c.terminate(); wss.close(r); }));
    await once(wss, 'listening');
    const port = (wss.address() as AddressInfo).port;
    const IDLE = 600;
    const c = new WebSocket(`ws://127.0.0.1:${port}/`, { idleTimeout: IDLE });
    cleanups.push(() => c.terminate());
    let pinged = false;
    wss.on('connection', (s) => s.on('ping', () => { pinged = true; }));
    await withTimeout(once(c, 'open'), T, 'open');
    const t0 = Date.now();
    const [code] = await withTimeout(once(c, 'close'), IDLE * 3, 'client drops the silent server');
    expect(code).toBe(1006);
    expect(pinged).toBe(true);
    expect(Date.now() - t0).toBeLessThanOrEqual(IDLE + 300);
  });

  it('10,000 idle healthy ws peers all stay through three idle periods (one timer for all of them)', async () => {
    const N = 10_000;
    const IDLE = 3000;
    const { wss, port, closes } = await server({ idleTimeout: IDLE, backlog: 4096 });
    const child = spawn(process.execPath, [fileURLToPath(new URL('./helpers/idle-clients.mjs', import.meta.url)), String(port), String(N)],
      { stdio: ['pipe', 'pipe', 'inherit'] });
    cleanups.push(() => { child.stdin.end(); setTimeout(() => child.kill(), 2000).unref(); });
    let last = { open: 0, closed: 0, pings: 0, failed: 0 };
    createInterface({ input: child.stdout }).on('line', (l) => { last = JSON.parse(l); });
    await until(() => last.open === N, 90_000, () => `${N} clients open (have ${JSON.stringify(last)})`);
    expect(wss.clients.size).toBe(N);
    await sleep(IDLE * 3);
    child.stdin.write('report\n');
    await sleep(300);
    expect(last.closed).toBe(0);
    expect(last.failed).toBe(0);
    expect(wss.clients.size).toBe(N);
    expect(closes).toEqual([]);
    expect(wss.stats.idleTimeouts).toBe(0);
    // Every client was pinged at least twice: silence was seen and answered.
    expect(last.pings).toBeGreaterThanOrEqual(2 * N);
    console.log(`[heartbeat] ${N} idle ws clients, idleTimeout ${IDLE} ms: all ${wss.clients.size} still open after ${IDLE * 3} ms, ${last.pings} pings answered, 0 closes`);
  }, 180_000);
});

describe.skipIf(!HAS_CHROMIUM)(`idle timeout with Chromium (${HAS_CHROMIUM ? CHROMIUM : 'skipped: no /usr/bin/chromium'})`, () => {
  it("Chromium's automatic pongs keep an idle page connected", async () => {
    const IDLE = 800;
    const httpServer = http.createServer((_req, res) => res.end('<!doctype html><title>idle</title>'));
    const wss = new WebSocketServer({ server: httpServer, idleTimeout: IDLE });
    let pongs = 0;
    wss.on('connection', (ws) => ws.on('pong', () => { pongs++; }));
    await new Promise<void>((r) => httpServer.listen(0, '127.0.0.1', r));
    const browser = await launchChromium();
    cleanups.push(async () => { await browser.close(); for (const c of wss.clients) c.terminate(); httpServer.close(); });
    const url = `http://127.0.0.1:${(httpServer.address() as AddressInfo).port}/`;
    const page = await browser.newPage();
    await page.goto(url);
    const state = await page.evaluate(async ({ wsUrl, wait }) => {
      const ws = new globalThis.WebSocket(wsUrl); // the browser's own (the bare name is our import here)
      await new Promise((r, j) => { ws.onopen = r; ws.onerror = j; });
      let closed = false;
      ws.onclose = () => { closed = true; };
      await new Promise((r) => setTimeout(r, wait));
      return { readyState: ws.readyState, closed };
    }, { wsUrl: url.replace('http', 'ws'), wait: IDLE * 4 });
    expect(state).toEqual({ readyState: 1, closed: false });
    expect(pongs).toBeGreaterThanOrEqual(2); // pinged while silent, answered by the browser itself
    expect(wss.clients.size).toBe(1);
    expect(wss.stats.idleTimeouts).toBe(0);
  }, 90_000);
});
