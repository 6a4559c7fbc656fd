// The real users of ws, running on our WebSocketServer / WebSocket: socket.io
// (wsEngine) with socket.io-client, graphql-ws (useServer + createClient with
// our WebSocket as webSocketImpl). Also our own fan-out: wss.broadcast() and
// topics (subscribe/publish).
import { describe, expect, it } from 'vitest';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server as IoServer, type Socket as IoSocket } from 'socket.io';
import { io as ioClient, type Socket as IoClientSocket } from 'socket.io-client';
import { createRequire } from 'node:module';
import { useServer } from 'graphql-ws/use/ws';
import { createClient, type Client as GqlClient } from 'graphql-ws';
import * as wsPkg from 'ws';
import { WebSocketServer, WebSocket } from '../src/index.ts';
import { cleanupList, closeHttp, closeWss, listenLocal, portWhenListening, serverSideWhenOpen } from './helpers/servers.ts';
import { T, sleep, until, withTimeout } from './helpers/wait.ts';

// graphql-ws is loaded by Node itself, whose `import 'graphql'` is graphql's CommonJS
// build; the schema must come from that same copy (not vite's graphql/index.mjs).
const { GraphQLInt, GraphQLObjectType, GraphQLSchema, GraphQLString, GraphQLNonNull } =
  createRequire(import.meta.url)('graphql') as typeof import('graphql');

/** Bytes (Buffer, ArrayBuffer, view or array of them) as one Buffer; a string is refused. */
function toBuf(d: unknown): Buffer {
  if (Buffer.isBuffer(d)) return d;
  if (d instanceof ArrayBuffer) return Buffer.from(d);
  if (ArrayBuffer.isView(d)) return Buffer.from(d.buffer, d.byteOffset, d.byteLength);
  if (Array.isArray(d)) return Buffer.concat(d.map(toBuf));
  throw new Error(`not bytes: ${Object.prototype.toString.call(d)}`);
}

const cleanups = cleanupList({ bestEffort: true, ms: T });

// ---------------------------------------------------------------------------
// socket.io

