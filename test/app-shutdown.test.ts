// app.shutdown() (src/app/shutdown.ts): the App door's graceful drain, with
// `ws` clients and raw TCP peers on real sockets, on both carriers: every
// client sees 1001 and the reason, peers that never answer are terminated at
// the timeout, spread ramps the close frames, new connections are refused,
// and bad options reject without stopping anything.
import { afterEach, describe, expect, it } from 'vitest';
import net from 'node:net';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import { App, ThreadBroker, us_socket_local_port, type TemplatedApp, type ListenSocket } from '../src/app/index.ts';
import { setAppTransport } from '../src/app/node-platform.ts';

const apps: TemplatedApp[] = [];
afterEach(() => { for (const a of apps.splice(0)) a.close(); setAppTransport('tcp'); });

const closes: Array<{ code: number }> = [];
async function serve(): Promise<{ app: TemplatedApp; port: number }> {
  const app = App().ws('/*', {
    idleTimeout: 0,
    message: (ws, m, isBinary) => { ws.send(m, isBinary); },
    close: (_ws, code) => { closes.push({ code }); },
  });
  apps.push(app);
  const port = await new Promise<number>((resolve, reject) =>
    app.listen('127.0.0.1', 0, (t: ListenSocket | false) => t ? resolve(us_socket_local_port(t)) : reject(new Error('listen failed'))));
  return { app, port };
}

interface Client { ws: WebSocket; closed: Promise<{ code: number; reason: string; at: number }> }
function client(port: number): Promise<Client> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
    const closed = new Promise<{ code: number; reason: string; at: number }>((r) =>
      ws.on('close', (code, reason) => r({ code, reason: reason.toString(), at: performance.now() })));
    ws.on('open', () => resolve({ ws, closed }));
    ws.on('error', reject);
  });
}

