// What the Redis broker needs from a way of moving envelopes through Redis
// (pub/sub in pubsub.ts, Streams in streams.ts).

export interface TransportOptions {
  url?: string;
  /** Redis Cluster root node URLs: sharded pub/sub. */
  cluster?: string[];
  prefix: string;
  maxReconnectDelay: number;
  streamMaxLen: number;
  streamTtl: number;
}

export interface TransportHooks {
  /** An envelope from Redis; `topic` is what the channel or stream says it carries (undefined: not ours). */
  message(envelope: Buffer, topic: string | null | undefined): void;
  reconnecting(): void;
  /** Streams mode: after a reconnect, a stream no longer reached back to where this process stopped. */
  gap(): void;
  error(err: Error): void;
}

export interface Transport {
  start(): Promise<void>;
  readonly ready: boolean;
  send(topic: string | null, envelope: Buffer): Promise<unknown>;
  /** Local subscribers now follow `topic` (null: broadcast). */
  add(topic: string | null): void;
  remove(topic: string | null): void;
  /** Channels or streams this process follows in Redis now. */
  subscriptions(): number;
  close(): Promise<void>;
}
