// Process-wide zlib resources of permessage-deflate: the concurrency limiter,
// the pool of zlib streams, the release of idle deflate streams (context
// takeover on our side), and zlibStats() over all three.
//
// Memory. zlib work goes through one process-wide limiter (at most
// `concurrencyLimit` jobs at once, FIFO; the first instance created sets the
// limit, as in ws, or call setZlibConcurrencyLimit()). Without context
// takeover, a direction's stream is taken from a small process-wide pool for
// one message and given back, reset, after it: no zlib object stays with the
// connection between messages. Pooled streams idle for POOL_IDLE_MS are closed.
//
// With context takeover, our deflate stream (~256 KiB at windowBits 15 /
// memLevel 8, most of an idle connection's cost) is released once the
// connection has compressed nothing for `deflateIdleRelease` ms, and the next
// message starts a fresh raw-deflate stream. That is valid: context takeover
// permits the compressor to refer back into earlier messages but never obliges
// it to, every message we send ends at a sync-flush boundary (byte-aligned,
// between blocks), and a new stream's back-references only reach bytes of the
// new stream, which the peer's inflater (whose window still holds everything
// before) has as well. test/deflate.test.ts checks this against ws's
// PerMessageDeflate and a persistent zlib.inflateRaw. The released stream is
// closed, not pooled: nothing of one connection's window is ever handed to
// another. (Our inflate stream stays with the connection: see
// permessage-deflate.ts.)
//   DEFAULT_DEFLATE_IDLE_RELEASE = 1000 ms: context takeover pays off for
// trains of similar messages (a JSON feed of 4 KiB messages compresses to 20%
// with the window, 27% without it), and a train at 1 Hz or faster keeps its
// stream; a connection quiet for a second costs one fresh stream when it speaks
// again (~10 us to create, plus one message compressed without history).
//   Timing alone does not bound memory, though: freed zlib memory is malloc heap
// that glibc does not give back to the OS, so RSS follows the *peak* number of
// streams held at once, and a burst of connections each sending a message (a
// reconnect storm, a welcome message) holds rate x deflateIdleRelease streams.
// Measured with bench/deflate-idle.mjs (1,000 connections opened within ~1.5 s,
// one 4 KiB message each way): releasing after 1 s alone left ~225 KiB per
// idle connection (ws: ~255 KiB). So at most `maxIdleDeflateStreams` streams
// (process-wide, DEFAULT_MAX_IDLE_DEFLATE_STREAMS = 64, i.e. <= 16 MiB at the
// defaults) are kept between messages; past that, the least recently used is
// released early. With both: ~104 KiB per idle connection (0.41x ws; 128
// streams: ~118 KiB; releasing after every message: ~70-85 KiB, mostly the
// inflate side; without permessage-deflate: ~19 KiB). A server with more than
// 64 connections that all send more often than once a second gets less context
// takeover (raise the limit, or set deflateIdleRelease to Infinity for ws's
// behaviour); a fresh stream per message costs ~10 us and the ratio of no
// context takeover, never correctness.
import zlib from 'node:zlib';

/** Most pooled zlib streams kept per configuration. */
const POOL_MAX_PER_KEY = 16;
/** Pooled zlib streams unused this long are closed. */
const POOL_IDLE_MS = 10_000;
/** Default deflateIdleRelease, in ms: see the header comment for why. */
export const DEFAULT_DEFLATE_IDLE_RELEASE = 1000;
/** Default maxIdleDeflateStreams: see the header comment for why. */
export const DEFAULT_MAX_IDLE_DEFLATE_STREAMS = 64;

// ---------------------------------------------------------------------------
// Process-wide limiter

/** FIFO slots for zlib jobs: at most `limit` run at once. */
export class ZlibLimiter {
  limit: number;
  active = 0;
  peak = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(limit: number) { this.limit = limit; }

  get queued(): number { return this.waiting.length; }

