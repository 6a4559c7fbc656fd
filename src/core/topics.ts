// uWebSockets-style topics, runtime-neutral: which connections subscribe to
// which topic, and a signal when a topic gains its first subscriber or loses
// its last (where a broker subscribes and unsubscribes across processes). The
// fan-out that frames a message once for a topic's subscribers is the door's
// (src/web/topics.ts, src/app/topics.ts; the Node door's Broadcaster keeps its own map on its hot path).

export class TopicRegistry<M> {
  private readonly topics = new Map<string, Set<M>>();
  /** Told when a topic gets its first subscriber (true) or loses its last (false). */
  onTopic: ((topic: string, active: boolean) => void) | null = null;

  /** Adds `m` to `topic`; false when it was subscribed already. */
  subscribe(m: M, topic: string): boolean {
    let subs = this.topics.get(topic);
    if (subs === undefined) {
      this.topics.set(topic, (subs = new Set()));
      this.onTopic?.(topic, true);
    }
    if (subs.has(m)) return false;
    subs.add(m);
    return true;
  }

  /** Removes `m` from `topic`; false when it was not subscribed. */
  unsubscribe(m: M, topic: string): boolean {
    const subs = this.topics.get(topic);
    if (subs === undefined || !subs.delete(m)) return false;
    if (subs.size === 0) {
      this.topics.delete(topic);
      this.onTopic?.(topic, false);
    }
    return true;
  }

  isSubscribed(m: M, topic: string): boolean {
    return this.topics.get(topic)?.has(m) ?? false;
  }

  /** The subscribers of `topic` (live: do not change it while iterating). */
  subscribers(topic: string): ReadonlySet<M> | undefined {
    return this.topics.get(topic);
  }

  /** Topics with at least one subscriber. */
  names(): IterableIterator<string> {
    return this.topics.keys();
  }
}
