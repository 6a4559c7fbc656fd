// Topics for connections accepted through the Web Streams door
// (src/web/topics.ts): accept() and acceptConnection() on node:net, ws
// clients with and without permessage-deflate, a raw TCP peer that never
// reads, and the Redis broker carrying publishes between two Topics (each with
// its own broker, as two processes would have). Skips the Redis case when
// redis-server is not installed.
import { describe, expect, it } from 'vitest';
import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import { Duplex } from 'node:stream';
import { WebSocket as WsClient } from 'ws';
import * as web from '../src/web/index.ts';
import { redisBroker } from '../src/redis/index.ts';
import { HAS_REDIS, NO_REDIS_REASON, RedisServer } from './helpers/redis.ts';
import { cleanupList } from './helpers/servers.ts';
import { T, until, withTimeout } from './helpers/wait.ts';

const cleanups = cleanupList({ bestEffort: true, ms: T });
const text = new TextDecoder();

// The application protocol of these servers: 'sub:<topic>' subscribes the
// sender and answers 'ok:<topic>'; 'say:<text>' is answered with <text> on
// the connection's own send (its own compressor).
type Handle = object;
interface Door {
  name: string;
  /** Accepts one connection with `topics`; `onText` gets what the client sent; returns how to send on it. */
  accept(pair: web.BytePair, topics: web.Topics, onText: (h: Handle, s: string, send: (s: string) => Promise<void>) => void): void;
}

const streamDoor: Door = {
  name: 'accept() (WebSocketStream)',
  accept(pair, topics, onText) {
    web.accept(pair, { topics, perMessageDeflate: true }).then(async (ws) => {
      const { readable, writable } = await ws.opened;
      const writer = writable.getWriter();
      const reader = readable.getReader();
      for (let r = await reader.read(); !r.done; r = await reader.read()) onText(ws, String(r.value), (s) => writer.write(s));
    }).catch(() => undefined);
  },
};

const connectionDoor: Door = {
  name: 'acceptConnection()',
  accept(pair, topics, onText) {
    web.acceptConnection(pair, { topics, perMessageDeflate: true }).then((pending) => {
      const conn: web.Connection = pending.start({
        onMessage: (d) => onText(conn, text.decode(d), (s) => conn.send(s)),
        onClose() {},
      });
    }).catch(() => undefined);
  },
};

