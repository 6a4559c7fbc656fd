// Topics and frame-once fan-out for connections accepted through the Web
// Streams door (accept(), acceptConnection(); Deno, Bun, workerd, Node), and
// the Broker seam (src/core/broker.ts) that carries them across processes.
//
//   const topics = new Topics();
//   accept(pair, { topics }).then((ws) => topics.subscribe(ws, 'prices'));
//   topics.publish('prices', JSON.stringify(tick));   // framed once for every subscriber
//
// A message is framed once and the same bytes go to every recipient (server
// frames are unmasked); with permessage-deflate it is also compressed once per
// window size, a fresh raw-deflate stream that refers back to nothing, so one
// compressed frame is valid for every peer; each recipient's own compressor
// then restarts (its peer's window now holds bytes that compressor did not
// make). Each recipient's queued bytes are checked first, as the Node door's
// Broadcaster does (src/node/fanout/broadcast.ts).
import { FrameEncoder, OPCODE, RawDeflater, type MessageDeflate } from '../codec/index.js';
import type { Broker } from '../core/broker.js';
import { TopicRegistry } from '../core/topics.js';
import type { Connection } from './connection.js';

/** What to do with a recipient whose queued bytes pass maxBackpressure. */
export type BackpressurePolicy = 'close' | 'skip';

export interface TopicsOptions {
  /** Bytes a connection may have queued before publish/broadcast applies the policy (default 1 MiB, as the Node server). */
  maxBackpressure?: number;
  backpressurePolicy?: BackpressurePolicy;
}

export interface PublishOptions {
  /** Binary message (default: true unless the data is a string). */
  binary?: boolean;
  /** Compress for recipients that negotiated permessage-deflate (default true). */
  compress?: boolean;
  /** Leave this connection out (usually the sender). */
  except?: object;
}

/** @internal What the fan-out needs of an accepted connection. */
export interface TopicMember {
  readonly conn: Connection;
  /** Writes a whole frame in order with the connection's own sends. */
  readonly write: (frame: Uint8Array) => Promise<void>;
  readonly deflate: MessageDeflate | null;
}

// 1 MiB default: the Node server's (about 16 s of a busy chat, or one large message).
export const DEFAULT_MAX_BACKPRESSURE = 1024 * 1024;
const OPEN = 1;
const SERVER_FRAMES = new FrameEncoder({ mask: false });
const utf8 = new TextEncoder();
const ignore = (): void => {};
// One compressor per window size for every Topics of the realm, reset after each message.
const compressors = new Map<number, RawDeflater>();

export class Topics {
  readonly maxBackpressure: number;
  readonly policy: BackpressurePolicy;
  /** Messages not sent to a recipient over maxBackpressure (policy 'skip'). */
  skipped = 0;
  /** Recipients terminated for being over maxBackpressure (policy 'close'). */
  dropped = 0;
  private readonly registry = new TopicRegistry<TopicMember>();
  /** Open connections accepted with this object, by the handle the application holds (a WebSocketStream or a Connection). */
  private readonly members = new Map<object, TopicMember>();
  /** Each member's topics, for its unsubscription when it closes. */
  private readonly memberTopics = new Map<TopicMember, Set<string>>();
  private broker: Broker | null = null;

  constructor(options: TopicsOptions = {}) {
    this.maxBackpressure = options.maxBackpressure ?? DEFAULT_MAX_BACKPRESSURE;
    this.policy = options.backpressurePolicy ?? 'close';
  }

  /** Open connections accepted with this object. */
  get size(): number { return this.members.size; }

  /** @internal accept() registers a connection as it opens. */
  _add(handle: object, member: TopicMember): void { this.members.set(handle, member); }

  /** @internal The connection closed: it leaves every topic. */
  _remove(handle: object): void {
    const m = this.members.get(handle);
    if (m === undefined) return;
    this.members.delete(handle);
    const topics = this.memberTopics.get(m);
    this.memberTopics.delete(m);
    if (topics) for (const t of topics) this.registry.unsubscribe(m, t);
  }

  /** Subscribes a connection accepted with this object (the WebSocketStream accept() gave, or the Connection). */
  subscribe(handle: object, topic: string): void {
    const m = this.members.get(handle);
    if (m === undefined) return; // closed already, or not accepted with this object
    if (this.registry.subscribe(m, topic)) {
      let set = this.memberTopics.get(m);
      if (set === undefined) this.memberTopics.set(m, (set = new Set()));
      set.add(topic);
    }
  }

