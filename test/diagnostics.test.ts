// diagnostics_channel events (src/node/ws/diagnostics.ts): a subscriber sees
// every open, close (with its code), handshake refusal (with its reason),
// limit hit, idle timeout and budget close, over real sockets on 127.0.0.1
// with ws clients and a raw TCP peer.
import { describe, expect, it } from 'vitest';
import diagnosticsChannel from 'node:diagnostics_channel';
import { connect, type AddressInfo } from 'node:net';
import http from 'node:http';
import { once } from 'node:events';
import { WebSocket as WsClient } from 'ws';
import { WebSocketServer, type ServerCloseMessage, type ServerOptions, type VerifyClientInfo } from '../src/index.ts';
import { cleanupList, closeHttp, closeWss, echoMessages, portWhenListening } from './helpers/servers.ts';
import { T, until, withTimeout } from './helpers/wait.ts';

const cleanups = cleanupList({ bestEffort: true, ms: T });
const NAMES = ['open', 'close', 'handshakeRefused', 'limitHit', 'idleTimeout'].map((n) => `wasmsocket:server:${n}`).concat('wasmsocket:budget:close');

type Seen = Array<{ name: string; message: Record<string, unknown> }>;

/** Subscribes to every channel for this test; the events land in the returned list. */
function subscribeAll(): Seen {
  const seen: Seen = [];
  for (const name of NAMES) {
    const fn = (message: unknown): void => { seen.push({ name, message: message as Record<string, unknown> }); };
    diagnosticsChannel.subscribe(name, fn);
    cleanups.push(() => diagnosticsChannel.unsubscribe(name, fn));
  }
  return seen;
}

const named = (seen: Seen, name: string) => seen.filter((e) => e.name === `wasmsocket:${name}`).map((e) => e.message);

async function server(opts: Partial<ServerOptions> = {}): Promise<{ wss: WebSocketServer; port: number }> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', ...opts });
  cleanups.push(() => closeWss(wss));
  const port = await portWhenListening(wss);
  wss.on('connection', (ws) => { echoMessages(ws); ws.on('error', () => {}); });
  return { wss, port };
}

function client(port: number, opts: Record<string, unknown> = {}): WsClient {
  const ws = new WsClient(`ws://127.0.0.1:${port}/`, opts);
  ws.on('error', () => {});
  cleanups.push(() => ws.terminate());
  return ws;
}

const opened = (ws: WsClient): Promise<unknown> => withTimeout(new Promise((r) => ws.once('open', r)), T, 'open');
const refusedWith = (ws: WsClient): Promise<number> =>
  withTimeout(new Promise((r) => ws.once('unexpected-response', (_q, res) => { res.resume(); r(res.statusCode!); })), T, 'refusal');