async function topicServer(door: Door, topics = new web.Topics()): Promise<{ port: number; topics: web.Topics }> {
  const server = net.createServer((sock) => {
    door.accept(Duplex.toWeb(sock) as web.BytePair, topics, (h, s, send) => {
      if (s.startsWith('sub:')) { topics.subscribe(h, s.slice(4)); void send(`ok:${s.slice(4)}`); }
      else if (s.startsWith('say:')) void send(s.slice(4));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => new Promise((r) => { server.close(r); }));
  return { port: (server.address() as AddressInfo).port, topics };
}

interface TestClient { ws: WsClient; got: string[] }

async function client(port: number, deflate: boolean, topic?: string): Promise<TestClient> {
  const ws = new WsClient(`ws://127.0.0.1:${port}/`, { perMessageDeflate: deflate });
  cleanups.push(() => ws.terminate());
  const got: string[] = [];
  ws.on('message', (d) => got.push(String(d)));
  await withTimeout(once(ws, 'open'), T, 'client open');
  expect(ws.extensions.includes('permessage-deflate')).toBe(deflate);
  if (topic) {
    ws.send(`sub:${topic}`);
    await until(() => got.includes(`ok:${topic}`), T, 'subscribed');
    got.length = 0;
  }
  return { ws, got };
}

// Compressible and above the 1 KiB threshold: these go compressed to deflate peers.
const X = 'the same sentence again and again, compressible; '.repeat(80);
const B = 'a broadcast the per-connection compressor did not make: '.repeat(80);

describe.each([streamDoor, connectionDoor])('topics through $name', (door) => {
  it('publish reaches every subscriber once (deflate peers and plain ones) and no one else; a deflate peer\'s own messages still inflate after it', async () => {
    const { port, topics } = await topicServer(door);
    const subs = [await client(port, true, 'a'), await client(port, true, 'a'), await client(port, false, 'a'), await client(port, false, 'a')];
    const others = [await client(port, true), await client(port, false, 'b')];
    expect(topics.subscribers('a')).toBe(4);
    expect([...topics.topicNames()].sort()).toEqual(['a', 'b']);
    // X on each connection's own compressor (history), then the shared frame, then X again:
    // had the compressor not restarted, the second X would refer back into a window the peer does not have.
    for (const c of subs) c.ws.send(`say:${X}`);
    await until(() => subs.every((c) => c.got.length === 1), T, 'the first X');
    expect(topics.publish('a', B)).toBe(4);
    expect(topics.publish('a', 'short')).toBe(4);
    for (const c of subs) c.ws.send(`say:${X}`);
    await until(() => subs.every((c) => c.got.length === 4), T, 'broadcasts and the second X');
    for (const c of subs) expect(c.got).toEqual([X, B, 'short', X]);
    await new Promise((r) => setTimeout(r, 50));
    for (const c of others) expect(c.got).toEqual([]);
  });

  it('except leaves the sender out; broadcast reaches every open connection; a closed subscriber leaves its topics', async () => {
    const { port, topics } = await topicServer(door);
    const a = await client(port, true, 't');
    const b = await client(port, false, 't');
    const c = await client(port, false);
    const handles = (): object[] => [...(topics as unknown as { members: Map<object, unknown> }).members.keys()];
    const [ha] = handles();
    expect(topics.publish('t', 'not to a', { except: ha })).toBe(1);
    expect(topics.broadcast(new Uint8Array([1, 2, 3]))).toBe(3);
    await until(() => b.got.length === 2 && c.got.length === 1 && a.got.length === 1, T, 'deliveries');
    expect(b.got[0]).toBe('not to a');
    a.ws.close();
    await until(() => topics.subscribers('t') === 1 && topics.size === 2, T, 'the closed subscriber to leave');
  });
});

it('a subscriber that never reads is dropped at maxBackpressure; the others get every message', async () => {
  const { port, topics } = await topicServer(streamDoor, new web.Topics({ maxBackpressure: 256 * 1024 }));
  const reader = await client(port, false, 'big');
  const sock = net.connect(port, '127.0.0.1');
  cleanups.push(() => sock.destroy());
  await once(sock, 'connect');
  sock.write('GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
  await once(sock, 'data');
  // sub:big, masked with a zero key
  sock.write(Buffer.concat([Buffer.from([0x81, 0x80 | 7, 0, 0, 0, 0]), Buffer.from('sub:big')]));
  await until(() => topics.subscribers('big') === 2, T, 'the raw peer subscribed');
  sock.pause(); // never reads again
  const msg = new Uint8Array(64 * 1024).fill(7);
  let sent = 0;
  for (let i = 0; i < 400 && topics.dropped === 0; i++) {
    sent++;
    topics.publish('big', msg);
    await new Promise((r) => setImmediate(r));
  }
  expect(topics.dropped).toBe(1);
  expect(topics.subscribers('big')).toBe(1);
  await until(() => reader.got.length === sent, 30_000, () => `the reader to get all ${sent} (got ${reader.got.length})`);
});

describe.skipIf(!HAS_REDIS)('topics through the Redis broker', () => {
  it('a publish on one Topics reaches the subscribers of another over Redis, deflate peers included', async () => {
    const redis = await RedisServer.start();
    cleanups.push(() => redis.stop());
    const prefix = `web${process.pid}`;
    const one = await topicServer(streamDoor, new web.Topics().useBroker(redisBroker({ url: redis.url, prefix })));
    const two = await topicServer(connectionDoor, new web.Topics().useBroker(redisBroker({ url: redis.url, prefix })));
    cleanups.push(() => one.topics.close(), () => two.topics.close());
    const far = [await client(two.port, true, 'news'), await client(two.port, false, 'news')];
    const near = await client(one.port, true, 'news');
    // The broker subscribes asynchronously: publish until the far side hears one.
    await until(() => { one.topics.publish('news', 'probe'); return far[0].got.length > 0; }, 10_000, 'the broker to carry a probe');
    expect(one.topics.publish('news', B)).toBe(1);
    await until(() => far.every((c) => c.got.includes(B)) && near.got.includes(B), T, 'delivery over Redis');
    for (const c of [...far, near]) expect(c.got.filter((m) => m !== 'probe')).toEqual([B]);
  }, 60_000);
});
if (!HAS_REDIS) console.log(`skipping the web Topics over Redis test: ${NO_REDIS_REASON}`);
