// The slice of node-redis (`redis`, an optional peer dependency) the broker
// uses, typed structurally so wasmsocket's own types never need `redis`
// installed. Loaded lazily: importing wasmsocket/redis costs nothing until a
// broker is created.
import { createRequire } from 'node:module';

/** A node-redis client or cluster: the commands the broker sends. */
export interface RedisConnection {
  readonly isReady: boolean;
  connect(): Promise<unknown>;
  close?(): Promise<unknown>;
  destroy?(): void;
  on(event: string, listener: (...args: any[]) => void): unknown;
  duplicate(): RedisConnection;
  sendCommand(args: Array<string | Buffer>, options?: unknown): Promise<any>;
  withTypeMapping(mapping: Record<number, unknown>): RedisConnection;
  publish(channel: string, message: Buffer): Promise<number>;
  subscribe(channel: string, listener: (message: Buffer, channel: Buffer) => void, bufferMode: true): Promise<void>;
  unsubscribe(channel: string, listener: (message: Buffer, channel: Buffer) => void, bufferMode: true): Promise<void>;
  sPublish(channel: string, message: Buffer): Promise<number>;
  sSubscribe(channel: string, listener: (message: Buffer, channel: Buffer) => void, bufferMode: true): Promise<void>;
  sUnsubscribe(channel: string, listener: (message: Buffer, channel: Buffer) => void, bufferMode: true): Promise<void>;
}

export interface RedisModule {
  createClient(options: Record<string, unknown>): RedisConnection;
  createCluster(options: Record<string, unknown>): RedisConnection;
  RESP_TYPES: { BLOB_STRING: number };
}

let loaded: RedisModule | null = null;

export function loadRedis(): RedisModule {
  if (loaded) return loaded;
  try {
    // require() keeps redisBroker() synchronous (redis ships CommonJS); the
    // CommonJS build resolves from its own file, the ESM build from its URL.
    const req = createRequire(typeof __filename === 'string' ? __filename : import.meta.url);
    loaded = req('redis') as RedisModule;
  } catch (err) {
    throw new Error('wasmsocket/redis needs the `redis` package: npm install redis', { cause: err });
  }
  return loaded;
}

/** Reconnect delay: exponential from 50 ms, capped at `max`, with jitter so processes do not reconnect in step. */
export function backoff(max: number): (retries: number) => number {
  return (retries) => Math.round(Math.min(max, 50 * 2 ** Math.min(retries, 16)) * (0.5 + Math.random() / 2));
}