describe('diagnostics_channel', () => {
  it('open and close (with code and reason) for every connection', async () => {
    const seen = subscribeAll();
    const { wss, port } = await server();
    const clients = Array.from({ length: 5 }, () => client(port));
    await Promise.all(clients.map(opened));
    clients.forEach((c, i) => c.close(4000 + i, `bye ${i}`));
    await until(() => named(seen, 'server:close').length === 5, T, 'five close events');
    const opens = named(seen, 'server:open');
    expect(opens).toHaveLength(5);
    for (const o of opens) {
      expect(o.server).toBe(wss);
      expect(o.address).toBe('127.0.0.1');
      expect((o.request as { url: string }).url).toBe('/');
    }
    const closes = named(seen, 'server:close') as unknown as ServerCloseMessage[]; // the exported message types
    expect(closes.map((c) => c.code).sort()).toEqual([4000, 4001, 4002, 4003, 4004]);
    expect(closes.map((c) => String(c.reason)).sort()).toEqual(['bye 0', 'bye 1', 'bye 2', 'bye 3', 'bye 4']);
    expect(new Set(closes.map((c) => c.websocket))).toEqual(new Set(opens.map((o) => o.websocket)));
  });

  it('handshake refusals with their reason, and limit hits with the limit', async () => {
    const seen = subscribeAll();
    const { port } = await server({
      allowedOrigins: ['http://app.test'], maxConnectionsPerAddress: 1, handshakeRate: { perSecond: 0.1, burst: 3 }, // no token comes back during the test
      verifyClient: (info: VerifyClientInfo) => info.req.headers['x-token'] !== 'bad',
    });
    expect(await refusedWith(client(port, { origin: 'http://evil.test' }))).toBe(403);
    expect(await refusedWith(client(port, { headers: { 'x-token': 'bad' } }))).toBe(401);
    await opened(client(port));
    expect(await refusedWith(client(port))).toBe(503); // the second from 127.0.0.1: its connection limit
    expect(await refusedWith(client(port))).toBe(503); // the bucket is empty now
    // A request that is not a WebSocket handshake (no Sec-WebSocket-Key).
    const raw = connect(port, '127.0.0.1');
    cleanups.push(() => raw.destroy());
    raw.write('GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n');
    await until(() => named(seen, 'server:handshakeRefused').length === 5, T, 'five refusals');

    expect(named(seen, 'server:handshakeRefused').map((r) => [r.status, r.reason])).toEqual([
      [403, 'origin'], [401, 'verify-client'], [503, 'max-connections-per-address'], [503, 'handshake-rate'], [400, 'invalid-handshake'],
    ]);
    expect(named(seen, 'server:handshakeRefused').every((r) => r.address === '127.0.0.1')).toBe(true);
    expect(named(seen, 'server:limitHit').map((l) => [l.limit, l.value, l.address])).toEqual([
      ['maxConnectionsPerAddress', 1, '127.0.0.1'], ['handshakeRate', { perSecond: 0.1, burst: 3 }, '127.0.0.1'],
    ]);
  });

  it('with trustProxy alone, events name the client a trusted proxy forwards', async () => {
    const seen = subscribeAll();
    const { port } = await server({ trustProxy: ['127.0.0.1'] });
    const c = client(port, { headers: { 'X-Forwarded-For': '198.51.100.7' } });
    await opened(c);
    expect(named(seen, 'server:open').map((o) => o.address)).toEqual(['198.51.100.7']);
  });

  it('a handshake during close() is refused as shutting-down', async () => {
    const seen = subscribeAll();
    const httpServer = http.createServer();
    const wss = new WebSocketServer({ noServer: true });
    httpServer.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head, () => {}));
    httpServer.listen(0, '127.0.0.1');
    await withTimeout(once(httpServer, 'listening'), T, 'listening');
    cleanups.push(() => closeHttp(httpServer));
    wss.close();
    expect(await refusedWith(client((httpServer.address() as AddressInfo).port))).toBe(503);
    expect(named(seen, 'server:handshakeRefused').map((r) => [r.status, r.reason])).toEqual([[503, 'shutting-down']]);
  });

  it('idle timeouts and budget closes', async () => {
    const seen = subscribeAll();
    const { wss, port } = await server({ idleTimeout: 200, maxBufferedBytes: 1024 * 1024 });
    const silent = client(port, { autoPong: false });
    await opened(silent);
    await until(() => named(seen, 'server:idleTimeout').length === 1, T, 'the idle timeout');
    expect(named(seen, 'server:idleTimeout')[0]).toMatchObject({ server: wss, why: 'idle' });

    const big = client(port);
    await opened(big);
    big.send(Buffer.alloc(4 * 1024 * 1024)); // 4 MiB in flight against a 1 MiB budget
    await until(() => named(seen, 'budget:close').length === 1, T, 'the budget close');
    expect(named(seen, 'budget:close')[0]).toMatchObject({ code: 1009, limit: 1024 * 1024 });
    expect(wss.stats.budgetCloses).toBe(1);
  });

  it('channels start without subscribers; a subscriber hears what happens after it subscribes', async () => {
    for (const name of NAMES) expect(diagnosticsChannel.channel(name).hasSubscribers).toBe(false);
    const { port } = await server({ allowedOrigins: ['http://app.test'] });
    expect(await refusedWith(client(port, { origin: 'http://evil.test' }))).toBe(403);
    // A subscriber added now hears only what happens from now on.
    const seen = subscribeAll();
    expect(await refusedWith(client(port, { origin: 'http://evil.test' }))).toBe(403);
    expect(named(seen, 'server:handshakeRefused')).toHaveLength(1);
  });
});
