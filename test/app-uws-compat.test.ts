// What running uWebSockets.js's published examples on wasmsocket/app showed
// (README "Coming from uWebSockets.js"), as tests of our own on real sockets:
// the default import its ESM examples write, a port listened to without a host
// reached as localhost over IPv4 and IPv6, properties a program puts on the
// socket, and a paused subscriber of a busy topic closed past maxBackpressure
// (closeOnBackpressureLimit) while the others go on.
import { afterEach, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import WebSocket from 'ws';
import uWS, { App, us_socket_local_port, type TemplatedApp, type ListenSocket } from '../src/app/index.ts';

const apps: TemplatedApp[] = [];
const timers: ReturnType<typeof setInterval>[] = [];
afterEach(() => { for (const a of apps.splice(0)) a.close(); for (const t of timers.splice(0)) clearInterval(t); });

function listen(app: TemplatedApp, host?: string): Promise<number> {
  apps.push(app);
  return new Promise((resolve, reject) => {
    const cb = (t: ListenSocket | false): void => { if (t) resolve(us_socket_local_port(t)); else reject(new Error('listen failed')); };
    if (host === undefined) app.listen(0, cb); else app.listen(host, 0, cb);
  });
}

function open(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.on('open', () => resolve(ws));
    ws.on('error', reject);
  });
}

describe('uWebSockets.js programs on wasmsocket/app', () => {
  it('the default import holds the whole API (import uWS from ..., as its .mjs examples write)', () => {
    for (const name of ['App', 'SSLApp', 'SHARED_COMPRESSOR', 'DEDICATED_COMPRESSOR_3KB', 'DISABLED', 'us_listen_socket_close', 'us_socket_local_port']) {
      expect(typeof (uWS as Record<string, unknown>)[name], name).not.toBe('undefined');
    }
    expect(uWS.App).toBe(App);
  });

  const built = existsSync(new URL('../dist/app.js', import.meta.url)) && existsSync(new URL('../dist/app.cjs', import.meta.url));
  it.skipIf(!built)('the built package: a default import in ESM, and require() still gives the names', async () => {
    // A uWS.js .mjs program's first line, against dist/ (skipped with a reason when dist/ is not built).
    const program = `import uWS from ${JSON.stringify(new URL('../dist/app.js', import.meta.url).href)};
      const app = uWS.App().get('/*', (res) => res.end('ok'));
      app.listen('127.0.0.1', 0, (t) => { console.log(typeof t === 'object' && uWS.us_socket_local_port(t) > 0 ? 'listening' : 'failed'); uWS.us_listen_socket_close(t); });`;
    const out = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, ['--input-type=module', '-e', program], { timeout: 20_000 }, (err, stdout, stderr) => err ? reject(new Error(stderr || String(err))) : resolve(stdout.trim())));
    expect(out).toBe('listening');
    const cjs = createRequire(import.meta.url)('../dist/app.cjs') as Record<string, unknown>;
    expect(typeof cjs.App).toBe('function');
    expect(typeof (cjs.default as Record<string, unknown>).App).toBe('function');
  });
  if (!built) console.log('SKIP the built-package case of test/app-uws-compat.test.ts: dist/ is not built (npm run build)');

  it('listen(port) without a host is reached as localhost over IPv4 and IPv6', async () => {
    const port = await listen(App().ws('/*', { message: (ws, m) => { ws.send(m); } }));
    for (const url of [`ws://127.0.0.1:${port}/`, `ws://[::1]:${port}/`, `ws://localhost:${port}/`]) {
      const ws = await open(url);
      const got = new Promise<string>((r) => ws.once('message', (d) => r(d.toString())));
      ws.send(url);
      expect(await got).toBe(url);
      ws.close();
    }
  });

  it('a burst past maxBackpressure in one turn reaches a subscriber that reads (the cork goes out; only what the kernel holds counts)', async () => {
    let dropped = 0;
    const app = App().ws('/*', { open: (ws) => { ws.subscribe('t'); }, dropped: () => { dropped++; } }); // maxBackpressure: 64 KiB
    const port = await listen(app, '127.0.0.1');
    const ws = await open(`ws://127.0.0.1:${port}/`);
    let got = 0;
    const all = new Promise<void>((r) => ws.on('message', () => { if (++got === 100) r(); }));
    const payload = 'x'.repeat(1024);
    for (let i = 0; i < 100; i++) app.publish('t', payload); // 100 KiB in one turn (this was 64 delivered, 36 dropped)
    await all;
    expect([got, dropped]).toEqual([100, 0]);
    ws.close();
  });

  it('a paused subscriber of a topic published every turn is closed past maxBackpressure; its own properties reach close; the others go on', async () => {
    const closed: Array<{ code: number; ticks: unknown }> = [];
    const app = App().ws('/*', {
      maxBackpressure: 1024,
      closeOnBackpressureLimit: true,
      open: (ws) => { ws.subscribe('clock'); ws.ticks = 'mine'; },
      close: (ws, code) => { closed.push({ code, ticks: ws.ticks }); },
    });
    const port = await listen(app, '127.0.0.1');
    const slow = await open(`ws://127.0.0.1:${port}/`);
    const fast = await open(`ws://127.0.0.1:${port}/`);
    let fastGot = 0;
    fast.on('message', () => { fastGot++; });
    slow.once('message', () => { (slow as unknown as { _socket: { pause(): void } })._socket.pause(); });
    const slowClosed = new Promise<number>((r) => slow.on('close', (code) => r(code)));
    // Publish 50 x 1 KiB each turn until the slow one is closed (bounded: 20 s, 400,000 publishes):
    // bursts past maxBackpressure that the fast one keeps up with.
    const payload = 'x'.repeat(1024);
    let n = 0;
    const started = Date.now();
    await new Promise<void>((resolve) => {
      const step = (): void => {
        for (let i = 0; i < 50; i++) app.publish('clock', payload);
        n += 50;
        if (closed.length > 0 || n >= 400_000 || Date.now() - started > 20_000) resolve(); else setImmediate(step);
      };
      step();
    });
    expect(closed).toEqual([{ code: 1006, ticks: 'mine' }]); // close() as uWS.js: no close frame, 1006
    expect(app.numSubscribers('clock')).toBe(1);
    slow.terminate();
    expect(await slowClosed).toBe(1006);
    const before = fastGot;
    await new Promise((r) => setTimeout(r, 200));
    app.publish('clock', 'still');
    await new Promise((r) => setTimeout(r, 200));
    expect(fastGot).toBeGreaterThan(before);
    fast.close();
  });
});
