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
// structured clone) and has no backpressure. A publish larger than
// maxMessageBytes is not carried (it still reaches this thread's subscribers),
// and a thread stays ahead of a slower one only by as much as that thread's
// channel queues: the receiver's queue is not byte-bounded here.
import type { Broker, BrokerSink } from './broker.js';

export interface ThreadBrokerOptions {
  /** The channel's name: servers sharing it reach each other (default "wasmsocket"). */
  name?: string;
  /** Largest message carried to other threads, in bytes (default 16 MiB, uWS.js's maxPayloadLength order). */
  maxMessageBytes?: number;
}

// What crosses between threads: topic (null: broadcast), payload, binary, compress.
type Wire = [string | null, Uint8Array, boolean, boolean];

interface Channel {
  postMessage(m: unknown): void;
  close(): void;
  onmessage: ((e: { data: unknown }) => void) | null;
  unref?(): void;
}

const DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

export class ThreadBroker implements Broker {
  private channel: Channel | null = null;
  private readonly name: string;
  private readonly maxMessageBytes: number;
  /** Messages carried to other threads / delivered from them / too large to carry. */
  readonly stats = { sent: 0, received: 0, tooLarge: 0 };

  constructor(options: ThreadBrokerOptions = {}) {
    this.name = `wasmsocket:${options.name ?? 'wasmsocket'}`;
    this.maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
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
    channel.onmessage = (e) => {
      const m = e.data as Wire;
      // Only what a ThreadBroker posted is taken (other code may use the same name).
      if (!Array.isArray(m) || m.length !== 4 || !(m[1] instanceof Uint8Array) || (m[0] !== null && typeof m[0] !== 'string')) return;
      this.stats.received++;
      sink.deliver(m[0], m[1], m[2] === true, m[3] === true);
    };
    this.channel = channel;
  }

  publish(topic: string | null, payload: Uint8Array, binary: boolean, compress: boolean): void {
    if (this.channel === null) return;
    if (payload.byteLength > this.maxMessageBytes) { this.stats.tooLarge++; return; }
    // postMessage clones now (a lent message may be detached once this returns); a view's
    // whole buffer would be cloned, so a view of a larger buffer is cut to its bytes first.
    const own = payload.byteOffset === 0 && payload.byteLength === payload.buffer.byteLength;
    const m: Wire = [topic, own ? payload : payload.slice(), binary, compress];
    this.channel.postMessage(m);
    this.stats.sent++;
  }

  // Every thread hears every publish: nothing to (un)subscribe across threads.
  topicAdded(): void {}
  topicRemoved(): void {}

  async close(): Promise<void> {
    const channel = this.channel;
    this.channel = null;
    if (channel !== null) { channel.onmessage = null; channel.close(); }
  }
}
