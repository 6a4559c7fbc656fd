// wss.shutdown(): the graceful drain on deploy (src/node/ws/shutdown.ts), on
// real sockets on 127.0.0.1: 5,000 `ws` clients in a child process told 1001,
// peers that never answer terminated at the timeout, closes spread over the
// window, acknowledged messages delivered before the close frame, 503 for
// upgrades during the drain, GOAWAY seen by Node's HTTP/2 client, and in Redis
// Streams mode the messages acknowledged during the drain reaching a second
// instance's clients (skipped with a reason when redis-server is absent).
import { describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import http2, { type ClientHttp2Session, type ServerHttp2Session } from 'node:http2';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import WsClient from 'ws';
import { WebSocket, WebSocketServer, type ShutdownResult } from '../src/index.ts';
import { redisBroker } from '../src/redis/index.ts';
import { HAS_REDIS, NO_REDIS_REASON, RedisServer, cli } from './helpers/redis.ts';
import { cleanupList, closeHttp, closeWss, listenLocal, rawPeer } from './helpers/servers.ts';
import { T, sleep, until, withTimeout } from './helpers/wait.ts';

const cleanup = cleanupList({ bestEffort: true, ms: T });
if (!HAS_REDIS) console.log(`shutdown: the Redis Streams case is skipped: ${NO_REDIS_REASON}`);

async function portServer(): Promise<{ wss: WebSocketServer; port: number }> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  wss.on('connection', (ws) => ws.on('error', () => {}));
  await withTimeout(once(wss, 'listening'), T, 'listening');
  cleanup.push(() => closeWss(wss));
  return { wss, port: (wss.address() as AddressInfo).port };
}

/** `ws` clients in this process; each keeps its close code, reason and time; `each` sees each one before it opens. */
async function wsClients(port: number, n: number, path = '/', each?: (ws: WsClient) => void) {
  const clients = await Promise.all(Array.from({ length: n }, async () => {
    const ws = new WsClient(`ws://127.0.0.1:${port}${path}`);
    cleanup.push(() => ws.terminate());
    each?.(ws);
    const c = { ws, code: 0, reason: '', closedAt: 0, closed: new Promise<void>((r) => ws.once('close', (code, reason) => {
      Object.assign(c, { code, reason: String(reason), closedAt: performance.now() });
      r();
    })) };
    ws.on('error', () => {});
    await withTimeout(once(ws, 'open'), T, 'client open');
    return c;
  }));
  return clients;
}

/** The parts of a result add up. */
function addsUp(r: ShutdownResult): void {
  expect(r.closedCleanly + r.closedAbnormally + r.terminated).toBe(r.connections);
}

