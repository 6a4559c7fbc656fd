// A handshake rate limit per address: a token bucket of `burst` tokens that
// refills at `perSecond`; a handshake takes one, and with none left it is
// refused with the seconds until the next token (Retry-After).
//
// The table is bounded two ways. A bucket that has refilled to `burst` holds
// nothing a fresh one would not, so it is dropped: the Map is kept in order of
// last use (delete + set on every take), and each take drops the stale ones at
// its head, O(1) amortised, with no timer. And it never holds more than
// MAX_BUCKETS addresses: past that the least recently used is dropped even if
// not full (that address gets a fresh bucket, the cost of the bound).
import { performance } from 'node:perf_hooks';

// Measured (65,536 buckets, V8 heap after gc, Node 20.20, node --expose-gc
// bench/admission-cost.mjs): 98 bytes a bucket keyed by an IPv4 address, 184 by
// an IPv6 /64: 6.1-11.5 MiB at most.
const MAX_BUCKETS = 65_536;

export interface HandshakeRate {
  /** Tokens (handshakes) added per second. */
  perSecond: number;
  /** Bucket size: handshakes an address may make at once. */
  burst: number;
}

interface Bucket { tokens: number; at: number }

export class HandshakeRateLimit {
  private readonly buckets = new Map<string, Bucket>();
  /** Milliseconds for an empty bucket to refill: older buckets are full. */
  private readonly refillMs: number;

  /** `now`: milliseconds on a monotonic clock (a wall-clock step back must not take tokens away). */
  constructor(private readonly rate: HandshakeRate, private readonly now: () => number = () => performance.now()) {
    if (!(rate.perSecond > 0) || !(rate.burst >= 1)) throw new TypeError('handshakeRate needs perSecond > 0 and burst >= 1');
    this.refillMs = (rate.burst / rate.perSecond) * 1000;
  }

  get size(): number { return this.buckets.size; }

  /** Takes a token for `key`: 0 when allowed, else the seconds until one is there (>= 1). */
  take(key: string): number {
    const now = this.now();
    this.dropStale(now);
    const { perSecond, burst } = this.rate;
    const had = this.buckets.get(key);
    let tokens = burst;
    if (had !== undefined) {
      tokens = Math.min(burst, had.tokens + ((now - had.at) / 1000) * perSecond);
      this.buckets.delete(key);
    } else if (this.buckets.size >= MAX_BUCKETS) {
      this.buckets.delete(this.buckets.keys().next().value!);
    }
    if (tokens < 1) {
      this.buckets.set(key, { tokens, at: now });
      return Math.max(1, Math.ceil((1 - tokens) / perSecond));
    }
    this.buckets.set(key, { tokens: tokens - 1, at: now });
    return 0;
  }

  private dropStale(now: number): void {
    for (const [key, bucket] of this.buckets) {
      if (now - bucket.at < this.refillMs) return;
      this.buckets.delete(key);
    }
  }
}