/** A peer that upgrades by hand and then never answers (nor closes). */
async function silentPeer(port: number): Promise<net.Socket> {
  const s = net.connect(port, '127.0.0.1');
  await new Promise((r) => s.once('connect', r));
  s.write(`GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  await new Promise<void>((resolve, reject) => {
    let head = '';
    s.on('data', (b) => { head += b.toString('latin1'); if (head.includes('\r\n\r\n')) resolve(); });
    s.once('error', reject);
  });
  return s;
}

for (const carrier of ['tcp', 'net'] as const) {
  describe(`app.shutdown() over ${carrier === 'tcp' ? "Node's TCP handles" : 'net.Server'}`, () => {
    it('tells 200 clients 1001 with the reason; all close cleanly; new connections are refused', async () => {
      setAppTransport(carrier);
      closes.length = 0;
      const { app, port } = await serve();
      const clients: Client[] = [];
      for (let i = 0; i < 200; i++) clients.push(await client(port));
      const result = await app.shutdown({ timeout: 10_000, reason: 'deploy' });
      const seen = await Promise.all(clients.map((c) => c.closed));
      expect(seen.every((s) => s.code === 1001 && s.reason === 'deploy')).toBe(true);
      expect(result).toMatchObject({ connections: 200, closedCleanly: 200, closedAbnormally: 0, terminated: 0, http2Sessions: 0 });
      expect(closes.length).toBe(200); // every close handler ran, with the code we sent
      expect(closes.every((c) => c.code === 1001)).toBe(true);
      await expect(new Promise((resolve, reject) => {
        const s = net.connect(port, '127.0.0.1', () => { s.destroy(); resolve('connected'); });
        s.on('error', (e: NodeJS.ErrnoException) => reject(e));
      })).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    });

    it('terminates peers that never answer at the timeout; the others close cleanly', async () => {
      setAppTransport(carrier);
      const { app, port } = await serve();
      const clients: Client[] = [];
      for (let i = 0; i < 5; i++) clients.push(await client(port));
      const silent = [await silentPeer(port), await silentPeer(port), await silentPeer(port)];
      const ended = silent.map((s) => new Promise<void>((r) => s.once('close', () => r())));
      const t0 = performance.now();
      const result = await app.shutdown({ timeout: 600 });
      const took = performance.now() - t0;
      await Promise.all(ended); // the server cut them off
      expect(result).toMatchObject({ connections: 8, closedCleanly: 5, closedAbnormally: 0, terminated: 3 });
      expect(took).toBeGreaterThanOrEqual(590); // waited for the timeout, not less
      for (const c of clients) expect((await c.closed).code).toBe(1001);
      for (const s of silent) s.destroy();
    });

    it('spreads 100 close frames over the window (every quarter has its share)', async () => {
      setAppTransport(carrier);
      const { app, port } = await serve();
      const clients: Client[] = [];
      for (let i = 0; i < 100; i++) clients.push(await client(port));
      const t0 = performance.now();
      const result = await app.shutdown({ timeout: 10_000, spread: 1_000 });
      const at = (await Promise.all(clients.map((c) => c.closed))).map((s) => s.at - t0);
      expect(result.closedCleanly).toBe(100);
      const quarters = [0, 0, 0, 0];
      for (const t of at) quarters[Math.min(3, Math.floor(t / 250))]++;
      // An even ramp puts 25 in each; a loaded machine may shift a few along.
      for (const q of quarters) expect(q).toBeGreaterThanOrEqual(10);
      expect(Math.max(...at)).toBeGreaterThanOrEqual(700);
    });

    it('bad options reject without stopping anything; a second call returns the same promise', async () => {
      setAppTransport(carrier);
      const { app, port } = await serve();
      await expect(app.shutdown({ code: 1005 })).rejects.toThrow(/close code/);
      await expect(app.shutdown({ spread: 5_000, timeout: 1_000 })).rejects.toThrow(/spread/);
      await expect(app.shutdown({ reason: 'x'.repeat(124) })).rejects.toThrow(/123 bytes/);
      const c = await client(port); // still accepting and echoing
      const echoed = new Promise((r) => c.ws.once('message', (d) => r(d.toString())));
      c.ws.send('still here');
      expect(await echoed).toBe('still here');
      const first = app.shutdown({ timeout: 5_000 });
      expect(app.shutdown()).toBe(first);
      expect(await first).toMatchObject({ connections: 1, closedCleanly: 1 });
    });
  });
}

describe('app.shutdown() at scale', () => {
  it('drains 5,000 connections (ws clients in another process) with 1001 within the timeout', async () => {
    setAppTransport('tcp');
    const N = 5000;
    const { app, port } = await serve();
    const child = spawn(process.execPath, [new URL('./helpers/drain-clients.mjs', import.meta.url).pathname, String(port), String(N)],
      { stdio: ['pipe', 'pipe', 'inherit'] });
    try {
      const lines = createInterface({ input: child.stdout! });
      const next = (): Promise<Record<string, unknown>> => new Promise((r) => lines.once('line', (l) => r(JSON.parse(l))));
      const opened = await Promise.race([next(), new Promise((r) => setTimeout(() => r({ timedOut: true }), 120_000))]);
      expect(opened).toEqual({ open: N });
      // Each client's 'open' follows the 101, written after the server's socket was made: the server has all N.
      const summary = next();
      const timeout = 20_000;
      const result = await app.shutdown({ timeout });
      console.log(`app shutdown of ${N}: ${JSON.stringify(result)}`);
      expect(result).toMatchObject({ connections: N, closedCleanly: N, closedAbnormally: 0, terminated: 0 });
      expect(result.durationMs).toBeLessThan(timeout);
      const seen = await summary as { closed: number; codes: Record<string, number>; reasons: Record<string, number> };
      expect(seen.closed).toBe(N);
      expect(seen.codes).toEqual({ 1001: N });
      expect(seen.reasons).toEqual({ 'Server shutting down': N });
    } finally {
      child.stdin!.end();
      child.kill();
    }
  }, 240_000);
});

describe('app.shutdown() with a broker', () => {
  it('stops the broker last: after every socket closed, and before the promise resolves', async () => {
    setAppTransport('tcp');
    const { app, port } = await serve();
    // A real ThreadBroker, its close() timed.
    const broker = new ThreadBroker();
    const close = broker.close.bind(broker);
    let brokerClosedAt = -1;
    broker.close = async () => { await close(); brokerClosedAt = performance.now(); };
    app.useBroker(broker);
    const clients: Client[] = [];
    for (let i = 0; i < 5; i++) clients.push(await client(port));
    const result = await app.shutdown({ timeout: 5_000 });
    const lastClose = Math.max(...(await Promise.all(clients.map((c) => c.closed))).map((s) => s.at));
    expect(result).toMatchObject({ connections: 5, closedCleanly: 5 });
    expect(brokerClosedAt).toBeGreaterThan(0);
    expect(brokerClosedAt).toBeGreaterThanOrEqual(lastClose - 50); // the clients' close events may land a moment after the server's
  });
});