describe('socket.io with wsEngine: WebSocketServer', () => {
  async function start(): Promise<{ io: IoServer; port: number; serverSockets: IoSocket[] }> {
    const httpServer = http.createServer();
    const io = new IoServer(httpServer, { wsEngine: WebSocketServer, transports: ['websocket'] });
    cleanups.push(() => new Promise<void>((r) => io.close(() => r())));
    const serverSockets: IoSocket[] = [];
    io.on('connection', (socket) => {
      serverSockets.push(socket);
      socket.on('echo', (payload: unknown, ack: (x: unknown) => void) => ack(payload));
      socket.on('double', (buf: Buffer, ack: (x: unknown) => void) => ack({ kind: Buffer.isBuffer(buf) ? 'buffer' : typeof buf, doubled: Buffer.concat([buf, buf]) }));
      socket.on('shout', (text: string) => socket.broadcast.emit('shouted', text));
    });
    const port = await listenLocal(httpServer);
    cleanups.push(() => closeHttp(httpServer));
    return { io, port, serverSockets };
  }

  function client(port: number): IoClientSocket {
    const c = ioClient(`http://127.0.0.1:${port}`, { transports: ['websocket'], forceNew: true, reconnection: false });
    cleanups.push(() => c.disconnect());
    return c;
  }

  async function connected(c: IoClientSocket): Promise<void> {
    if (c.connected) return;
    await withTimeout(new Promise<void>((resolve, reject) => {
      c.once('connect', () => resolve());
      c.once('connect_error', (e) => reject(e));
    }), T, 'socket.io connect');
  }

  it('runs on our WebSocket: emit/ack round trip', async () => {
    const { io, port } = await start();
    const c = client(port);
    await connected(c);
    // the engine really uses our classes
    const engine = io.engine as unknown as { ws: unknown; clients: Record<string, { transport: { name: string; socket: unknown } }> };
    expect(engine.ws).toBeInstanceOf(WebSocketServer);
    const [eioSocket] = Object.values(engine.clients);
    expect(eioSocket.transport.name).toBe('websocket');
    expect(eioSocket.transport.socket).toBeInstanceOf(WebSocket);

    const payload = { text: 'héllo — 日本語 🎉', n: 42, nested: { list: [1, 2, 3], flag: true, nil: null } };
    const back = await withTimeout(c.emitWithAck('echo', payload), T, 'ack');
    expect(back).toEqual(payload);
    const many = await withTimeout(Promise.all(Array.from({ length: 200 }, (_, i) => c.emitWithAck('echo', i))), T, '200 acks');
    expect(many).toEqual(Array.from({ length: 200 }, (_, i) => i));
  });

  it('binary payloads both ways', async () => {
    const { port } = await start();
    const c = client(port);
    await connected(c);
    const bytes = Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 7) & 0xff));
    const res = (await withTimeout(c.emitWithAck('double', bytes), T, 'binary ack')) as { kind: string; doubled: unknown };
    expect(res.kind).toBe('buffer');
    const doubled = toBuf(res.doubled);
    expect(doubled.length).toBe(140_000);
    expect(doubled.equals(Buffer.concat([bytes, bytes]))).toBe(true);
  });

  it('a broadcast reaches both clients exactly once; socket.broadcast skips the sender', async () => {
    const { io, port, serverSockets } = await start();
    const a = client(port);
    const b = client(port);
    await Promise.all([connected(a), connected(b)]);
    await until(() => serverSockets.length === 2, T, 'two server sockets');
    const got: Record<string, unknown[]> = { a: [], b: [] };
    a.on('news', (x: unknown) => got.a.push(x));
    b.on('news', (x: unknown) => got.b.push(x));
    a.on('shouted', (x: unknown) => got.a.push(`shouted:${x}`));
    b.on('shouted', (x: unknown) => got.b.push(`shouted:${x}`));
    io.emit('news', 'for everyone');
    io.emit('news', Buffer.from([1, 2, 3]));
    a.emit('shout', 'from a');
    // a round trip on each client to be sure everything before it has arrived
    await Promise.all([a.emitWithAck('echo', 'sync'), b.emitWithAck('echo', 'sync')]);
    await until(() => got.a.length >= 2 && got.b.length >= 3, T, 'broadcasts');
    await sleep(50);
    expect(got.a.map((x) => (typeof x === 'string' ? x : toBuf(x).toString('hex')))).toEqual(['for everyone', '010203']);
    expect(got.b.map((x) => (typeof x === 'string' ? x : toBuf(x).toString('hex')))).toEqual(['for everyone', '010203', 'shouted:from a']);
  });

  it('disconnect from either side is seen by the other', async () => {
    const { port, serverSockets } = await start();
    const c = client(port);
    await connected(c);
    await until(() => serverSockets.length === 1, T, 'server socket');
    const serverReason = new Promise<string>((r) => serverSockets[0].once('disconnect', (reason) => r(reason)));
    c.disconnect();
    expect(await withTimeout(serverReason, T, 'server disconnect')).toBe('client namespace disconnect');

    const d = client(port);
    await connected(d);
    await until(() => serverSockets.length === 2, T, 'second server socket');
    const clientReason = new Promise<string>((r) => d.once('disconnect', (reason) => r(reason)));
    serverSockets[1].disconnect(true);
    expect(await withTimeout(clientReason, T, 'client disconnect')).toBe('io server disconnect');
  });
});

// ---------------------------------------------------------------------------
// graphql-ws

