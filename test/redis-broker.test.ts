// wasmsocket/redis with real redis-server processes: server processes (child
// processes on one Redis) publishing to each other's clients, subscription
// churn seen from Redis itself, a Redis outage mid-run, 1 MiB binary, foreign
// payloads. Skips when redis-server is not installed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { ensureDist } from './helpers/dist.ts';
import { BrokerNode, Client } from './helpers/broker-nodes.ts';
import { cli, HAS_REDIS, NO_REDIS_REASON, RedisServer, startCluster } from './helpers/redis.ts';
import { cleanupList } from './helpers/servers.ts';
import { sleep } from './helpers/wait.ts';
import { prng } from './helpers/prng.ts';
import { spawn } from 'node:child_process';

if (!HAS_REDIS) console.log(`skipping the Redis broker tests: ${NO_REDIS_REASON}`);

const cleanups = cleanupList({ bestEffort: true, ms: 10_000 });

/** Polls until `check` holds (bounded), re-reading `get` each time. */
async function eventually<R>(get: () => Promise<R> | R, check: (v: R) => boolean, what: string, ms = 10_000): Promise<R> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await get();
    if (check(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what} (last: ${JSON.stringify(v)})`);
    await sleep(25);
  }
}

/** Subscribers of a channel as Redis counts them (PUBSUB NUMSUB). */
async function numsub(redis: RedisServer, channel: string): Promise<number> {
  const lines = await cli(redis.port, 'PUBSUB', 'NUMSUB', channel);
  return Number(lines[1]);
}

describe.skipIf(!HAS_REDIS)('Redis broker (pub/sub on one Redis)', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    ensureDist();
    redis = await RedisServer.start();
  }, 60_000);
  afterAll(async () => { await redis?.stop(); });

  let prefixes = 0;
  async function nodes(n: number, extra: Record<string, unknown> = {}): Promise<{ nodes: BrokerNode[]; prefix: string }> {
    const prefix = `t${process.pid}-${prefixes++}`;
    const list = await Promise.all(Array.from({ length: n }, () => BrokerNode.start({ url: redis.url, prefix, ...extra })));
    for (const node of list) cleanups.push(() => node.stop());
    return { nodes: list, prefix };
  }
  async function client(node: BrokerNode): Promise<Client> {
    const c = await Client.connect(node.url);
    cleanups.push(() => c.close());
    return c;
  }

  it('3 processes: publishes from each reach every subscriber on every process exactly once, in order per publisher', async () => {
    const { nodes: list, prefix } = await nodes(3);
    const clients: Client[] = [];
    for (const node of list) for (let i = 0; i < 2; i++) clients.push(await client(node));
    for (const c of clients) await c.subscribe('room');
    // Each process holds one Redis subscription for the topic, whatever its number of local subscribers.
    await eventually(() => numsub(redis, `${prefix}:t:room`), (n) => n === 3, 'three Redis subscribers of the topic');
    const COUNT = 200;
    // Interleaved bursts: every process publishes while the others do.
    const bursts = await Promise.all(list.map((node, p) => node.call('burst', { topic: 'room', prefix: `p${p}-`, count: COUNT })));
    for (const b of bursts) expect(b.local).toBe(2 * COUNT); // local delivery, no round trip
    await eventually(() => clients.map((c) => c.messages.length), (l) => l.every((n) => n >= 3 * COUNT), 'every client has every message');
    await sleep(200); // a duplicate would arrive now
    for (const c of clients) {
      const texts = c.texts();
      expect(texts.length).toBe(3 * COUNT);
      expect(new Set(texts).size).toBe(3 * COUNT);
      for (let p = 0; p < 3; p++) {
        expect(texts.filter((t) => t.startsWith(`p${p}-`))).toEqual(Array.from({ length: COUNT }, (_, i) => `p${p}-${i}`));
      }
    }
    const metrics = await Promise.all(list.map((n) => n.metrics()));
    for (const m of metrics) {
      expect(m.published).toBe(COUNT);
      expect(m.received).toBe(2 * COUNT);
      expect(m.delivered).toBe(2 * 2 * COUNT);
      expect(m.ownEchoes).toBe(COUNT); // its own messages came back and were skipped
      expect(m.dropped).toBe(0);
      expect(m.ignored).toBe(0);
      expect(m.connected).toBe(true);
    }
  }, 60_000);

  it('broadcast reaches every client of every process; text stays text, binary stays binary', async () => {
    const { nodes: list } = await nodes(2);
    const a = await client(list[0]!), b = await client(list[1]!);
    await eventually(() => list[0]!.metrics(), (m) => m.subscriptions === 1 && m.connected, 'broadcast channel subscribed');
    await eventually(() => list[1]!.metrics(), (m) => m.subscriptions === 1 && m.connected, 'broadcast channel subscribed');
    await list[0]!.publish(null, 'hello all');
    await eventually(() => b.messages.length, (n) => n === 1, 'the first broadcast across');
    await list[1]!.publish(null, Buffer.from([0, 1, 2, 255]));
    for (const c of [a, b]) {
      await eventually(() => c.messages.length, (n) => n === 2, 'two broadcasts');
      expect(c.binary).toEqual([false, true]);
      expect(c.messages[0]!.toString()).toBe('hello all');
      expect([...c.messages[1]!]).toEqual([0, 1, 2, 255]);
    }
  }, 30_000);

  it('a process holds a Redis subscription only for topics with local subscribers (PUBSUB CHANNELS through churn)', async () => {
    const { nodes: [a, b], prefix } = await nodes(2);
    const channels = async () => (await cli(redis.port, 'PUBSUB', 'CHANNELS', `${prefix}:t:*`)).sort();
    const ca1 = await client(a!), ca2 = await client(a!), cb = await client(b!);
    expect(await channels()).toEqual([]);
    await ca1.subscribe('x');
    await ca2.subscribe('x');
    await eventually(channels, (c) => c.join() === `${prefix}:t:x`, 'x subscribed once');
    expect(await numsub(redis, `${prefix}:t:x`)).toBe(1);
    await ca1.unsubscribe('x');
    await sleep(100);
    expect(await numsub(redis, `${prefix}:t:x`)).toBe(1); // ca2 still follows it
    // b follows y only: traffic on x never reaches it.
    await cb.subscribe('y');
    await eventually(channels, (c) => c.join() === `${prefix}:t:x,${prefix}:t:y`, 'x and y');
    const before = await b!.metrics();
    await a!.call('burst', { topic: 'x', prefix: 'x', count: 50 });
    await eventually(() => ca2.messages.length, (n) => n === 50, 'local x');
    const after = await b!.metrics();
    expect(after.received + after.ignored).toBe(before.received + before.ignored);
    // Churn: subscribe/unsubscribe many topics; Redis ends with exactly the ones still followed.
    const rand = prng(14);
    const held = new Map<string, number>();
    for (let i = 0; i < 200; i++) {
      const topic = `c${Math.floor(rand() * 20)}`;
      if (held.get(topic)) { await cb.unsubscribe(topic); held.set(topic, 0); }
      else { await cb.subscribe(topic); held.set(topic, 1); }
    }
    const expected = [`${prefix}:t:x`, `${prefix}:t:y`, ...[...held].filter(([, n]) => n).map(([t]) => `${prefix}:t:${t}`)].sort();
    await eventually(channels, (c) => c.join() === expected.join(), 'Redis channels match the followed topics');
    expect((await b!.metrics()).subscriptions).toBe(expected.length); // its topics plus the broadcast channel
    // The last subscriber goes: the subscription goes. A closed socket counts as leaving.
    ca2.close();
    cb.close();
    await eventually(channels, (c) => c.length === 0, 'no channels left');
  }, 60_000);

  it('a 1 MiB binary message crosses processes byte-exact', async () => {
    const { nodes: [a, b], prefix } = await nodes(2);
    const ca = await client(a!), cb = await client(b!);
    await ca.subscribe('big');
    await cb.subscribe('big');
    await eventually(() => numsub(redis, `${prefix}:t:big`), (n) => n === 2, 'both subscribed');
    const rand = prng(1);
    const payload = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < payload.length; i++) payload[i] = (rand() * 256) | 0;
    await a!.publish('big', payload);
    for (const c of [ca, cb]) {
      await eventually(() => c.messages.length, (n) => n === 1, '1 MiB message', 10_000).catch(async (err) => {
        throw new Error(`${err.message}; ${JSON.stringify(await a!.call('metrics'))} ${JSON.stringify(await b!.call('metrics'))}`);
      });
      expect(c.binary[0]).toBe(true);
      expect(createHash('sha256').update(c.messages[0]!).digest('hex')).toBe(createHash('sha256').update(payload).digest('hex'));
    }
  }, 30_000);

  it('permessage-deflate: each process compresses once for its own deflate peers; plain peers get it plain', async () => {
    const { nodes: [a, b], prefix } = await nodes(2, { server: { perMessageDeflate: { threshold: 0 } } });
    const deflated = await client(b!); // ws offers permessage-deflate by default
    const plain = await Client.connect(b!.url, { perMessageDeflate: false });
    cleanups.push(() => plain.close());
    const local = await client(a!);
    expect(deflated.ws.extensions).toContain('permessage-deflate');
    expect(plain.ws.extensions).toBe('');
    for (const c of [deflated, plain, local]) await c.subscribe('news');
    await eventually(() => numsub(redis, `${prefix}:t:news`), (n) => n === 2, 'both subscribed');
    const text = 'all the news that fits '.repeat(500);
    await a!.publish('news', text);
    await a!.publish('news', 'second');
    for (const c of [deflated, plain, local]) {
      await eventually(() => c.messages.length, (n) => n === 2, 'both messages');
      expect(c.texts()).toEqual([text, 'second']);
    }
    // The bytes that crossed b's deflate connection are far fewer than the text.
    const received = (deflated.ws as unknown as { _socket: { bytesRead: number } })._socket.bytesRead;
    expect(received).toBeLessThan(text.length / 4);
  }, 30_000);

  it('foreign and damaged payloads on our channels are ignored and counted, and delivery goes on', async () => {
    const { nodes: [a, b], prefix } = await nodes(2);
    const cb = await client(b!);
    await cb.subscribe('room');
    await eventually(() => numsub(redis, `${prefix}:t:room`), (n) => n === 1, 'subscribed');
    await cli(redis.port, 'PUBLISH', `${prefix}:t:room`, 'not an envelope');
    await cli(redis.port, 'PUBLISH', `${prefix}:t:room`, '');
    await cli(redis.port, 'PUBLISH', `${prefix}:all`, 'WSB1 garbage');
    // A well-formed envelope naming another topic than its channel's.
    const forged = Buffer.concat([Buffer.from('WSB1'), Buffer.from([0]), Buffer.alloc(8, 1), Buffer.from([0, 5]), Buffer.from('other'), Buffer.from('x')]);
    await cli(redis.port, 'PUBLISH', `${prefix}:t:room`, 'WSB1\x7f'.padEnd(40, 'z'));
    await new Promise<void>((resolve, reject) => {
      const p = spawn('/usr/bin/redis-cli', ['-p', String(redis.port), '-x', 'PUBLISH', `${prefix}:t:room`]);
      p.on('exit', (code: number) => (code === 0 ? resolve() : reject(new Error(`redis-cli exited ${code}`))));
      p.stdin.end(forged);
    });
    await a!.publish('room', 'real');
    await eventually(() => cb.messages.length, (n) => n === 1, 'the real message');
    expect(cb.texts()).toEqual(['real']);
    const m = await b!.metrics();
    expect(m.ignored).toBe(5);
    expect(m.received).toBe(1);
    expect(b!.alive).toBe(true);
  }, 30_000);
});

/**
 * Streams mode on one Redis: process `a` connected directly, process `b`
 * through a TCP proxy the test can cut, both with stream length `maxLen`.
 */
async function streamsPair(tag: string, maxLen: number) {
  const redis = await RedisServer.start();
  cleanups.push(() => redis.stop());
  const { TcpProxy } = await import('./helpers/redis.ts');
  const proxy = await new TcpProxy(redis.port).listen();
  cleanups.push(() => proxy.close());
  const prefix = `${tag}${process.pid}`;
  const options = { mode: 'streams', prefix, maxReconnectDelay: 300, streamMaxLen: maxLen };
  const a = await BrokerNode.start({ ...options, url: redis.url });
  const b = await BrokerNode.start({ ...options, url: proxy.url });
  cleanups.push(() => a.stop(), () => b.stop());
  return { redis, proxy, prefix, a, b };
}

/** Two broker processes on `redis` under `prefix`, a client of each subscribed to 'room', both Redis subscriptions in place. */
async function twoInRoom(redis: RedisServer, prefix: string, extra: Record<string, unknown>) {
  const [a, b] = await Promise.all([0, 1].map(() => BrokerNode.start({ url: redis.url, prefix, ...extra })));
  cleanups.push(() => a.stop(), () => b.stop());
  const ca = await Client.connect(a.url), cb = await Client.connect(b.url);
  cleanups.push(() => ca.close(), () => cb.close());
  await ca.subscribe('room');
  await cb.subscribe('room');
  await eventually(() => numsub(redis, `${prefix}:t:room`), (n) => n === 2, 'both subscribed');
  return { a, b, ca, cb };
}

describe.skipIf(!HAS_REDIS)('Redis broker: outages', () => {
  beforeAll(() => ensureDist(), 240_000);

  it('redis-server killed mid-run: no crash, local delivery goes on, publishes meanwhile are dropped and counted, then reconnect with backoff and resubscribe', async () => {
    const redis = await RedisServer.start();
    cleanups.push(() => redis.stop());
    const prefix = `o${process.pid}`;
    const { a, b, ca, cb } = await twoInRoom(redis, prefix, { maxReconnectDelay: 500 });
    await a.publish('room', 'before');
    await eventually(() => cb.texts(), (t) => t.join() === 'before', 'before reaches b');
    const cb2 = await Client.connect(b.url);
    cleanups.push(() => cb2.close());
    await cb2.subscribe('room3');
    await eventually(() => numsub(redis, `${prefix}:t:room3`), (n) => n === 1, 'room3 subscribed');

    await redis.kill();
    await eventually(() => a.metrics(), (m) => !m.connected, 'a notices the outage');
    // Local subscribers get everything published into the outage; Redis nothing.
    const burst = await a.call('burst', { topic: 'room', prefix: 'during-', count: 2000 });
    expect(burst.local).toBe(2000);
    await eventually(() => ca.messages.length, (n) => n === 1 + 2000, 'local delivery during the outage');
    // 50,000 x 1 KiB (50 MB) published into the outage on a topic only other processes
    // follow: nothing is held (at-most-once), so the process does not grow with it.
    const heapBefore = (await a.call('metrics')).heapUsed;
    const OUTAGE = 50_000;
    await a.call('burst', { topic: 'elsewhere', prefix: `${'x'.repeat(1024)}-`, count: OUTAGE });
    const during = await a.call('metrics');
    expect(during.metrics.dropped).toBe(2000 + OUTAGE);
    expect(during.metrics.pendingBytes).toBe(0);
    expect(during.heapUsed - heapBefore).toBeLessThan(4 * 1024 * 1024); // held, it would be 50 MB
    // Topics change while Redis is down: b's socket leaves room3 for room2.
    await cb2.unsubscribe('room3');
    await cb2.subscribe('room2');
    await sleep(1500); // an outage of a couple of seconds: reconnect attempts back off
    expect(a.alive && b.alive).toBe(true);

    await redis.restart();
    await eventually(() => numsub(redis, `${prefix}:t:room2`), (n) => n === 1, 'b subscribed to the topic it took up during the outage');
    await eventually(() => numsub(redis, `${prefix}:t:room`), (n) => n === 2, 'both resubscribed after the restart');
    await eventually(() => numsub(redis, `${prefix}:t:room3`), (n) => n === 0, 'room3, left during the outage, not followed after it');
    await eventually(() => a.metrics(), (m) => m.connected, 'a reconnected');
    const m = await a.metrics();
    expect(m.reconnects).toBeGreaterThan(0);
    // Backoff: from 50 ms doubling to 500 ms, two connections, ~2-3 s down: a handful of attempts each, not hundreds.
    expect(m.reconnects).toBeLessThan(40);
    await a.publish('room', 'after');
    await eventually(() => cb.texts(), (t) => t.length === 2, 'after reaches b');
    expect(cb.texts()).toEqual(['before', 'after']); // the outage's messages never reached b: stated, counted at a
  }, 90_000);

  it('redis-server frozen (SIGSTOP): publishes past maxPendingBytes are dropped and counted, local delivery goes on, all resumes on SIGCONT', async () => {
    const redis = await RedisServer.start();
    cleanups.push(async () => { redis.proc?.kill('SIGCONT'); await redis.stop(); });
    const prefix = `f${process.pid}`;
    const MAX_PENDING = 256 * 1024;
    const { a, b, ca, cb } = await twoInRoom(redis, prefix, { maxPendingBytes: MAX_PENDING });

    redis.proc!.kill('SIGSTOP'); // connected, never answering: the case an offline queue would not catch
    // 2,000 x 1 KiB = 2 MiB into a Redis that does not answer: at most 256 KiB (plus what the
    // kernel's socket buffers took) waits for an answer; the rest is dropped and counted.
    const burst = await a.call('burst', { topic: 'room', prefix: `${'y'.repeat(1024)}-`, count: 2000 });
    expect(burst.local).toBe(2000);
    await eventually(() => ca.messages.length, (n) => n === 2000, 'local delivery while Redis is frozen');
    const m = await a.metrics();
    expect(m.pendingBytes).toBeLessThanOrEqual(MAX_PENDING);
    expect(m.pendingBytes).toBeGreaterThan(0);
    expect(m.dropped).toBeGreaterThan(0);

    redis.proc!.kill('SIGCONT');
    const settled = await eventually(() => a.metrics(), (x) => x.pendingBytes === 0, 'pending publishes answered');
    expect(settled.published + settled.dropped).toBe(2000); // each publish accounted for once
    ca.messages.length = 0;
    cb.messages.length = 0;
    await a.publish('room', 'thawed');
    await eventually(() => cb.texts(), (t) => t.includes('thawed'), 'delivery resumes');
    expect(a.alive && b.alive).toBe(true);
  }, 90_000);

  it('Streams mode: a process cut off from Redis delivers what it missed on reconnect, in order, exactly once; MAXLEN bounds the stream', async () => {
    const { redis, proxy, prefix, a, b } = await streamsPair('s', 1000);
    const ca = await Client.connect(a.url), cb = await Client.connect(b.url);
    cleanups.push(() => ca.close(), () => cb.close());
    await ca.subscribe('room');
    await cb.subscribe('room');
    // Both readers know where the stream ends once a message crosses both ways.
    await eventually(async () => { await a.publish('room', 'warm-a'); return cb.texts(); }, (t) => t.includes('warm-a'), 'a -> b', 10_000);
    await eventually(async () => { await b.publish('room', 'warm-b'); return ca.texts(); }, (t) => t.includes('warm-b'), 'b -> a', 10_000);
    await sleep(500); // stragglers of the warm-up retries
    ca.messages.length = 0;
    cb.messages.length = 0;
    const receivedBefore = (await b.metrics()).received;

    await a.call('burst', { topic: 'room', prefix: 'before-', count: 50 });
    await eventually(() => cb.messages.length, (n) => n === 50, 'before');

    proxy.cut();
    await eventually(() => b.metrics(), (m) => !m.connected, 'b notices the cut');
    const GAP = 300;
    await a.call('burst', { topic: 'room', prefix: 'gap-', count: GAP });
    // b publishes into its own outage: its clients get it, Redis does not (dropped, counted).
    const offline = await b.call('burst', { topic: 'room', prefix: 'b-offline-', count: 5 });
    expect(offline.local).toBe(5); // one local subscriber, five messages
    await sleep(500);
    expect(cb.texts().filter((t) => t.startsWith('gap-'))).toEqual([]);

    proxy.restore();
    await eventually(() => cb.texts().filter((t) => t.startsWith('gap-')).length, (n) => n === GAP, 'the missed messages after reconnect', 20_000);
    await a.call('burst', { topic: 'room', prefix: 'after-', count: 20 });
    await eventually(() => cb.messages.length, (n) => n === 50 + 5 + GAP + 20, 'after');
    await sleep(300); // a duplicate would arrive now
    const range = (p: string, n: number) => Array.from({ length: n }, (_, i) => `${p}${i}`);
    expect(cb.texts()).toEqual([...range('before-', 50), ...range('b-offline-', 5), ...range('gap-', GAP), ...range('after-', 20)]);
    expect(ca.texts()).toEqual([...range('before-', 50), ...range('gap-', GAP), ...range('after-', 20)]);
    const mb = await b.metrics();
    expect(mb.dropped).toBe(5);
    expect(mb.received - receivedBefore).toBe(50 + GAP + 20);
    expect(mb.reconnects).toBeGreaterThan(0);
    expect(mb.gaps).toBe(0); // back within the window: nothing lost

    // MAXLEN ~ 1000: Redis trims whole nodes (stream-node-max-entries, 100), so between 1000 and 1100 stay.
    // (b may read slower than 3000 land at once: what is trimmed before it reads is gone, by design.)
    const publishedBefore = (await a.metrics()).published;
    await a.call('burst', { topic: 'room', prefix: 'fill-', count: 3000 });
    await eventually(() => a.metrics(), (m) => m.published === publishedBefore + 3000, 'fill acknowledged by Redis');
    const xlen = Number((await cli(redis.port, 'XLEN', `${prefix}:s:t:room`))[0]);
    expect(xlen).toBeGreaterThanOrEqual(1000);
    expect(xlen).toBeLessThan(1200);
    expect(Number((await cli(redis.port, 'PTTL', `${prefix}:s:t:room`))[0])).toBeGreaterThan(0);
  }, 120_000);

  it('Streams mode: away longer than the window, a process resumes with what is retained, in order, and counts the gap', async () => {
    const { redis, proxy, prefix, a, b } = await streamsPair('w', 100);
    const cb = await Client.connect(b.url);
    cleanups.push(() => cb.close());
    await cb.subscribe('room');
    await eventually(async () => { await a.publish('room', 'warm'); return cb.texts(); }, (t) => t.includes('warm'), 'a -> b', 10_000);
    await sleep(300);
    cb.messages.length = 0;
    proxy.cut();
    await eventually(() => b.metrics(), (m) => !m.connected, 'b notices the cut');
    await a.call('burst', { topic: 'room', prefix: 'm-', count: 1000 });
    await eventually(() => a.metrics(), (m) => m.pendingBytes === 0, 'a\'s publishes acknowledged');
    proxy.restore();
    await eventually(() => cb.texts().at(-1), (t) => t === 'm-999', 'the newest message after reconnect', 20_000);
    await sleep(300);
    const got = cb.texts().map((t) => Number(t.slice(2)));
    // A contiguous run ending at the newest: what MAXLEN ~ 100 kept (100 to 199 entries), each once.
    expect(got.length).toBeGreaterThanOrEqual(100);
    expect(got.length).toBeLessThan(200);
    expect(got).toEqual(Array.from({ length: got.length }, (_, i) => 1000 - got.length + i));
    expect((await b.metrics()).gaps).toBe(1);
  }, 90_000);
});

describe.skipIf(!HAS_REDIS)('Redis broker on a Redis Cluster (sharded pub/sub)', () => {
  let cluster: Awaited<ReturnType<typeof startCluster>>;
  beforeAll(async () => {
    ensureDist();
    cluster = await startCluster();
  }, 120_000);
  afterAll(async () => { await cluster?.stop(); });

  it('topics live on the shard owning their slot (SSUBSCRIBE), publishes (SPUBLISH) cross processes in order', async () => {
    const prefix = `c${process.pid}`;
    const [a, b] = await Promise.all([0, 1].map(() => BrokerNode.start({ cluster: cluster.urls, prefix })));
    cleanups.push(() => a!.stop(), () => b!.stop());
    const ca = await Client.connect(a!.url), cb = await Client.connect(b!.url);
    cleanups.push(() => ca.close(), () => cb.close());
    const topics = Array.from({ length: 12 }, (_, i) => `topic-${i}`);
    for (const t of topics) { await ca.subscribe(t); await cb.subscribe(t); }
    const shardChannels = async () => Promise.all(cluster.nodes.map(async (n) => (await cli(n.port, 'PUBSUB', 'SHARDCHANNELS', `${prefix}:*`)).sort()));
    const perNode = await eventually(shardChannels, (l) => l.flat().length === topics.length + 1, 'every topic (and broadcast) sharded-subscribed', 20_000);
    // Each channel is on exactly one shard, and the 13 channels spread over more than one shard.
    expect(new Set(perNode.flat()).size).toBe(topics.length + 1);
    expect(perNode.filter((l) => l.length > 0).length).toBeGreaterThan(1);
    for (const n of cluster.nodes) {
      for (const ch of (await cli(n.port, 'PUBSUB', 'SHARDCHANNELS', `${prefix}:t:*`))) {
        expect(Number((await cli(n.port, 'PUBSUB', 'SHARDNUMSUB', ch))[1])).toBe(2); // one per process
      }
    }
    for (const t of topics) await a!.call('burst', { topic: t, prefix: `${t}/a`, count: 20 });
    for (const t of topics) await b!.call('burst', { topic: t, prefix: `${t}/b`, count: 20 });
    for (const c of [ca, cb]) await eventually(() => c.messages.length, (n) => n === topics.length * 40, 'all sharded messages');
    for (const c of [ca, cb]) {
      for (const t of topics) {
        for (const p of ['a', 'b']) {
          expect(c.texts().filter((x) => x.startsWith(`${t}/${p}`))).toEqual(Array.from({ length: 20 }, (_, i) => `${t}/${p}${i}`));
        }
      }
    }
    // The last local subscriber leaves: the shard drops the channel.
    await ca.unsubscribe('topic-3');
    await cb.unsubscribe('topic-3');
    await eventually(shardChannels, (l) => !l.flat().includes(`${prefix}:t:topic-3`), 'topic-3 unsubscribed on its shard', 10_000);
  }, 120_000);
});
