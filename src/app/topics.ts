// uWebSockets.js's topics for the App: who is subscribed to what, and publish
// framing each message once (a server frame is not masked, so the same bytes
// go to every subscriber; only a compressed publish is framed per subscriber
// that negotiated compression). No Node imports.
import { TopicRegistry } from '../core/topics.js';

/** A subscriber as the tree sees it (the App's WebSocket). */
export interface Subscriber {
  /** This subscriber's topics, or null before its first subscribe. */
  _topics: Set<string> | null;
  /** Queues `frame` (shared by all subscribers: never modified); false when dropped past maxBackpressure. */
  _sendShared(frame: Uint8Array, payload: Uint8Array, opcode: number, compress: boolean): void;
}

export class TopicTree {
  /** Who subscribes to what: the core's registry, as the Web Streams door's topics use. */
  private readonly registry = new TopicRegistry<Subscriber>();
  /** A publish made here (not one a broker delivered): the broker carries it to other threads or processes. */
  onPublish: ((topic: string, payload: Uint8Array, binary: boolean, compress: boolean) => void) | null = null;

  /** A topic got its first subscriber (true) or lost its last (false): a broker's cue (app.useBroker). */
  get onTopic(): ((topic: string, active: boolean) => void) | null { return this.registry.onTopic; }
  set onTopic(listener: ((topic: string, active: boolean) => void) | null) { this.registry.onTopic = listener; }

  /** Returns the new count of subscribers, or -1 if `s` was subscribed already. */
  subscribe(s: Subscriber, topic: string): number {
    if (!this.registry.subscribe(s, topic)) return -1;
    (s._topics ??= new Set()).add(topic);
    return this.count(topic);
  }

  /** Returns the new count of subscribers, or -1 if `s` was not subscribed. */
  unsubscribe(s: Subscriber, topic: string): number {
    if (!this.registry.unsubscribe(s, topic)) return -1;
    s._topics?.delete(topic);
    return this.count(topic);
  }

  /** Drops every subscription of `s` (it closed). */
  leaveAll(s: Subscriber): void {
    if (s._topics === null) return;
    for (const topic of s._topics) this.registry.unsubscribe(s, topic);
    s._topics = null;
  }

  count(topic: string): number { return this.registry.subscribers(topic)?.size ?? 0; }

  /** Topics with at least one subscriber. */
  names(): IterableIterator<string> { return this.registry.names(); }

  /** Sends `frame` (the message framed once) to every subscriber of `topic` but `except`. */
  publish(topic: string, frame: Uint8Array, payload: Uint8Array, opcode: number, compress: boolean, except: Subscriber | null,
    fromBroker = false): boolean {
    if (!fromBroker) this.onPublish?.(topic, payload, opcode === 2, compress);
    const subs = this.registry.subscribers(topic);
    if (subs === undefined) return false;
    // A copy of the set: a subscriber's handler may (un)subscribe while we go.
    for (const s of subs.size === 1 ? subs : [...subs]) if (s !== except) s._sendShared(frame, payload, opcode, compress);
    return true;
  }
}
