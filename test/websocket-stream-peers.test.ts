// WebSocketStream against real peers that have their own: Chromium's
// WebSocketStream (Debian's /usr/bin/chromium via playwright-core) against our
// Node server taking each connection with WebSocketStream.from(ws), in both
// directions and with backpressure visible on the server's socket; and Deno's
// WebSocketStream (deno run --unstable-net) against the same server.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import http from 'node:http';
import type { Socket, AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { WebSocketServer, WebSocketStream, type WebSocket } from '../src/index.ts';
import { CHROMIUM, HAS_CHROMIUM, launchChromium } from './helpers/chromium.ts';
import { T, sleep, until, withTimeout } from './helpers/wait.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MiB = 1024 * 1024;

interface Conn { ws: WebSocket; stream: WebSocketStream; socket: Socket; path: string }

/** Our server: an HTTP page at / (for the browser's origin), WebSocket upgrades taken as WebSocketStreams. */
async function startServer(onStream: (c: Conn) => void) {
  const server = http.createServer((_req, res) => { res.writeHead(200, { 'content-type': 'text/html' }); res.end('<!doctype html><title>wss</title>'); });
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws, req) => {
    const stream = WebSocketStream.from(ws);
    onStream({ ws, stream, socket: req.socket, path: req.url ?? '' });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    close: async () => {
      for (const c of wss.clients) c.terminate();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

/** Waits until `read()` has not changed for `quietMs` (bounded); returns the settled value. */
async function settled(read: () => number, quietMs: number, ms: number, what: string): Promise<number> {
  const deadline = Date.now() + ms;
  let last = read();
  let since = Date.now();
  for (;;) {
    await sleep(50);
    const v = read();
    if (v !== last) { last = v; since = Date.now(); }
    else if (Date.now() - since >= quietMs) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what} to settle (at ${v})`);
  }
}

describe.skipIf(!HAS_CHROMIUM)(`Chromium's WebSocketStream against our server (${HAS_CHROMIUM ? CHROMIUM : 'skipped: no /usr/bin/chromium'})`, () => {
  let browser: Browser;
  let page: Page;
  const conns: Conn[] = [];
  let srv: Awaited<ReturnType<typeof startServer>>;
  const echo = new Set(['/echo']);

  beforeAll(async () => {
    srv = await startServer((c) => {
      conns.push(c);
      if (echo.has(c.path)) c.stream.opened.then(({ readable, writable }) => readable.pipeTo(writable)).catch(() => {});
    });
    browser = await launchChromium();
    page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${srv.port}/`);
    expect(await page.evaluate(() => typeof (globalThis as { WebSocketStream?: unknown }).WebSocketStream)).toBe('function');
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    await srv?.close();
  });

  it('page → server → page: strings stay text, Uint8Array binary; the page closes with a code, our stream sees it', async () => {
    const out = await page.evaluate(async (port) => {
      const ws = new (globalThis as any).WebSocketStream(`ws://127.0.0.1:${port}/echo`, { protocols: ['chat'] });
      const { readable, writable, protocol } = await ws.opened;
      const r = readable.getReader();
      const w = writable.getWriter();
      await w.write('hello ✓');
      const text = (await r.read()).value;
      await w.write(new Uint8Array([1, 2, 3, 255]));
      const bin = (await r.read()).value;
      ws.close({ closeCode: 4001, reason: 'page bye' });
      const closed = await ws.closed;
      // Chromium 156 hands binary messages over as ArrayBuffer.
      return { protocol, text, textType: typeof text, bin: Array.from(new Uint8Array(bin)), binType: Object.prototype.toString.call(bin), closed };
    }, srv.port);
    expect(out).toEqual({
      protocol: 'chat', text: 'hello ✓', textType: 'string', bin: [1, 2, 3, 255], binType: '[object ArrayBuffer]',
      closed: { closeCode: 4001, reason: 'page bye' },
    });
    const server = conns.find((c) => c.path === '/echo')!;
    expect(await withTimeout(server.stream.closed, T, 'server closed')).toEqual({ closeCode: 4001, reason: 'page bye' });
  });

  it('server → page: our writable sends text and binary, our close({ closeCode, reason }) reaches the page', async () => {
    const before = conns.length;
    const pending = page.evaluate(async (port) => {
      const ws = new (globalThis as any).WebSocketStream(`ws://127.0.0.1:${port}/push`);
      const { readable } = await ws.opened;
      const got: unknown[] = [];
      for await (const m of readable) got.push(typeof m === 'string' ? m : Array.from(new Uint8Array(m)));
      return { got, closed: await ws.closed };
    }, srv.port);
    await until(() => conns.length > before, T, 'the page to connect');
    const c = conns[conns.length - 1];
    const { writable } = await withTimeout(c.stream.opened, T, 'server opened');
    const w = writable.getWriter();
    await w.write('from the server');
    await w.write(new Uint8Array([9, 8, 7]));
    await w.write(new ArrayBuffer(2));
    c.stream.close({ closeCode: 4002, reason: 'server bye' });
    expect(await withTimeout(pending, T, 'the page')).toEqual({
      got: ['from the server', [9, 8, 7], [0, 0]], closed: { closeCode: 4002, reason: 'server bye' },
    });
    expect(await withTimeout(c.stream.closed, T, 'server closed')).toEqual({ closeCode: 4002, reason: 'server bye' });
  });

  /**
   * The page opens a WebSocketStream to `path` (kept as `ws`) and writes 128 messages of 256 KiB,
   * message i filled with i, in the background (`sent` counts the resolved writes, `writing` is
   * their promise); resolves with our side of the connection.
   */
  async function pageWrites32MiB(path: string): Promise<Conn> {
    const before = conns.length;
    await page.evaluate(async ({ port, path }) => {
      const g = globalThis as any;
      g.sent = 0;
      g.ws = new g.WebSocketStream(`ws://127.0.0.1:${port}${path}`);
      const { writable } = await g.ws.opened;
      const w = writable.getWriter();
      g.writing = (async () => {
        for (let i = 0; i < 128; i++) { await w.write(new Uint8Array(256 * 1024).fill(i)); g.sent++; }
      })();
    }, { port: srv.port, path });
    await until(() => conns.length > before, T, 'the page to connect');
    return conns[conns.length - 1];
  }

  it('backpressure: while our server does not read, it stops reading the socket and the page\'s writes wait; then all 32 MiB arrive intact', async () => {
    const c = await pageWrites32MiB('/slow-server');
    const { readable } = await withTimeout(c.stream.opened, T, 'server opened');
    const stalledAt = await settled(() => c.socket.bytesRead, 1000, 20_000, 'the server socket\'s bytesRead');
    const sentWhileStalled = await page.evaluate(() => (globalThis as any).sent as number);
    console.log(`Chromium -> our server, server not reading: bytesRead stalled at ${(stalledAt / MiB).toFixed(2)} MiB of 32 MiB; ` +
      `page writes resolved: ${sentWhileStalled} of 128; ws.isPaused: ${c.ws.isPaused}`);
    expect(c.ws.isPaused).toBe(true);
    expect(stalledAt).toBeLessThan(16 * MiB);
    expect(sentWhileStalled).toBeLessThan(128);
    // Now read: everything comes, in order, intact.
    let bytes = 0;
    let i = 0;
    for await (const m of readable as unknown as AsyncIterable<Uint8Array>) {
      expect(m.length).toBe(256 * 1024);
      expect(m[0] === i % 256 && m[m.length - 1] === i % 256).toBe(true);
      bytes += m.length;
      if (++i === 128) break;
    }
    expect(bytes).toBe(32 * MiB);
    await withTimeout(page.evaluate(() => (globalThis as any).writing), T, 'the page\'s writes');
  }, 60_000);

  it('backpressure: a page that stops reading makes our echo server stop reading (its writes wait), then everything is echoed', async () => {
    const c = await pageWrites32MiB('/echo');
    const readStall = await settled(() => c.socket.bytesRead, 1000, 20_000, 'the server socket\'s bytesRead');
    const written = c.socket.bytesWritten;
    console.log(`Chromium page not reading, our server echoing: server read ${(readStall / MiB).toFixed(2)} MiB, wrote ${(written / MiB).toFixed(2)} MiB ` +
      `of 32 MiB, then stopped; ws.isPaused: ${c.ws.isPaused}`);
    expect(readStall).toBeLessThan(24 * MiB);
    expect(c.ws.isPaused).toBe(true);
    const echoed = await page.evaluate(async () => {
      const g = globalThis as any;
      const { readable } = await g.ws.opened;
      let bytes = 0;
      let i = 0;
      let ok = true;
      for await (const b of readable) {
        const m = new Uint8Array(b);
        ok &&= m.length === 256 * 1024 && m[0] === i % 256;
        bytes += m.length;
        if (++i === 128) break;
      }
      await g.writing;
      return { bytes, ok };
    });
    expect(echoed).toEqual({ bytes: 32 * MiB, ok: true });
    expect(c.socket.bytesRead).toBeGreaterThan(32 * MiB);
  }, 60_000);
});