  acquire(run: () => void): void {
    if (this.active < this.limit) {
      this.active++;
      if (this.active > this.peak) this.peak = this.active;
      run();
    } else {
      this.waiting.push(run);
    }
  }

  /** Drops a waiter that no longer needs a slot; false if it was not waiting. */
  cancel(run: () => void): boolean {
    const i = this.waiting.indexOf(run);
    if (i < 0) return false;
    this.waiting.splice(i, 1);
    return true;
  }

  release(): void {
    this.active--;
    this.pump();
  }

  pump(): void {
    while (this.active < this.limit && this.waiting.length > 0) {
      const run = this.waiting.shift() as () => void;
      this.active++;
      if (this.active > this.peak) this.peak = this.active;
      run();
    }
  }
}

let limiter: ZlibLimiter | null = null;

function normalizeLimit(n: number | undefined): number {
  if (n === undefined) return 10;
  if (typeof n !== 'number' || Number.isNaN(n) || n < 0) throw new RangeError(`Invalid concurrencyLimit: ${n}`);
  return n === 0 ? Infinity : Math.floor(n) || 1;
}

/** The first instance's concurrencyLimit sets the process-wide limit (as in ws), unless the limiter exists already. */
export function initZlibConcurrencyLimit(concurrencyLimit: number | undefined): void {
  if (limiter === null) limiter = new ZlibLimiter(normalizeLimit(concurrencyLimit));
}

export function getLimiter(): ZlibLimiter {
  if (limiter === null) limiter = new ZlibLimiter(10);
  return limiter;
}

/** Sets the process-wide zlib concurrency limit (0: unlimited); applies to queued jobs at once. */
export function setZlibConcurrencyLimit(limit: number): void {
  const l = getLimiter();
  l.limit = normalizeLimit(limit);
  l.pump();
}

/** Process-wide zlib usage: the limit, jobs running / waiting, the most ever running at once, pooled streams. */
export interface ZlibStats {
  limit: number;
  active: number;
  queued: number;
  peak: number;
  /** Idle streams in the pool (no context takeover), either kind. */
  pooled: number;
  /** Open deflate streams held by PerMessageDeflate instances (not pooled): compressing now, or kept for context takeover until deflateIdleRelease. */
  deflateHeld: number;
  /** Open inflate streams held by PerMessageDeflate instances (not pooled): inflating now, or kept for the peer's context takeover. */
  inflateHeld: number;
  /** Deflate streams kept between messages, waiting for deflateIdleRelease (at most maxIdleDeflateStreams). */
  deflateKept: number;
  /** The process-wide maxIdleDeflateStreams. */
  maxIdleDeflateStreams: number;
}

/** Current process-wide zlib usage (for monitoring and tests). */
export function zlibStats(): ZlibStats {
  const l = getLimiter();
  let pooled = 0;
  const pooledByKind = { deflate: 0, inflate: 0 };
  for (const list of pool.values()) {
    pooled += list.length;
    for (const ctx of list) pooledByKind[ctx.kind]++;
  }
  return {
    limit: l.limit, active: l.active, queued: l.queued, peak: l.peak, pooled,
    deflateHeld: openStreams.deflate - pooledByKind.deflate,
    inflateHeld: openStreams.inflate - pooledByKind.inflate,
    deflateKept: keptCount,
    maxIdleDeflateStreams: maxKept,
  };
}

/** Resets the `peak` counter of zlibStats(). */
export function resetZlibPeak(): void {
  const l = getLimiter();
  l.peak = l.active;
}

// ---------------------------------------------------------------------------
// zlib streams and the pool

export type Kind = 'deflate' | 'inflate';

/** zlib streams created and not yet destroyed, per kind (pooled ones included). */
const openStreams: Record<Kind, number> = { deflate: 0, inflate: 0 };

/** A zlib stream with its listeners attached once; the job using it sets `sink` / `onError`. */
export class ZlibContext {
  readonly stream: zlib.DeflateRaw | zlib.InflateRaw;
  sink: ((chunk: Buffer) => void) | null = null;
  onError: ((err: Error) => void) | null = null;
  /** Errored or destroyed: never reuse. */
  broken = false;
  /** The inflater saw a final block (BFINAL): it accepts no more input. */
  ended = false;
  idleSince = 0;
  /** destroy() ran (counted out of openStreams). */
  private released = false;

