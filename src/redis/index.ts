// wasmsocket/redis: wss.publish()/wss.broadcast() across processes and
// machines attached to one Redis (or Redis Cluster).
//
//   import { WebSocketServer } from 'wasmsocket';
//   import { redisBroker } from 'wasmsocket/redis';
//   const wss = new WebSocketServer({ port: 8080 });
//   wss.useBroker(redisBroker({ url: 'redis://127.0.0.1:6379' }));
//
// Each process frames (and compresses) a message once for its own sockets;
// the publishing process serves its sockets first, with no round trip, and
// skips its own message when Redis hands it back.
import type { Broker, BrokerSink } from '../core/broker.js';
import { decode, encode, newOrigin } from './envelope.js';
import { PubSubTransport } from './pubsub.js';
import { StreamsTransport } from './streams.js';
import type { Transport } from './transport.js';

export interface RedisBrokerOptions {
  /** One Redis (default redis://127.0.0.1:6379). */
  url?: string;
  /** Redis Cluster root nodes: topics go over sharded pub/sub (SSUBSCRIBE/SPUBLISH, Redis 7). */
  cluster?: string[];
  /**
   * 'pubsub' (default): at-most-once; a process cut off from Redis misses what is published meanwhile.
   * 'streams': one Redis Stream per topic; a process that reconnects within the retained window
   * delivers what it missed, in order, once.
   */
  mode?: 'pubsub' | 'streams';
  /** Namespace of the channels and stream keys (default 'wasmsocket'); servers sharing it share topics. */
  prefix?: string;
  /**
   * Bytes of publishes sent to Redis and not yet acknowledged (default 8 MiB). Beyond it, and
   * whenever Redis is unreachable, a publish goes to local sockets only and is counted as dropped.
   */
  maxPendingBytes?: number;
  /** Longest wait between reconnect attempts (ms, default 2000; exponential from 50 ms, with jitter). */
  maxReconnectDelay?: number;
  /** Streams mode: entries kept per topic, at least (XADD MAXLEN ~; default 10000). */
  streamMaxLen?: number;
  /** Streams mode: a topic's stream expires this long after its last message (ms, default 10 min). */
  streamTtl?: number;
  /** Called with Redis errors (connection lost, refused commands). They are counted either way. */
  onError?: (err: Error) => void;
}

export interface RedisBrokerMetrics {
  /** Messages this process sent to Redis (acknowledged). */
  published: number;
  /** Messages from other processes received from Redis. */
  received: number;
  /** Local deliveries of received messages (one per socket). */
  delivered: number;
  /** Publishes not sent to Redis: Redis unreachable, a failed command, or maxPendingBytes reached. */
  dropped: number;
  /** Payloads on our channels or streams that were not ours (foreign or damaged): ignored. */
  ignored: number;
  /** This process's own messages coming back from Redis: skipped. */
  ownEchoes: number;
  /** Reconnect attempts. */
  reconnects: number;
  /**
   * Streams mode: streams found, after a reconnect, to no longer reach back to where this
   * process stopped (away longer than the retained window): messages may have been lost.
   */
  gaps: number;
  errors: number;
  /** Bytes published and not yet acknowledged. */
  pendingBytes: number;
  /** Channels (pub/sub) or streams (streams mode) this process follows in Redis now. */
  subscriptions: number;
  /** Whether the connection for publishing is up. */
  connected: boolean;
}

// 8 MiB: 8 of the largest chat messages' worth at 1 MiB, or ~120k 64 B
// messages: a few hundred ms of a busy process's output while Redis stalls.
const DEFAULT_MAX_PENDING = 8 * 1024 * 1024;

/** A message read back from a topic's stream (RedisBroker.replay). */
export interface ReplayedMessage {
  /** Its stream id ("ms-seq"): where to resume after it. */
  id: string;
  payload: Buffer;
  binary: boolean;
}

// A stream id as Redis makes them: milliseconds and a sequence number.
const STREAM_ID = /^\d{1,20}-\d{1,20}$/;
// 1,000 messages a replay at most by default: a few seconds of a busy room.
const DEFAULT_REPLAY_COUNT = 1000;

export class RedisBroker implements Broker {
  private readonly transport: Transport;
  private readonly streams: StreamsTransport | null;
  private readonly origin = newOrigin();
  private readonly maxPendingBytes: number;
  private readonly onError: ((err: Error) => void) | undefined;
  private sink: BrokerSink | null = null;
  private closed = false;
  private readonly counts = { published: 0, received: 0, delivered: 0, dropped: 0, ignored: 0, ownEchoes: 0, reconnects: 0, gaps: 0, errors: 0 };
  private pendingBytes = 0;
  /** Resolves once the first connection is made (or failed for good). */
  readonly ready: Promise<void>;