describe('Deno\'s WebSocketStream (deno run --unstable-net) against our server', () => {
  it('echoes text and binary through our WebSocketStream.from(ws), and the close code and reason go both ways', async () => {
    const conns: Conn[] = [];
    const srv = await startServer((c) => {
      conns.push(c);
      c.stream.opened.then(async ({ readable, writable }) => {
        const w = writable.getWriter();
        for await (const m of readable as unknown as AsyncIterable<string | Uint8Array>) {
          if (m === 'close please') { c.stream.close({ closeCode: 4003, reason: 'as asked' }); break; }
          await w.write(m);
        }
      }).catch(() => {});
    });
    try {
      const out = await new Promise<string>((resolve, reject) => {
        const child = spawn(`${ROOT}node_modules/.bin/deno`, ['run', '--unstable-net', `--allow-net=127.0.0.1:${srv.port}`,
          'test/peers/deno-websocketstream.mjs', String(srv.port)], { cwd: ROOT, env: { ...process.env, NO_COLOR: '1', DENO_NO_UPDATE_CHECK: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d) => { stdout += d; });
        child.stderr.on('data', (d) => { stderr += d; });
        const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
        child.on('close', (code) => { clearTimeout(timer); code === 0 ? resolve(stdout) : reject(new Error(`deno exited ${code}: ${stderr}${stdout}`)); });
      });
      const { closedByDeno, ...result } = JSON.parse(out.trim().split('\n').pop()!);
      expect(result).toEqual({
        text: 'hello from Deno ✓', bin: [1, 2, 3, 250], big: 1048576, bigIntact: true, closedByServer: { closeCode: 4003, reason: 'as asked' },
      });
      // Deno's own close race (see the peer) loses the code of our reply to a close Deno started, never its reason.
      expect([{ closeCode: 4000, reason: 'deno bye' }, { reason: 'deno bye', lostToDenoRace: true }]).toContainEqual(closedByDeno);
      expect(await withTimeout(conns[0].stream.closed, T, 'server closed')).toEqual({ closeCode: 4000, reason: 'deno bye' });
    } finally {
      await srv.close();
    }
  }, 60_000);
});
