// Redis Streams: one stream per topic (and one for broadcast), trimmed to
// about `streamMaxLen` entries (XADD MAXLEN ~) and expiring `streamTtl` ms
// after its last message, so Redis memory stays bounded. A process reads the
// streams of the topics its sockets follow with one blocking XREAD, from the
// last entry id it delivered. After a disconnect it resumes from that id: what
// was published meanwhile (and is still retained) is delivered in order, each
// entry once, because ids only grow and the position moves only after delivery.
import { Buffer } from 'node:buffer';
import { backoff, loadRedis, type RedisConnection } from './client.js';
import type { Transport, TransportHooks, TransportOptions } from './transport.js';

/** Entries per XREAD: bounds what one read holds in memory (256 x the largest message). */
const READ_COUNT = 256;
/** A blocking read returns at least this often (ms), so a dead connection is noticed. */
const BLOCK_MS = 5000;
const PENDING = '';

export class StreamsTransport implements Transport {
  private readonly client: RedisConnection;
  private readonly reader: RedisConnection;
  private readonly buffers: RedisConnection;
  private readonly readerBuffers: RedisConnection;
  /** Stream key -> id of the last entry delivered ('' while its starting point is being read). */
  private readonly positions = new Map<string, string>();
  private readerId: string | null = null;
  private blocked = false;
  private closed = false;
  private wake: (() => void) | null = null;
  /** Set by a reader reconnect: check that each stream still holds the entry after our position. */
  private checkGaps = false;
  private readonly retry: (n: number) => number;

  constructor(private readonly options: TransportOptions, private readonly hooks: TransportHooks) {
    if (options.cluster) throw new Error('Streams mode needs a single Redis; on a Redis Cluster use the pub/sub mode (sharded)');
    const redis = loadRedis();
    this.retry = backoff(options.maxReconnectDelay);
    const client = { url: options.url, disableOfflineQueue: true, socket: { reconnectStrategy: this.retry, connectTimeout: 5000 } };
    this.client = redis.createClient(client);
    this.reader = redis.createClient(client);
    const asBuffers = { [redis.RESP_TYPES.BLOB_STRING]: Buffer };
    this.buffers = this.client.withTypeMapping(asBuffers);
    this.readerBuffers = this.reader.withTypeMapping(asBuffers);
    for (const c of [this.client, this.reader]) {
      c.on('error', (err: Error) => hooks.error(err));
      c.on('reconnecting', () => hooks.reconnecting());
    }
    this.reader.on('ready', () => { this.readerId = null; this.checkGaps = true; this.poke(); });
    this.client.on('ready', () => { for (const [key, id] of this.positions) if (id === PENDING) this.locate(key); });
  }

  async start(): Promise<void> {
    this.add(null);
    void this.loop();
    await Promise.all([this.client.connect(), this.reader.connect()]);
  }

  get ready(): boolean { return this.client.isReady; }

  send(topic: string | null, envelope: Buffer): Promise<unknown> {
    const key = this.keyOf(topic);
    const added = this.client.sendCommand(['XADD', key, 'MAXLEN', '~', String(this.options.streamMaxLen), '*', 'm', envelope]);
    this.client.sendCommand(['PEXPIRE', key, String(this.options.streamTtl)]).catch(() => {});
    return added;
  }

  add(topic: string | null): void {
    const key = this.keyOf(topic);
    if (this.positions.has(key)) return;
    this.positions.set(key, PENDING);
    this.locate(key);
  }

  remove(topic: string | null): void {
    if (this.positions.delete(this.keyOf(topic))) this.interrupt();
  }

  subscriptions(): number { return this.positions.size; }

  /** The id of the last entry delivered here from `topic`'s stream; undefined while not followed or still located. */
  position(topic: string | null): string | undefined {
    const id = this.positions.get(this.keyOf(topic));
    return id === PENDING ? undefined : id;
  }

  /**
   * Up to `count` entries of `topic`'s stream after `afterId`, oldest first. Sent on the
   * connection that also locates new topics, so a range asked for after a topic was
   * added reaches at least where its live reading starts: nothing falls between.
   */
  async range(topic: string | null, afterId: string, count: number): Promise<Array<[string, Buffer | null]>> {
    const entries = await this.buffers.sendCommand(['XRANGE', this.keyOf(topic), `(${afterId}`, '+', 'COUNT', String(count)]) as Array<[Buffer, Buffer[]]>;
    return entries.map(([id, fields]) => [id.toString(), fields.length === 2 && String(fields[0]) === 'm' ? fields[1]! : null]);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.positions.clear();
    this.poke();
    await Promise.allSettled([this.client, this.reader].map((c) => c.close ? c.close() : c.destroy?.()));
  }