  constructor(readonly kind: Kind, readonly key: string | null, options: zlib.ZlibOptions) {
    this.stream = kind === 'deflate' ? zlib.createDeflateRaw(options) : zlib.createInflateRaw(options);
    openStreams[kind]++;
    this.stream.on('data', (chunk: Buffer) => {
      const sink = this.sink;
      if (sink !== null) sink(chunk);
    });
    this.stream.on('error', (err: Error) => {
      this.broken = true;
      const onError = this.onError;
      if (onError !== null) onError(err);
      this.destroy(); // zlib destroys an errored stream anyway; keep openStreams exact
    });
    this.stream.on('end', () => { this.ended = true; });
  }

  destroy(): void {
    if (!this.released) {
      this.released = true;
      openStreams[this.kind]--;
    }
    this.broken = true;
    this.sink = null;
    this.onError = null;
    if (!this.stream.destroyed) this.stream.destroy();
  }
}

const pool = new Map<string, ZlibContext[]>();
let sweeper: NodeJS.Timeout | null = null;

// Streams are pooled per exact configuration; options with non-primitive values
// (a dictionary, say) are not pooled.
function poolKey(kind: Kind, options: zlib.ZlibOptions): string | null {
  let key = kind;
  const record = options as Record<string, unknown>;
  for (const name of Object.keys(record).sort()) {
    const v = record[name];
    if (v === undefined) continue;
    if (typeof v !== 'number' && typeof v !== 'string' && typeof v !== 'boolean') return null;
    key += `|${name}=${String(v)}`;
  }
  return key;
}

export function acquireContext(kind: Kind, options: zlib.ZlibOptions): ZlibContext {
  const key = poolKey(kind, options);
  if (key !== null) {
    const ctx = pool.get(key)?.pop();
    if (ctx !== undefined) return ctx;
  }
  return new ZlibContext(kind, key, options);
}

export function releaseContext(ctx: ZlibContext): void {
  ctx.sink = null;
  ctx.onError = null;
  if (ctx.broken || ctx.ended || ctx.key === null || ctx.stream.destroyed) {
    ctx.destroy();
    return;
  }
  let list = pool.get(ctx.key);
  if (list === undefined) {
    list = [];
    pool.set(ctx.key, list);
  }
  if (list.length >= Math.min(POOL_MAX_PER_KEY, getLimiter().limit)) {
    ctx.destroy();
    return;
  }
  try {
    ctx.stream.reset(); // deflateReset / inflateReset: no history survives into the next message
  } catch {
    ctx.destroy();
    return;
  }
  ctx.idleSince = Date.now();
  list.push(ctx);
  if (sweeper === null) {
    sweeper = setInterval(sweepPool, POOL_IDLE_MS / 2);
    sweeper.unref();
  }
}

function sweepPool(): void {
  const cutoff = Date.now() - POOL_IDLE_MS;
  for (const [key, list] of pool) {
    const keep = list.filter((ctx) => {
      if (ctx.idleSince > cutoff) return true;
      ctx.destroy();
      return false;
    });
    if (keep.length === 0) pool.delete(key);
    else pool.set(key, keep);
  }
  if (pool.size === 0 && sweeper !== null) {
    clearInterval(sweeper);
    sweeper = null;
  }
}

/** Closes every pooled (idle) zlib stream now. */
export function drainZlibPool(): void {
  for (const list of pool.values()) for (const ctx of list) ctx.destroy();
  pool.clear();
  if (sweeper !== null) {
    clearInterval(sweeper);
    sweeper = null;
  }
}

// ---------------------------------------------------------------------------
// Releasing idle deflate streams (context takeover on our side)

