// A broker between the threads of one process (Node's worker_threads, Web
// Workers in Deno and Bun): what one thread's server publishes reaches the
// subscribers of every other thread's, as wasmsocket/redis does between
// processes and machines. It rides on BroadcastChannel, which delivers a
// message to every other channel of the same name in the process (Node >= 18,
// Deno, Bun, browsers), so threads need nothing passed to them: each creates
// `new ThreadBroker()` and hands it to its server (app.useBroker(),
// wss.useBroker()). Every thread hears every publish and delivers it to its
// own subscribers of the topic, if any. No Node imports.
//
// Limits: BroadcastChannel copies each message once per receiving thread (a
// structured clone) and has no backpressure of its own, so receivers
// acknowledge what they delivered and a publish that would put a live thread
// more than maxPendingBytes behind is dropped (thread-ledger.ts); a publish
// larger than maxMessageBytes is not carried. Either still reaches this
// thread's own subscribers, and stats counts it.
import type { Broker, BrokerSink } from './broker.js';
import { AckCounter, MESSAGE_OVERHEAD, ThreadLedger } from './thread-ledger.js';

export interface ThreadBrokerOptions {
  /** The channel's name: servers sharing it reach each other (default "wasmsocket"). */
  name?: string;
  /**
   * Most bytes of publishes another thread may be behind before more are dropped
   * (default 32 MiB: about 175,000 publishes of 64 B as counted here, payload plus
   * 128 B, or 32 of 1 MiB; 4x wasmsocket/redis's 8 MiB, since what a thread lags
   * by is memory of this one process and a thread catches up faster than a network).
   */
  maxPendingBytes?: number;
  /** Largest message carried to other threads, in bytes (default: half of maxPendingBytes, 16 MiB). */
  maxMessageBytes?: number;
}

// What crosses between threads, tagged: a publish (sender, its position after it, topic
// (null: broadcast), payload, binary, compress), hello (sender; 1: the answer to one, so
// brokers attached earlier learn of a later one) and bye (sender), an ack (receiver,
// the sender it answers, the position it delivered up to).
type Message =
  | ['m', number, number, string | null, Uint8Array, boolean, boolean]
  | ['h', number, 0 | 1] | ['b', number] | ['a', number, number, number];

interface Channel {
  postMessage(m: unknown): void;
  close(): void;
  onmessage: ((e: { data: unknown }) => void) | null;
  unref?(): void;
}

const DEFAULT_MAX_PENDING_BYTES = 32 * 1024 * 1024;

export class ThreadBroker implements Broker {
  private channel: Channel | null = null;
  private readonly name: string;
  private readonly maxMessageBytes: number;
  /** This broker among the channel's (random: threads share no counter). */
  private readonly id = Math.floor(Math.random() * 2 ** 52);
  private readonly ledger: ThreadLedger;
  private readonly acks = new AckCounter();
  /** Messages carried to other threads / delivered from them / too large to carry / dropped as another thread lagged. */
  readonly stats = { sent: 0, received: 0, tooLarge: 0, dropped: 0 };

  constructor(options: ThreadBrokerOptions = {}) {
    this.name = `wasmsocket:${options.name ?? 'wasmsocket'}`;
    const maxPending = options.maxPendingBytes ?? DEFAULT_MAX_PENDING_BYTES;
    // A message over half the limit could wait for room that acks (every ACK_STEP) never make.
    this.maxMessageBytes = Math.min(options.maxMessageBytes ?? maxPending / 2, maxPending / 2);
    this.ledger = new ThreadLedger(maxPending);
  }

  /** Whether this runtime has BroadcastChannel (without it, a ThreadBroker throws on attach). */
  static available(): boolean {
    return typeof (globalThis as { BroadcastChannel?: unknown }).BroadcastChannel === 'function';
  }

  attach(sink: BrokerSink): void {
    if (this.channel !== null) throw new Error('A ThreadBroker serves one server');
    const BC = (globalThis as { BroadcastChannel?: new (name: string) => Channel }).BroadcastChannel;
    if (BC === undefined) throw new Error('ThreadBroker needs BroadcastChannel (Node >= 18, Deno, Bun, browsers)');
    const channel = new BC(this.name);
    // Node: the channel alone does not keep a thread alive (its server does).
    channel.unref?.();
    channel.onmessage = (e) => this.receive(e.data, sink);
    this.channel = channel;
    channel.postMessage(['h', this.id, 0] satisfies Message);
  }

  private receive(data: unknown, sink: BrokerSink): void {
    // Only what a ThreadBroker posted is taken (other code may use the same name).
    if (!Array.isArray(data) || typeof data[1] !== 'number') return;
    const m = data as Message, from = m[1];
    switch (m[0]) {
      case 'm': {
        if (m.length !== 7 || !(m[4] instanceof Uint8Array) || (m[3] !== null && typeof m[3] !== 'string')) return;
        this.stats.received++;
        this.ledger.heard(from);
        sink.deliver(m[3], m[4], m[5] === true, m[6] === true);
        if (this.acks.delivered(from, m[4].byteLength + MESSAGE_OVERHEAD)) this.channel?.postMessage(['a', this.id, from, m[2]] satisfies Message);
        return;
      }
      case 'a': if (m[2] === this.id && typeof m[3] === 'number') this.ledger.acked(from, m[3]); else this.ledger.heard(from); return;
      case 'h':
        this.ledger.heard(from);
        if (m[2] !== 1) this.channel?.postMessage(['h', this.id, 1] satisfies Message);
        return;
      case 'b': this.ledger.gone(from); this.acks.forget(from); return;
    }
  }

  publish(topic: string | null, payload: Uint8Array, binary: boolean, compress: boolean): void {
    if (this.channel === null) return;
    if (payload.byteLength > this.maxMessageBytes) { this.stats.tooLarge++; return; }
    // postMessage clones now (a lent message may be detached once this returns); a view's
    // whole buffer would be cloned, so a view of a larger buffer is cut to its bytes first.
    const pos = this.ledger.take(payload.byteLength + MESSAGE_OVERHEAD);
    if (pos < 0) { this.stats.dropped++; return; }
    const own = payload.byteOffset === 0 && payload.byteLength === payload.buffer.byteLength;
    this.channel.postMessage(['m', this.id, pos, topic, own ? payload : payload.slice(), binary, compress] satisfies Message);
    this.stats.sent++;
  }

  // Every thread hears every publish: nothing to (un)subscribe across threads.
  topicAdded(): void {}
  topicRemoved(): void {}

  async close(): Promise<void> {
    const channel = this.channel;
    this.channel = null;
    if (channel === null) return;
    channel.postMessage(['b', this.id] satisfies Message);
    channel.onmessage = null;
    channel.close();
  }
}