describe('graphql-ws on our WebSocketServer, with our WebSocket as the client', () => {
  const schema = new GraphQLSchema({
    query: new GraphQLObjectType({
      name: 'Query',
      fields: {
        hello: {
          type: new GraphQLNonNull(GraphQLString),
          args: { name: { type: GraphQLString } },
          resolve: (_src, args: { name?: string }) => `Hello, ${args.name ?? 'world'}!`,
        },
      },
    }),
    subscription: new GraphQLObjectType({
      name: 'Subscription',
      fields: {
        count: {
          type: new GraphQLNonNull(GraphQLInt),
          args: { to: { type: new GraphQLNonNull(GraphQLInt) } },
          subscribe: async function* (_src: unknown, args: { to: number }) {
            for (let i = 1; i <= args.to; i++) {
              await sleep(5);
              yield { count: i };
            }
          },
        },
      },
    }),
  });

  async function start(): Promise<{ port: number; wss: WebSocketServer; serverCloses: Array<{ code: number; reason: string }>; protocols: string[] }> {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    const port = await portWhenListening(wss);
    const serverCloses: Array<{ code: number; reason: string }> = [];
    const protocols: string[] = [];
    wss.on('connection', (socket: WebSocket) => {
      protocols.push(socket.protocol);
      socket.on('close', (code: number, reason: Buffer) => serverCloses.push({ code, reason: reason.toString() }));
    });
    const disposer = useServer({ schema }, wss as never);
    cleanups.push(async () => {
      for (const c of wss.clients) c.terminate();
      await disposer.dispose();
    });
    return { port, wss, serverCloses, protocols };
  }

  function gqlClient(port: number): GqlClient {
    const c = createClient({ url: `ws://127.0.0.1:${port}/graphql`, webSocketImpl: WebSocket, retryAttempts: 0, lazy: true });
    cleanups.push(() => c.dispose());
    return c;
  }

  async function collect(c: GqlClient, query: string, variables?: Record<string, unknown>): Promise<unknown[]> {
    const out: unknown[] = [];
    for await (const r of c.iterate({ query, variables })) out.push(r);
    return out;
  }

  it('a query', async () => {
    const { port, protocols } = await start();
    const c = gqlClient(port);
    const results = await withTimeout(collect(c, 'query Q($n: String) { hello(name: $n) }', { n: 'John' }), T, 'query');
    expect(results).toEqual([{ data: { hello: 'Hello, John!' } }]);
    expect(protocols).toEqual(['graphql-transport-ws']);
  });

  it('a subscription yielding 3 values, then complete', async () => {
    const { port } = await start();
    const c = gqlClient(port);
    const results = await withTimeout(collect(c, 'subscription { count(to: 3) }'), T, 'subscription');
    expect(results).toEqual([{ data: { count: 1 } }, { data: { count: 2 } }, { data: { count: 3 } }]);
  });

  it('concurrent operations on one connection, a validation error, and a clean close on dispose', async () => {
    const { port, serverCloses, wss } = await start();
    const c = gqlClient(port);
    const [a, b, q, bad] = await withTimeout(Promise.all([
      collect(c, 'subscription { count(to: 3) }'),
      collect(c, 'subscription { count(to: 2) }'),
      collect(c, '{ hello }'),
      collect(c, '{ nope }').then((r) => r, (e: unknown) => [{ thrown: e }]),
    ]), T, 'operations');
    expect(a).toEqual([1, 2, 3].map((count) => ({ data: { count } })));
    expect(b).toEqual([1, 2].map((count) => ({ data: { count } })));
    expect(q).toEqual([{ data: { hello: 'Hello, world!' } }]);
    expect(JSON.stringify(bad)).toMatch(/Cannot query field \\"nope\\" on type \\"Query\\"/);
    expect(wss.clients.size).toBe(1); // all of it on one WebSocket
    await c.dispose();
    await until(() => serverCloses.length === 1, T, 'server-side close');
    expect(serverCloses[0]).toEqual({ code: 1000, reason: 'Normal Closure' });
  });

  it('a client offering no graphql-transport-ws subprotocol is refused by graphql-ws (1002)', async () => {
    const { port } = await start();
    const c = new WebSocket(`ws://127.0.0.1:${port}/graphql`, 'something-else');
    cleanups.push(() => c.terminate());
    const err = await withTimeout(new Promise<Error>((r) => c.once('error', r)), T, 'handshake error');
    // handleProtocols returned false: no Sec-WebSocket-Protocol in the answer
    expect(err.message).toBe('Server sent no subprotocol');
  });
});

// ---------------------------------------------------------------------------
// wss.broadcast() and topics