describe('wss.shutdown()', () => {
  it('drains 5,000 connections (clients in another process) with 1001 within the timeout; counts add up; the listener closes', async () => {
    const N = 5000;
    const { wss, port } = await portServer();
    const child: ChildProcess = spawn(process.execPath, [new URL('./helpers/drain-clients.mjs', import.meta.url).pathname, String(port), String(N)],
      { stdio: ['pipe', 'pipe', 'inherit'] });
    cleanup.push(() => { child.stdin!.end(); child.kill(); });
    const lines = createInterface({ input: child.stdout! });
    const next = (): Promise<Record<string, unknown>> => new Promise((r) => lines.once('line', (l) => r(JSON.parse(l))));

    expect(await withTimeout(next(), 120_000, `${N} clients open`)).toEqual({ open: N });
    await until(() => wss.clients.size === N, T, () => `server to see ${N} connections (has ${wss.clients.size})`);

    const summary = next();
    const closeEvent = once(wss, 'close');
    const timeout = 20_000;
    const result = await wss.shutdown({ timeout });
    console.log(`shutdown of ${N}: ${JSON.stringify(result)}`);
    expect(result).toMatchObject({ connections: N, closedCleanly: N, closedAbnormally: 0, terminated: 0, http2Sessions: 0 });
    addsUp(result);
    expect(result.durationMs).toBeLessThan(timeout);
    const seen = await withTimeout(summary, T, 'client summary') as { closed: number; codes: Record<string, number>; reasons: Record<string, number> };
    expect(seen.closed).toBe(N);
    expect(seen.codes).toEqual({ 1001: N });
    expect(seen.reasons).toEqual({ 'Server shutting down': N });
    await withTimeout(closeEvent, T, "wss 'close'");
    expect(wss.clients.size).toBe(0);
    // We created the listening server: it is closed.
    const refused = connect(port, '127.0.0.1');
    const [err] = await withTimeout(once(refused, 'error'), T, 'connect error') as [NodeJS.ErrnoException];
    expect(err.code).toBe('ECONNREFUSED');
  }, 240_000);

  it('terminates the peers that never answer the close at the timeout; the others close cleanly', async () => {
    const { wss, port } = await portServer();
    const silent: Array<{ sock: Socket; bytes: Buffer[]; ended: Promise<unknown> }> = [];
    for (let i = 0; i < 3; i++) {
      // Raw TCP peers: they read everything (so our frames leave) but answer nothing.
      const { sock } = await rawPeer(wss, port, cleanup);
      const bytes: Buffer[] = [];
      sock.on('data', (b: Buffer) => bytes.push(b));
      sock.on('error', () => {});
      silent.push({ sock, bytes, ended: once(sock, 'close') });
    }
    const answering = await wsClients(port, 3);
    const timeout = 800;
    const t0 = performance.now();
    const result = await wss.shutdown({ timeout, code: 1012, reason: 'restart' });
    expect(result).toMatchObject({ connections: 6, closedCleanly: 3, closedAbnormally: 0, terminated: 3 });
    addsUp(result);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(timeout - 1); // the silent ones held it to the deadline
    for (const c of answering) {
      await c.closed;
      expect([c.code, c.reason]).toEqual([1012, 'restart']);
    }
    const closeFrame = Buffer.from([0x88, 9, 1012 >> 8, 1012 & 255, ...Buffer.from('restart')]);
    for (const p of silent) {
      await withTimeout(p.ended, T, 'silent peer cut off');
      const got = Buffer.concat(p.bytes);
      expect(got.subarray(got.indexOf('\r\n\r\n') + 4)).toEqual(closeFrame); // the 101, then our close frame, then the cut
    }
  });

  it('refuses upgrades with 503 during the drain on a server it does not own, which keeps serving', async () => {
    const server = http.createServer((_req, res) => res.end('page'));
    const port = await listenLocal(server);
    cleanup.push(() => closeHttp(server));
    const wss = new WebSocketServer({ server });
    wss.on('connection', (ws) => ws.on('error', () => {}));
    cleanup.push(() => closeWss(wss));
    await rawPeer(wss, port, cleanup); // never answers: keeps the drain open until the timeout
    const drained = wss.shutdown({ timeout: 1500 });
    expect(wss.shutdown({ timeout: 1 })).toBe(drained); // a second call: the same drain

    const late = new WsClient(`ws://127.0.0.1:${port}/`);
    late.on('error', () => {});
    const [, res] = await withTimeout(once(late, 'unexpected-response'), T, 'refusal') as [unknown, http.IncomingMessage];
    expect(res.statusCode).toBe(503);
    res.resume();
    const page = await fetch(`http://127.0.0.1:${port}/`);
    expect(await page.text()).toBe('page'); // the user's server is theirs to close

    expect(await drained).toMatchObject({ connections: 1, terminated: 1 });
  });

  it('rejects bad options without stopping anything', async () => {
    const { wss, port } = await portServer();
    await expect(wss.shutdown({ code: 1006 })).rejects.toThrow(/Invalid close code/);
    await expect(wss.shutdown({ timeout: 100, spread: 100 })).rejects.toThrow(/spread/);
    const [c] = await wsClients(port, 1); // still accepting
    expect(await wss.shutdown({ timeout: 2000 })).toMatchObject({ connections: 1, closedCleanly: 1 });
    await c!.closed;
    expect(c!.code).toBe(1001);
  });

  it('a reason function gives each connection its own; one it gets wrong (too long, or throwing) is dropped, the code still sent', async () => {
    const { wss, port } = await portServer();
    const clients = await wsClients(port, 3);
    const order = [...wss.clients];
    const result = await wss.shutdown({ timeout: 2000, reason: (ws) => {
      const i = order.indexOf(ws);
      if (i === 1) return 'x'.repeat(124);
      if (i === 2) throw new Error('no reason');
      return `you are ${i}`;
    } });
    expect(result).toMatchObject({ connections: 3, closedCleanly: 3 });
    await Promise.all(clients.map((c) => c.closed));
    expect(clients.map((c) => [c.code, c.reason]).sort()).toEqual([[1001, ''], [1001, ''], [1001, 'you are 0']]);
  });

  it('with clientTracking: false it cannot see its connections: it stops accepting and reports none', async () => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', clientTracking: false });
    await withTimeout(once(wss, 'listening'), T, 'listening');
    const port = (wss.address() as AddressInfo).port;
    const [c] = await wsClients(port, 1);
    expect(await wss.shutdown({ timeout: 500 })).toMatchObject({ connections: 0, closedCleanly: 0, terminated: 0 });
    expect(c!.ws.readyState).toBe(WsClient.OPEN); // untouched: close it yourself
    c!.ws.close();
    await c!.closed;
  });

  it('spreads the close frames over the window: the clients\' closes span it, not one moment', async () => {
    const { wss, port } = await portServer();
    const N = 200;
    const clients = await wsClients(port, N);
    const spread = 2000;
    const t0 = performance.now();
    const result = await wss.shutdown({ spread, timeout: spread + 5000 });
    expect(result).toMatchObject({ connections: N, closedCleanly: N, terminated: 0 });
    await Promise.all(clients.map((c) => c.closed));
    const at = clients.map((c) => c.closedAt - t0).sort((a, b) => a - b);
    console.log(`spread ${spread} ms over ${N}: first close at ${Math.round(at[0]!)} ms, last at ${Math.round(at[N - 1]!)} ms`);
    expect(at[N - 1]! - at[0]!).toBeGreaterThan(spread * 0.8);
    // Even, within the timers' granularity on a busy machine: every quarter of the window has its share.
    const quarters = [0, 0, 0, 0];
    for (const t of at) quarters[Math.min(3, Math.floor((t / spread) * 4))]!++;
    for (const q of quarters) expect(q).toBeGreaterThan(N * 0.1);
    expect(clients.every((c) => c.code === 1001)).toBe(true);
  });

  it('delivers every acknowledgement queued before the drain ahead of the close frame', async () => {
    const { wss, port } = await portServer();
    const ACK = 'a'.repeat(16 * 1024);
    let received = 0;
    wss.on('connection', (ws) => ws.on('message', (m) => { received++; ws.send(`${m}:${ACK}`); }));
    const N = 10, EACH = 50;
    const clients = await wsClients(port, N);
    const acks = clients.map(() => [] as string[]);
    clients.forEach((c, i) => c.ws.on('message', (d) => acks[i]!.push(String(d).split(':')[0]!)));
    // The clients stop reading: the acknowledgements (8 MiB in all) queue on the server.
    for (const c of clients) {
      (c.ws as unknown as { _socket: Socket })._socket.pause();
      for (let j = 0; j < EACH; j++) c.ws.send(String(j));
    }
    await until(() => received === N * EACH, T, () => `server to receive ${N * EACH} (has ${received})`);
    const drained = wss.shutdown({ timeout: 10_000 });
    await sleep(200);
    for (const c of clients) (c.ws as unknown as { _socket: Socket })._socket.resume();
    expect(await drained).toMatchObject({ connections: N, closedCleanly: N });
    for (const [i, c] of clients.entries()) {
      await c.closed;
      expect(c.code).toBe(1001);
      expect(acks[i]).toEqual(Array.from({ length: EACH }, (_, j) => String(j)));
    }
  });

  it('sends GOAWAY on each HTTP/2 session once its WebSockets are told; Node\'s http2 client sees it', async () => {
    const server = http2.createServer();
    const sessions: ServerHttp2Session[] = [];
    server.on('session', (s) => sessions.push(s));
    const wss = new WebSocketServer({ server });
    wss.on('connection', (ws) => ws.on('error', () => {}));
    server.listen(0, '127.0.0.1');
    await withTimeout(once(server, 'listening'), T, 'h2 listening');
    const port = (server.address() as AddressInfo).port;
    cleanup.push(() => { for (const s of sessions) s.destroy(); return new Promise<void>((r) => server.close(() => r())); });
    cleanup.push(() => closeWss(wss));

    const clients: Array<{ session: ClientHttp2Session; goaway: Promise<unknown[]>; sockets: Array<{ ws: WebSocket; close: Promise<[number, Buffer]> }> }> = [];
    for (let i = 0; i < 2; i++) {
      const session = http2.connect(`http://127.0.0.1:${port}`);
      session.on('error', () => {});
      cleanup.push(() => session.destroy());
      const goaway = once(session, 'goaway');
      const sockets = [];
      for (let j = 0; j < 3; j++) {
        const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { http2: session });
        ws.on('error', () => {});
        await withTimeout(once(ws, 'open'), T, 'h2 socket open');
        sockets.push({ ws, close: once(ws, 'close') as Promise<[number, Buffer]> });
      }
      clients.push({ session, goaway, sockets });
    }
    expect(sessions.length).toBe(2); // three streams on each of two connections
    const result = await wss.shutdown({ spread: 600, timeout: 3000 });
    expect(result).toMatchObject({ connections: 6, closedCleanly: 6, terminated: 0, http2Sessions: 2 });
    for (const c of clients) {
      const [errorCode] = await withTimeout(c.goaway, T, "client session 'goaway'");
      expect(errorCode).toBe(http2.constants.NGHTTP2_NO_ERROR);
      for (const s of c.sockets) {
        const [code, reason] = await s.close;
        // Our close frame, not the client's own 1001 on GOAWAY: the GOAWAY came after it.
        expect([code, String(reason)]).toEqual([1001, 'Server shutting down']);
      }
    }
  });

  describe.skipIf(!HAS_REDIS)('with a Redis Streams broker', () => {
    it('no acknowledged message lost: a second instance\'s clients get them, and clients moving there catch up from where they left', async () => {
      const redis = await RedisServer.start();
      cleanup.push(() => redis.stop());
      const prefix = `shutdown-${process.pid}`;
      // The app: every client follows 'room'; a message is published to it, then
      // acknowledged to its sender. A client arriving with ?since=<stream id> is
      // subscribed, then sent what the room had after that id (RedisBroker.replay).
      const instance = async () => {
        const { wss, port } = await portServer();
        const broker = redisBroker({ url: redis.url, mode: 'streams', prefix, onError: () => {} });
        await broker.ready;
        wss.useBroker(broker);
        wss.on('connection', (ws, req) => {
          ws.subscribe('room');
          ws.on('message', (m) => { wss.publish('room', m as Buffer); ws.send(`ack:${m}`); });
          const since = new URL(req.url!, 'http://x').searchParams.get('since');
          if (since) void broker.replay('room', since).then((missed) => { for (const m of missed) ws.send(m.payload, { binary: m.binary }); });
        });
        return { wss, port, broker };
      };
      const a = await instance();
      const b = await instance();
      const seenBy = (ws: WsClient, seen = new Set<string>()) => {
        ws.on('message', (d) => { if (!String(d).startsWith('ack:')) seen.add(String(d)); });
        return seen;
      };
      const stayers = await wsClients(b.port, 3);
      const stayerSeen = stayers.map((c) => seenBy(c.ws));
      const movers = await wsClients(a.port, 3);
      const moverSeen = movers.map((c) => seenBy(c.ws));
      const senders = [...await wsClients(a.port, 3), ...await wsClients(b.port, 1)];
      await sleep(300); // both brokers read the room's stream

      // Senders send every 5 ms until told to go; what an instance acknowledged is recorded.
      const acked = new Set<string>();
      const sending = senders.map((s, i) => {
        s.ws.on('message', (d) => { if (String(d).startsWith('ack:')) acked.add(String(d).slice(4)); });
        let n = 0;
        const t = setInterval(() => { if (s.ws.readyState === WsClient.OPEN) s.ws.send(`s${i}-${n++}`); }, 5);
        cleanup.push(() => clearInterval(t));
        return { stop: () => clearInterval(t), closed: s.closed.then(() => clearInterval(t)) };
      });
      // A mover reconnects to B 300 ms after A told it where it stands in the room:
      // B's sender goes on meanwhile, so without the replay it would miss those.
      const moved = movers.map((m, i) => m.closed.then(async () => {
        expect(m.reason).toMatch(/^resume:\d+-\d+$/);
        await sleep(300);
        await wsClients(b.port, 1, `/?since=${m.reason.slice('resume:'.length)}`, (ws) => seenBy(ws, moverSeen[i]));
      }));
      await sleep(300);
      const redisClients = async () => (await cli(redis.port, 'CLIENT', 'LIST')).length;
      const clientsBefore = await redisClients();
      const result = await a.wss.shutdown({ spread: 400, timeout: 5000, reason: () => `resume:${a.broker.position('room') ?? '0-0'}` });
      expect(result).toMatchObject({ connections: 6, closedCleanly: 6, terminated: 0 });
      await Promise.all([...sending.slice(0, 3).map((s) => s.closed), ...moved]);
      await sleep(300);
      sending[3]!.stop();
      expect(acked.size).toBeGreaterThan(20); // 447-525 on a quiet run
      expect(a.broker.metrics()).toMatchObject({ dropped: 0, pendingBytes: 0, subscriptions: 0, connected: false });
      expect(await redisClients()).toBe(clientsBefore - 2); // A's broker let go of its two connections
      const missing = (seen: Set<string>) => [...acked].filter((m) => !seen.has(m));
      // Every acknowledged message reaches every client of B, through the broker A stopped last,
      // and every mover: from A before it left, from B's replay, or live on B.
      await until(() => [...stayerSeen, ...moverSeen].every((s) => missing(s).length === 0), 10_000,
        () => `every client to see all ${acked.size} acknowledged (missing ${[...stayerSeen, ...moverSeen].map((s) => missing(s).length).join(', ')})`);
    }, 60_000);
  });
});