  /** A new topic is read from the stream's current end: the id of its newest entry. */
  private locate(key: string): void {
    if (!this.client.isReady) return; // retried on 'ready'
    this.buffers.sendCommand(['XREVRANGE', key, '+', '-', 'COUNT', '1']).then((last: Array<[Buffer, unknown]>) => {
      if (this.positions.get(key) !== PENDING) return;
      this.positions.set(key, last.length ? last[0]![0].toString() : '0-0');
      this.interrupt();
    }, (err: Error) => {
      this.hooks.error(err);
      setTimeout(() => { if (this.positions.get(key) === PENDING) this.locate(key); }, 500).unref();
    });
  }

  /** The set of streams changed: end the blocking read so the next one covers them. */
  private interrupt(): void {
    this.poke();
    if (this.blocked && this.readerId !== null && this.client.isReady) {
      this.client.sendCommand(['CLIENT', 'UNBLOCK', this.readerId]).catch(() => {});
    }
  }

  private poke(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => { this.wake = null; resolve(); }, ms);
      this.wake = () => { clearTimeout(t); resolve(); };
    });
  }

  private async loop(): Promise<void> {
    let failures = 0;
    while (!this.closed) {
      if (!this.reader.isReady) { await this.sleep(BLOCK_MS); continue; }
      try {
        this.readerId ??= String(await this.reader.sendCommand(['CLIENT', 'ID']));
        if (this.checkGaps) {
          this.checkGaps = false;
          await this.findGaps();
        }
        // The streams are listed in the same tick the read is sent, so a change
        // after this point finds `blocked` set and unblocks it.
        const keys: string[] = [];
        const ids: string[] = [];
        for (const [key, id] of this.positions) if (id !== PENDING) { keys.push(key); ids.push(id); }
        if (keys.length === 0) { await this.sleep(BLOCK_MS); continue; }
        this.blocked = true;
        const reply = await this.readerBuffers.sendCommand(['XREAD', 'COUNT', String(READ_COUNT), 'BLOCK', String(BLOCK_MS), 'STREAMS', ...keys, ...ids]);
        this.blocked = false;
        failures = 0;
        if (reply) this.deliver(reply as Record<string, Array<[Buffer, Buffer[]]>>);
      } catch (err) {
        this.blocked = false;
        if (this.closed) return;
        this.hooks.error(err as Error);
        await this.sleep(this.retry(failures++));
      }
    }
  }

  /**
   * After a disconnect: when a stream no longer holds the entry this process
   * stopped at (trimmed past it, or the key expired), entries after it may be
   * gone too. Counted as a gap unless the oldest retained entry is provably the
   * very next one (same millisecond, next sequence); delivery resumes with what
   * is retained, in order.
   */
  private async findGaps(): Promise<void> {
    for (const [key, id] of [...this.positions]) {
      if (id === PENDING || id === '0-0') continue;
      let first: string | null = null;
      try {
        const info = await this.reader.sendCommand(['XINFO', 'STREAM', key]) as Record<string, unknown> | Map<string, unknown>;
        const entry = (info instanceof Map ? info.get('first-entry') : info['first-entry']) as [unknown, unknown] | null;
        first = entry ? String(entry[0]) : null;
      } catch {
        first = null; // no such key: expired or deleted
      }
      if (first !== null && compareIds(first, id) <= 0) continue; // our entry is still there
      const [ms, seq] = id.split('-');
      if (first !== `${ms}-${Number(seq) + 1}`) this.hooks.gap();
    }
  }

  private deliver(reply: Record<string, Array<[Buffer, Buffer[]]>> | Map<string, Array<[Buffer, Buffer[]]>>): void {
    const streams = reply instanceof Map ? reply : new Map(Object.entries(reply));
    for (const [rawKey, entries] of streams) {
      const key = String(rawKey);
      if (!this.positions.has(key)) continue; // dropped while the read was out
      const topic = this.topicOf(key);
      for (const [id, fields] of entries) {
        this.positions.set(key, id.toString());
        const envelope = fields.length === 2 && String(fields[0]) === 'm' ? fields[1]! : null;
        this.hooks.message(envelope ?? Buffer.alloc(0), envelope ? topic : undefined);
      }
    }
  }

  private keyOf(topic: string | null): string {
    return topic === null ? `${this.options.prefix}:s:all` : `${this.options.prefix}:s:t:${topic}`;
  }

  private topicOf(key: string): string | null | undefined {
    if (key === `${this.options.prefix}:s:all`) return null;
    const head = `${this.options.prefix}:s:t:`;
    return key.startsWith(head) ? key.slice(head.length) : undefined;
  }
}

/** Orders two stream ids ("ms-seq"). */
function compareIds(a: string, b: string): number {
  const [am, as] = a.split('-').map(BigInt) as [bigint, bigint];
  const [bm, bs] = b.split('-').map(BigInt) as [bigint, bigint];
  return am !== bm ? (am < bm ? -1 : 1) : as === bs ? 0 : as < bs ? -1 : 1;
}