  unsubscribe(handle: object, topic: string): boolean {
    const m = this.members.get(handle);
    if (m === undefined || !this.registry.unsubscribe(m, topic)) return false;
    this.memberTopics.get(m)?.delete(topic);
    return true;
  }

  isSubscribed(handle: object, topic: string): boolean {
    const m = this.members.get(handle);
    return m !== undefined && this.registry.isSubscribed(m, topic);
  }

  subscribers(topic: string): number { return this.registry.subscribers(topic)?.size ?? 0; }

  /** Topics with at least one subscriber. */
  topicNames(): IterableIterator<string> { return this.registry.names(); }

  /** Sends a message to every subscriber of `topic` here (and, with a broker, in every process sharing it); returns local recipients. */
  publish(topic: string, data: string | Uint8Array, options: PublishOptions = {}): number {
    return this.fanOut(topic, data, options);
  }

  /** Sends a message to every open connection accepted with this object (and, with a broker, in other processes). */
  broadcast(data: string | Uint8Array, options: PublishOptions = {}): number {
    return this.fanOut(null, data, options);
  }

  /**
   * Carries publish() and broadcast() to other processes (e.g. wasmsocket/redis,
   * in Node): local connections are served here first; `except` applies to
   * them only. close() closes the broker.
   */
  useBroker(broker: Broker): this {
    if (this.broker !== null) throw new Error('A broker is already in use');
    this.broker = broker;
    this.registry.onTopic = (topic, active) => { if (active) broker.topicAdded(topic); else broker.topicRemoved(topic); };
    broker.attach({
      deliver: (topic, payload, binary, compress) => this.deliverAll(topic, payload, binary, compress, undefined),
      topics: () => this.registry.names(),
    });
    return this;
  }

  /** Releases the broker, if any. */
  async close(): Promise<void> {
    const b = this.broker;
    this.broker = null;
    this.registry.onTopic = null;
    await b?.close();
  }

  private fanOut(topic: string | null, data: string | Uint8Array, options: PublishOptions): number {
    const payload = typeof data === 'string' ? utf8.encode(data) : data;
    const binary = options.binary ?? typeof data !== 'string';
    const compress = options.compress !== false;
    const sent = this.deliverAll(topic, payload, binary, compress, options.except);
    this.broker?.publish(topic, payload, binary, compress);
    return sent;
  }

  private deliverAll(topic: string | null, payload: Uint8Array, binary: boolean, compress: boolean, except: object | undefined): number {
    const recipients = topic === null ? this.members.values() : this.registry.subscribers(topic);
    if (recipients === undefined) return 0;
    const skip = except === undefined ? undefined : this.members.get(except);
    const opcode = binary ? OPCODE.binary : OPCODE.text;
    let plain: Uint8Array | null = null;
    let compressed: Map<number, Uint8Array> | null = null;
    let sent = 0;
    // A recipient closed by the policy leaves the set while we walk it: walk a copy.
    for (const m of [...recipients]) {
      if (m === skip) continue;
      const d = m.deflate;
      if (d !== null && compress && d.shouldCompress(payload.length)) {
        const bits = d.deflateWindowBits;
        let frame = (compressed ??= new Map()).get(bits);
        if (frame === undefined) compressed.set(bits, (frame = compressOnce(payload, opcode, bits)));
        if (this.deliver(m, frame)) { d.restartCompressor(); sent++; }
      } else if (this.deliver(m, plain ??= SERVER_FRAMES.frame(opcode, payload))) {
        sent++;
      }
    }
    return sent;
  }

  private deliver(m: TopicMember, frame: Uint8Array): boolean {
    if (m.conn.readyState !== OPEN) return false;
    if (m.conn._backlog() + frame.length > this.maxBackpressure) {
      if (this.policy === 'skip') {
        this.skipped++;
        return false;
      }
      // A close frame would wait behind what the peer does not read: the connection goes at once.
      this.dropped++;
      m.conn.abort();
      return false;
    }
    m.write(frame).catch(ignore);
    return true;
  }
}

// A fresh raw-deflate stream, sync-flushed, its 00 00 ff ff removed (RFC 7692
// §7.2.1): valid for every peer whose window is at least `bits`.
function compressOnce(payload: Uint8Array, opcode: number, bits: number): Uint8Array {
  let d = compressors.get(bits);
  if (d === undefined) compressors.set(bits, (d = new RawDeflater(bits)));
  try {
    return SERVER_FRAMES.frame(opcode, d.compress(payload, true), { rsv1: true });
  } finally {
    d.reset();
  }
}