  constructor(options: RedisBrokerOptions = {}) {
    this.maxPendingBytes = options.maxPendingBytes ?? DEFAULT_MAX_PENDING;
    this.onError = options.onError;
    const transportOptions = {
      url: options.url ?? (options.cluster ? undefined : 'redis://127.0.0.1:6379'),
      cluster: options.cluster,
      prefix: options.prefix ?? 'wasmsocket',
      maxReconnectDelay: options.maxReconnectDelay ?? 2000,
      streamMaxLen: options.streamMaxLen ?? 10_000,
      streamTtl: options.streamTtl ?? 10 * 60_000,
    };
    const hooks = {
      message: (envelope: Buffer, topic: string | null | undefined) => this.receive(envelope, topic),
      reconnecting: () => { this.counts.reconnects++; },
      gap: () => { this.counts.gaps++; },
      error: (err: Error) => { this.counts.errors++; this.onError?.(err); },
    };
    this.streams = options.mode === 'streams' ? new StreamsTransport(transportOptions, hooks) : null;
    this.transport = this.streams ?? new PubSubTransport(transportOptions, hooks);
    this.ready = this.transport.start().catch((err: Error) => hooks.error(err));
  }

  attach(sink: BrokerSink): void {
    if (this.sink) throw new Error('This broker is attached to a server already');
    this.sink = sink;
    for (const topic of sink.topics()) this.transport.add(topic);
  }

  publish(topic: string | null, payload: Uint8Array, binary: boolean, compress: boolean): void {
    if (this.closed) return;
    const size = payload.length + 64;
    if (!this.transport.ready || this.pendingBytes + size > this.maxPendingBytes) {
      this.counts.dropped++;
      return;
    }
    this.pendingBytes += size;
    this.transport.send(topic, encode(this.origin, topic, payload, binary, compress)).then(() => {
      this.pendingBytes -= size;
      this.counts.published++;
    }, (err: Error) => {
      this.pendingBytes -= size;
      this.counts.dropped++;
      this.counts.errors++;
      this.onError?.(err);
    });
  }

  topicAdded(topic: string): void { if (!this.closed) this.transport.add(topic); }

  topicRemoved(topic: string): void { if (!this.closed) this.transport.remove(topic); }

  /**
   * Streams mode: the id of the last message this process delivered from `topic`
   * (null: broadcast). A client leaving (wss.shutdown's reason) takes it along
   * and gives it to the process it reconnects to, which replay()s what followed.
   * Undefined in pub/sub mode and for a topic not followed here.
   */
  position(topic: string | null): string | undefined {
    return this.streams?.position(topic);
  }

  /**
   * Streams mode: the messages of `topic` after stream id `afterId` still retained,
   * oldest first, at most `count` (default 1000), this process's own included: what
   * a client missed while it moved here. Subscribe the client first, then replay:
   * nothing falls between (a message may come both ways; number yours to drop
   * repeats). `afterId` may come from a client: anything but a stream id rejects.
   */
  async replay(topic: string | null, afterId: string, count = DEFAULT_REPLAY_COUNT): Promise<ReplayedMessage[]> {
    if (this.streams === null) throw new Error("replay() needs mode: 'streams'");
    if (!STREAM_ID.test(afterId)) throw new RangeError('afterId must be a stream id ("ms-seq")');
    if (!(Number.isInteger(count) && count > 0)) throw new RangeError('count must be a positive integer');
    const out: ReplayedMessage[] = [];
    for (const [id, bytes] of await this.streams.range(topic, afterId, count)) {
      const envelope = bytes === null ? null : decode(bytes);
      if (envelope === null || envelope.topic !== topic) { this.counts.ignored++; continue; }
      out.push({ id, payload: envelope.payload, binary: envelope.binary });
    }
    return out;
  }

  metrics(): RedisBrokerMetrics {
    return { ...this.counts, pendingBytes: this.pendingBytes, subscriptions: this.transport.subscriptions(), connected: this.transport.ready };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.sink = null;
    await this.transport.close();
  }

  private receive(bytes: Buffer, channelTopic: string | null | undefined): void {
    const envelope = channelTopic === undefined ? null : decode(bytes);
    // The envelope must name the topic its channel carries: anything else was
    // put there by someone else (or is damaged) and is not delivered.
    if (envelope === null || envelope.topic !== channelTopic) {
      this.counts.ignored++;
      return;
    }
    if (envelope.origin.equals(this.origin)) {
      this.counts.ownEchoes++;
      return;
    }
    this.counts.received++;
    if (this.sink) this.counts.delivered += this.sink.deliver(envelope.topic, envelope.payload, envelope.binary, envelope.compress);
  }
}

/** A Redis broker for wss.useBroker(). */
export function redisBroker(options: RedisBrokerOptions = {}): RedisBroker {
  return new RedisBroker(options);
}