/** An instance's entry in an IdleReleaser: when its deflate stream was last used, and how to release it. */
export interface IdleEntry { lastUse: number; readonly release: () => void }

/** Entries in all IdleReleasers: deflate streams kept between messages for context takeover. */
let keptCount = 0;
let maxKept = DEFAULT_MAX_IDLE_DEFLATE_STREAMS;
let maxKeptSet = false;

/**
 * Instances keeping a deflate stream between messages, for one idle period,
 * least recently used first (touch() moves an entry to the end). One unref'd
 * timer per period, armed for the oldest entry only: a message costs a clock
 * read and a Set delete + add, however many connections there are.
 */
export class IdleReleaser {
  readonly entries = new Set<IdleEntry>();
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly ms: number) {}

  touch(entry: IdleEntry): void {
    entry.lastUse = performance.now();
    if (!this.entries.delete(entry)) keptCount++;
    this.entries.add(entry);
    if (this.timer === null) this.arm(this.ms);
    if (keptCount > maxKept) evictKept();
  }

  /** Takes the entry out without releasing; true if it was in. */
  remove(entry: IdleEntry): boolean {
    if (!this.entries.delete(entry)) return false;
    keptCount--;
    if (this.entries.size === 0 && this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    return true;
  }

  private arm(delay: number): void {
    this.timer = setTimeout(() => this.sweep(), delay);
    this.timer.unref();
  }

  private sweep(): void {
    this.timer = null;
    const now = performance.now();
    for (const entry of this.entries) {
      const left = entry.lastUse + this.ms - now;
      // Timers may fire a fraction of a millisecond early against performance.now().
      if (left > 1) {
        this.arm(Math.ceil(left));
        return;
      }
      this.entries.delete(entry);
      keptCount--;
      entry.release();
    }
  }
}

const releasers = new Map<number, IdleReleaser>();

export function idleReleaser(ms: number): IdleReleaser {
  let r = releasers.get(ms);
  if (r === undefined) {
    r = new IdleReleaser(ms);
    releasers.set(ms, r);
  }
  return r;
}

/** Releases least recently used kept streams (over all idle periods) until at most maxKept are left. */
function evictKept(): void {
  while (keptCount > maxKept) {
    let from: IdleReleaser | null = null;
    let oldest: IdleEntry | null = null;
    for (const r of releasers.values()) {
      const first = r.entries.values().next();
      if (!first.done && (oldest === null || first.value.lastUse < oldest.lastUse)) {
        from = r;
        oldest = first.value;
      }
    }
    if (from === null || oldest === null) return;
    from.remove(oldest);
    oldest.release();
  }
}

function normalizeMaxKept(n: number | undefined): number {
  if (n === undefined) return DEFAULT_MAX_IDLE_DEFLATE_STREAMS;
  if (typeof n !== 'number' || Number.isNaN(n) || n < 0) throw new RangeError(`Invalid maxIdleDeflateStreams: ${n}`);
  return Math.floor(n);
}

/** The first instance's maxIdleDeflateStreams sets the process-wide limit, unless it was set already. */
export function initMaxIdleDeflateStreams(n: number | undefined): void {
  if (!maxKeptSet) {
    maxKept = normalizeMaxKept(n);
    maxKeptSet = true;
  }
}

/** Sets the process-wide number of deflate streams kept between messages (Infinity: no limit); applies at once. */
export function setMaxIdleDeflateStreams(n: number): void {
  maxKept = normalizeMaxKept(n);
  maxKeptSet = true;
  evictKept();
}

/** Largest delay setTimeout() takes; longer idle periods mean "never release". */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** deflateIdleRelease in ms, checked; Infinity: never release. */
export function normalizeIdleRelease(v: number | undefined): number {
  if (v === undefined) return DEFAULT_DEFLATE_IDLE_RELEASE;
  if (typeof v !== 'number' || Number.isNaN(v) || v < 0) throw new RangeError(`Invalid deflateIdleRelease: ${v}`);
  return v > MAX_TIMER_MS ? Infinity : v;
}