describe('wss.broadcast() and topics', () => {
  interface Peer { c: wsPkg.WebSocket; msgs: Array<[boolean, string]>; s: WebSocket }

  async function start(n: number, opts: Record<string, unknown> = {}, clientDeflate = false): Promise<{ wss: WebSocketServer; peers: Peer[] }> {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', ...opts });
    const port = await portWhenListening(wss);
    cleanups.push(() => closeWss(wss));
    const peers: Peer[] = [];
    for (let i = 0; i < n; i++) {
      const c = new wsPkg.WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: clientDeflate });
      cleanups.push(() => c.terminate());
      const msgs: Array<[boolean, string]> = [];
      c.on('message', (d: Buffer, isBinary: boolean) => msgs.push([isBinary, isBinary ? d.toString('hex') : d.toString()]));
      const s = (await serverSideWhenOpen(wss, c, 'connect')) as WebSocket;
      peers.push({ c, msgs, s });
    }
    return { wss, peers };
  }

  /** Each server socket sends 'END'; once every client has it, everything sent before has arrived. */
  async function settle(peers: Peer[]): Promise<void> {
    for (const p of peers) p.s.send('END');
    await until(() => peers.every((p) => p.msgs.some(([, m]) => m === 'END')), T, 'END markers');
    for (const p of peers) p.msgs.splice(p.msgs.findIndex(([, m]) => m === 'END'), 1);
  }

  it('broadcast: every client exactly once, text/binary as asked, except and filter', async () => {
    const { wss, peers } = await start(3);
    const [a, b, c] = peers;
    expect(wss.broadcast('hello all')).toBe(3);
    expect(wss.broadcast(Buffer.from([0xde, 0xad]))).toBe(3);
    expect(wss.broadcast('text as binary', { binary: true })).toBe(3);
    expect(wss.broadcast(Buffer.from('bytes as text'), { binary: false })).toBe(3);
    expect(wss.broadcast('not to a', { except: a.s })).toBe(2);
    expect(wss.broadcast('only b', { filter: (ws) => ws === b.s })).toBe(1);
    expect(wss.broadcast('b and c, not a', { filter: (ws) => ws !== c.s, except: a.s })).toBe(1);
    await settle(peers);
    const common: Array<[boolean, string]> = [[false, 'hello all'], [true, 'dead'], [true, Buffer.from('text as binary').toString('hex')], [false, 'bytes as text']];
    expect(a.msgs).toEqual(common);
    expect(b.msgs).toEqual([...common, [false, 'not to a'], [false, 'only b'], [false, 'b and c, not a']]);
    expect(c.msgs).toEqual([...common, [false, 'not to a']]);
  });

  it('broadcast keeps order with the socket\'s own sends (small, large and after a Blob)', async () => {
    const { wss, peers } = await start(2);
    const [a, b] = peers;
    const big = Buffer.alloc(100_000, 0x42);
    a.s.send('a1');
    wss.broadcast('B1');
    a.s.send('a2');
    wss.broadcast(big);
    a.s.send('a3');
    a.s.send(new Blob([Buffer.from('blob')])); // read asynchronously: the broadcast must wait for it
    wss.broadcast('B2');
    a.s.send('a4');
    await settle(peers);
    const bigHex = big.toString('hex');
    expect(a.msgs).toEqual([[false, 'a1'], [false, 'B1'], [false, 'a2'], [true, bigHex], [false, 'a3'], [true, Buffer.from('blob').toString('hex')], [false, 'B2'], [false, 'a4']]);
    expect(b.msgs).toEqual([[false, 'B1'], [true, bigHex], [false, 'B2']]);
  });

  it('broadcast to clients that negotiated permessage-deflate (uncompressed frame is valid)', async () => {
    const { wss, peers } = await start(2, { perMessageDeflate: { threshold: 0 } }, true);
    expect(peers[0].c.extensions).toMatch(/permessage-deflate/);
    peers[0].s.send('compressed own send'.repeat(20));
    expect(wss.broadcast('broadcast over deflate')).toBe(2);
    peers[0].s.send('after');
    await settle(peers);
    expect(peers[0].msgs).toEqual([[false, 'compressed own send'.repeat(20)], [false, 'broadcast over deflate'], [false, 'after']]);
    expect(peers[1].msgs).toEqual([[false, 'broadcast over deflate']]);
  });

  it('topics: subscribers get a publish exactly once, unsubscribed and others get nothing, except works', async () => {
    const { wss, peers } = await start(4);
    const [a, b, c, d] = peers;
    expect(a.s.subscribe('room1')).toBe(true);
    expect(a.s.subscribe('room1')).toBe(true); // twice: still one delivery
    expect(b.s.subscribe('room1')).toBe(true);
    expect(c.s.subscribe('room2')).toBe(true);
    expect(b.s.subscribe('room2')).toBe(true);
    expect(a.s.isSubscribed('room1')).toBe(true);
    expect(c.s.isSubscribed('room1')).toBe(false);
    expect(b.s.getTopics().sort()).toEqual(['room1', 'room2']);
    expect(d.s.getTopics()).toEqual([]);

    expect(wss.publish('room1', 'r1 first')).toBe(2);
    expect(wss.publish('room2', Buffer.from([1]))).toBe(2);
    expect(wss.publish('room1', 'r1 not to a', { except: a.s })).toBe(1);
    expect(wss.publish('nobody', 'lost')).toBe(0);
    expect(b.s.unsubscribe('room1')).toBe(true);
    expect(b.s.unsubscribe('room1')).toBe(false);
    expect(b.s.isSubscribed('room1')).toBe(false);
    expect(wss.publish('room1', 'r1 after b left')).toBe(1);
    await settle(peers);
    expect(a.msgs).toEqual([[false, 'r1 first'], [false, 'r1 after b left']]);
    expect(b.msgs).toEqual([[false, 'r1 first'], [true, '01'], [false, 'r1 not to a']]);
    expect(c.msgs).toEqual([[true, '01']]);
    expect(d.msgs).toEqual([]);
  });

  it('a closed subscriber leaves its topics; publishing afterwards is safe', async () => {
    const { wss, peers } = await start(2);
    const [a, b] = peers;
    a.s.subscribe('t');
    b.s.subscribe('t');
    const closed = once(a.s, 'close');
    a.c.close(1000);
    await withTimeout(closed, T, 'server-side close');
    expect(a.s.getTopics()).toEqual([]);
    expect(a.s.subscribe('t')).toBe(false); // not open any more
    expect(wss.publish('t', 'still there?')).toBe(1);
    await settle([b]);
    expect(b.msgs).toEqual([[false, 'still there?']]);
    expect(a.msgs).toEqual([]);
  });

  describe.each(['close', 'skip'] as const)('maxBackpressure with policy %s', (policy) => {
    it('a client that does not read is handled by the policy; the others get every message', async () => {
      const { wss, peers } = await start(1, { maxBackpressure: 256 * 1024, backpressurePolicy: policy });
      const [good] = peers;
      let goodCount = 0;
      good.c.removeAllListeners('message');
      good.c.on('message', () => { goodCount++; });
      // a raw client that completes the upgrade and then never reads
      const net = await import('node:net');
      const port = (wss.address() as AddressInfo).port;
      const raw = net.connect(port, '127.0.0.1');
      cleanups.push(() => raw.destroy());
      raw.on('error', () => {});
      let rawClosed = false;
      raw.on('close', () => { rawClosed = true; });
      await withTimeout(once(raw, 'connect'), T, 'raw connect');
      const conn = once(wss, 'connection');
      raw.write('GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
      const [slow] = (await withTimeout(conn, T, 'raw connection')) as [WebSocket];
      raw.pause();
      expect(wss.clients.size).toBe(2);
      const payload = Buffer.alloc(64 * 1024, 0x5a);
      let sent = 0;
      let shortfall = 0;
      for (let i = 0; i < 2000 && shortfall === 0; i++) {
        const n = wss.broadcast(payload);
        sent++;
        if (n < 2) shortfall = n;
        if (i % 8 === 7) await new Promise((r) => setImmediate(r));
      }
      expect(shortfall, 'a broadcast left the slow client out').toBe(1);
      if (policy === 'close') {
        await until(() => slow.readyState === WebSocket.CLOSED, T, 'the slow client to be dropped');
        await until(() => wss.clients.size === 1, T, 'clients.size 1');
        // the FIN sits behind the unread backlog: once the client reads, it sees the TCP close
        raw.on('data', () => {});
        raw.resume();
        await until(() => rawClosed, T, 'the slow client to see the TCP close');
      } else {
        await sleep(50);
        expect(rawClosed).toBe(false);
        expect(slow.readyState).toBe(WebSocket.OPEN);
        expect(wss.clients.size).toBe(2);
      }
      const marker = wss.broadcast('marker');
      if (policy === 'close') expect(marker).toBe(1);
      await until(() => goodCount === sent + 1, 10_000, `the good client to get all ${sent + 1} messages (${goodCount})`);
    });
  });

  it('a server client not open is skipped by broadcast', async () => {
    const { wss, peers } = await start(2);
    peers[0].s.close(1000);
    expect(wss.broadcast('to the open ones')).toBe(1);
    await settle([peers[1]]);
    expect(peers[1].msgs).toEqual([[false, 'to the open ones']]);
  });
});
