// Plain pub/sub on one Redis (SUBSCRIBE/PUBLISH) or sharded pub/sub on a Redis
// Cluster (SSUBSCRIBE/SPUBLISH, Redis 7: a channel lives on the shard owning
// its slot, so traffic spreads with the cluster). One channel per topic, so a
// process receives only the topics its sockets follow, plus one channel for
// broadcast. At-most-once: what is published while this process is cut off
// from Redis never reaches it.
import { backoff, loadRedis, type RedisConnection } from './client.js';
import type { Transport, TransportHooks, TransportOptions } from './transport.js';

export class PubSubTransport implements Transport {
  private readonly pub: RedisConnection;
  private readonly sub: RedisConnection;
  private readonly sharded: boolean;
  private readonly prefix: string;
  /** Channels that have local subscribers. */
  private readonly wanted = new Set<string>();
  /** Channels this client has told Redis (through node-redis) to subscribe. */
  private readonly subscribed = new Set<string>();
  private readonly listener: (message: Buffer, channel: Buffer) => void;

  constructor(options: TransportOptions, private readonly hooks: TransportHooks) {
    const redis = loadRedis();
    this.prefix = options.prefix;
    this.sharded = options.cluster !== undefined;
    const client = {
      // A command while disconnected fails at once instead of waiting in an
      // unbounded offline queue; the broker counts it as dropped.
      disableOfflineQueue: true,
      socket: { reconnectStrategy: backoff(options.maxReconnectDelay), connectTimeout: 5000 },
    };
    if (this.sharded) {
      // One cluster object: node-redis keeps a pub/sub connection per shard for SSUBSCRIBE.
      this.pub = this.sub = redis.createCluster({ rootNodes: options.cluster!.map((url) => ({ url })), defaults: client });
      this.pub.on('node-reconnecting', () => hooks.reconnecting());
    } else {
      this.pub = redis.createClient({ url: options.url, ...client });
      this.sub = this.pub.duplicate();
      for (const c of [this.pub, this.sub]) c.on('reconnecting', () => hooks.reconnecting());
      // node-redis resubscribes what it knows on reconnect; changes made while
      // down were held back (bounded: one entry per topic) and are applied now.
      this.sub.on('ready', () => this.reconcile());
    }
    for (const c of new Set([this.pub, this.sub])) c.on('error', (err: Error) => hooks.error(err));
    this.listener = (message, channel) => hooks.message(message, this.topicOf(channel.toString()));
  }

  async start(): Promise<void> {
    this.add(null);
    await Promise.all([...new Set([this.pub, this.sub])].map((c) => c.connect()));
  }

  get ready(): boolean { return this.pub.isReady; }

  send(topic: string | null, envelope: Buffer): Promise<unknown> {
    const channel = this.channelOf(topic);
    return this.sharded ? this.pub.sPublish(channel, envelope) : this.pub.publish(channel, envelope);
  }

  add(topic: string | null): void {
    this.wanted.add(this.channelOf(topic));
    this.reconcile();
  }

  remove(topic: string | null): void {
    this.wanted.delete(this.channelOf(topic));
    this.reconcile();
  }

  subscriptions(): number { return this.subscribed.size; }

  async close(): Promise<void> {
    this.wanted.clear();
    await Promise.allSettled([...new Set([this.pub, this.sub])].map((c) => (c.close ? c.close() : c.destroy?.())));
  }

  private reconcile(): void {
    if (!this.sharded && !this.sub.isReady) return;
    for (const channel of this.subscribed) {
      if (this.wanted.has(channel)) continue;
      this.subscribed.delete(channel);
      const done = this.sharded ? this.sub.sUnsubscribe(channel, this.listener, true) : this.sub.unsubscribe(channel, this.listener, true);
      done.catch((err: Error) => this.hooks.error(err));
    }
    for (const channel of this.wanted) {
      if (this.subscribed.has(channel)) continue;
      this.subscribed.add(channel);
      const done = this.sharded ? this.sub.sSubscribe(channel, this.listener, true) : this.sub.subscribe(channel, this.listener, true);
      done.catch((err: Error) => {
        // Refused (not merely disconnected: node-redis keeps those for its resubscribe): try again later.
        this.subscribed.delete(channel);
        this.hooks.error(err);
        setTimeout(() => this.reconcile(), 1000).unref();
      });
    }
  }

  private channelOf(topic: string | null): string {
    return topic === null ? `${this.prefix}:all` : `${this.prefix}:t:${topic}`;
  }

  /** The topic a channel carries: null for the broadcast channel, undefined for none of ours. */
  private topicOf(channel: string): string | null | undefined {
    if (channel === `${this.prefix}:all`) return null;
    const head = `${this.prefix}:t:`;
    return channel.startsWith(head) ? channel.slice(head.length) : undefined;
  }
}
