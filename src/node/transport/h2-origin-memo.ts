// Origins known not to take WebSockets over HTTP/2 (no RFC 8441 setting, or no
// HTTP/2 at all), so that later sockets with `http2: true` go straight to
// HTTP/1.1 instead of paying a failed HTTP/2 attempt each. Bounded in entries
// and in time: a server may gain the setting on its next deploy.

/** Entries kept; past it the oldest is dropped (one short string and a number each, ~100 B). */
export const MEMO_MAX_ORIGINS = 1024;
/** How long an origin is remembered (ms): long enough to spare a burst of sockets, short enough to notice a redeploy. */
export const MEMO_TTL_MS = 10 * 60 * 1000;

export class OriginMemo {
  private readonly until = new Map<string, number>();
  constructor(private readonly max = MEMO_MAX_ORIGINS, private readonly ttl = MEMO_TTL_MS, private readonly now = Date.now) {}

  /** Remembers that `key` lacks WebSockets over HTTP/2. */
  add(key: string): void {
    this.until.delete(key); // re-inserted last: the Map's order is the eviction order
    this.until.set(key, this.now() + this.ttl);
    if (this.until.size > this.max) this.until.delete(this.until.keys().next().value!);
  }

  /** Whether `key` was found lacking within the TTL (an expired entry is dropped). */
  has(key: string): boolean {
    const t = this.until.get(key);
    if (t === undefined) return false;
    if (t > this.now()) return true;
    this.until.delete(key);
    return false;
  }

  get size(): number { return this.until.size; }
}
