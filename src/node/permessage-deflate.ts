// permessage-deflate (RFC 7692) on Node's zlib (raw deflate), shaped like ws's
// lib/permessage-deflate.js so that a ws user's `perMessageDeflate` options
// work unchanged.
//
// Negotiation (RFC 7692 §5, §7). A server takes the first offer it can honour;
// an offer it cannot (unknown parameter, repeated parameter, bad value, or a
// configuration our options rule out) is declined and the next one is tried
// (§5); if none is left, accept() throws and the connection layer should
// answer without the extension. A client validates the server's single
// response and throws on anything it did not ask for or cannot honour; the
// connection must then be failed (RFC 6455 §9.1). The table of decisions is
// in acceptAsServer() / acceptAsClient().
//
// Window size 8. zlib's deflateInit2() rejects windowBits 8 for raw deflate
// since 1.2.9 ("256-byte window bug", madler/zlib#171), and Node's DeflateRaw
// silently turns 8 into 9, so a compressor can never be built with a 256-byte
// window. We still accept server_max_window_bits=8 (server) and
// client_max_window_bits=8 (client, which cannot decline a value the server
// picks from a bare offer) and compress with windowBits 9: zlib never emits a
// match farther back than MAX_DIST = window size - MIN_LOOKAHEAD (262), which
// for a 512-byte window is 250 bytes, so a 9-bit zlib stream only references
// the last 250 bytes and is a valid stream for a peer inflating with a 256-byte
// window. (This is why zlib's own zlib-wrapper streams were readable when 8 was
// upgraded to 9; test/deflate.test.ts decodes our output with a distance-
// tracking decoder and checks every back-reference against the negotiated
// window, 8 included.) For inflating we ask for at least 9 bits too: a bigger
// window than the peer uses is always safe, costs 256 bytes, and tolerates a
// peer that compresses with 9 bits after agreeing to 8.
//
// Errors from decompress(): an inflated message larger than maxPayload is
// aborted as soon as the running total passes it (the zlib stream is
// destroyed; at most one output chunk past the limit is ever produced) with
// code 1009; data zlib cannot inflate fails with code 1007 (Invalid frame
// payload data): RFC 7692 §8 only says to _Fail the WebSocket Connection_,
// and ws uses 1007 too.
//
// Memory. zlib work goes through one process-wide limiter (at most
// `concurrencyLimit` jobs at once, FIFO; the first instance created sets the
// limit, as in ws, or call setZlibConcurrencyLimit()). Each instance runs its
// compress jobs in order and its decompress jobs in order (one of each at a
// time). Without context takeover, a direction's stream is taken from a small
// process-wide pool for one message and given back, reset, after it: no zlib
// object stays with the connection between messages. Pooled streams idle for
// POOL_IDLE_MS are closed. Both directions create their zlib stream lazily, on
// the first message that needs it.
//
// With context takeover, the two directions differ:
//
// Our deflate stream (~256 KiB at windowBits 15 / memLevel 8, most of an idle
// connection's cost) is released once the connection has compressed nothing for
// `deflateIdleRelease` ms, and the next message starts a fresh raw-deflate
// stream. That is valid: context takeover permits the compressor to refer back
// into earlier messages but never obliges it to, every message we send ends at a
// sync-flush boundary (byte-aligned, between blocks), and a new stream's
// back-references only reach bytes of the new stream, which the peer's inflater
// (whose window still holds everything before) has as well. test/deflate.test.ts
// checks this against ws's PerMessageDeflate and a persistent zlib.inflateRaw.
// The released stream is closed, not pooled: nothing of one connection's window
// is ever handed to another.
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
//
// Our inflate stream (~45 KiB: 7 KiB state, the 32 KiB window, zlib's output
// buffer) stays for the connection's life: the peer may refer back up to its
// window size, and Node's zlib cannot read a window out (no inflateGetDictionary).
// Its window is 2^client_max_window_bits when the server imposes one
// (clientMaxWindowBits), but we keep ws's default (no limit, so 15 for a ws or
// browser client offering a bare client_max_window_bits): imposing 12 saved ~20
// KiB per idle connection in bench/deflate-idle.mjs, but made the peer's
// messages ~10% larger (4 KiB JSON feed: 21.6% instead of 19.7% of the input;
// 10 bits: 26.3%), and a numeric clientMaxWindowBits makes the server decline
// offers without client_max_window_bits, i.e. no compression at all for such
// clients.
import zlib from 'node:zlib';
import type { ExtensionParams } from './extension.js';

/** Negotiated (or offered) parameters, as offer() and accept() return them. */
export type PerMessageDeflateParams = {
  server_no_context_takeover?: true;
  client_no_context_takeover?: true;
  server_max_window_bits?: number;
  /** `true` (no value) only in a client's offer. */
  client_max_window_bits?: number | true;
};

/** ws's perMessageDeflate options. */
export interface PerMessageDeflateOptions {
  /** Messages smaller than this are sent uncompressed (the sender checks it); default 1024. */
  threshold?: number;
  /** Passed to zlib.createDeflateRaw (windowBits is set by negotiation). */
  zlibDeflateOptions?: zlib.ZlibOptions;
  /** Passed to zlib.createInflateRaw (windowBits is set by negotiation). */
  zlibInflateOptions?: zlib.ZlibOptions;
  /** Request (client) / accept (server, unless false) resetting the server's context after each message. */
  serverNoContextTakeover?: boolean;
  /** Request (client) / impose (server) resetting the client's context after each message. */
  clientNoContextTakeover?: boolean;
  /** Client: request this server window (8..15). Server: cap the server window; false declines offers that limit it. */
  serverMaxWindowBits?: boolean | number;
  /** Client: advertise support (true, default) or limit our window (number); false: don't offer. Server: impose a client window. */
  clientMaxWindowBits?: boolean | number;
  /** zlib jobs allowed at once, process-wide (set by the first instance); default 10; 0 means no limit. */
  concurrencyLimit?: number;
  /** ws 8 style: server or client mode when the constructor's second argument is omitted. */
  isServer?: boolean;
  /** ws 8 style: largest inflated message when the constructor's third argument is omitted. */
  maxPayload?: number;
  /**
   * With context takeover on our side: close our deflate stream (and its LZ77
   * window, ~256 KiB at the defaults) once we have compressed nothing for this
   * many ms; the next message starts a fresh stream, which the peer inflates
   * correctly (see the header comment). 0: after every message; Infinity: keep
   * it for the connection's life (ws's behaviour). Default
   * DEFAULT_DEFLATE_IDLE_RELEASE. Not a ws option.
   */
  deflateIdleRelease?: number;
  /**
   * Process-wide (set by the first instance, or setMaxIdleDeflateStreams()):
   * at most this many deflate streams are kept between messages; past it the
   * least recently used is released early. Default
   * DEFAULT_MAX_IDLE_DEFLATE_STREAMS; Infinity: no limit. Instances with
   * deflateIdleRelease Infinity are not counted. Not a ws option.
   */
  maxIdleDeflateStreams?: number;
}

/** Completion callback of compress() / decompress(); called exactly once, never synchronously. */
export type DeflateCallback = (err: PerMessageDeflateError | null, result?: Buffer) => void;

/** Why compress() / decompress() failed; `code` (= `closeCode`) is the close code to fail the connection with. */
export class PerMessageDeflateError extends Error {
  /** Close code: 1009 too big, 1007 corrupt data, 1011 anything else. */
  readonly code: number;
  /** Same as `code`, the field name codec's ProtocolError uses. */
  readonly closeCode: number;
  /** The string code ws would report (WS_ERR_UNSUPPORTED_MESSAGE_LENGTH, a zlib Z_* code, ...). */
  readonly wsCode: string;
  constructor(message: string, code: number, wsCode: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'PerMessageDeflateError';
    this.code = code;
    this.closeCode = code;
    this.wsCode = wsCode;
  }
}

const TRAILER = Buffer.from([0x00, 0x00, 0xff, 0xff]);
const DEFAULT_WINDOW_BITS = 15;
const WINDOW_BITS_VALUE = /^(?:[89]|1[0-5])$/;
/** Most pooled zlib streams kept per configuration. */
const POOL_MAX_PER_KEY = 16;
/** Pooled zlib streams unused this long are closed. */
const POOL_IDLE_MS = 10_000;
/** Default deflateIdleRelease, in ms: see the header comment for why. */
export const DEFAULT_DEFLATE_IDLE_RELEASE = 1000;
/** Default maxIdleDeflateStreams: see the header comment for why. */
export const DEFAULT_MAX_IDLE_DEFLATE_STREAMS = 64;

const tooBig = (): PerMessageDeflateError =>
  new PerMessageDeflateError('Max payload size exceeded', 1009, 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH');
const corrupt = (e: Error): PerMessageDeflateError =>
  new PerMessageDeflateError(`Invalid compressed data: ${e.message}`, 1007, zlibCode(e, 'Z_DATA_ERROR'), e);
const internal = (e: unknown, message = 'permessage-deflate failed'): PerMessageDeflateError =>
  new PerMessageDeflateError(e instanceof Error ? `${message}: ${e.message}` : message, 1011, zlibCode(e, 'ERR_PERMESSAGE_DEFLATE'), e);
const closedError = (): PerMessageDeflateError =>
  new PerMessageDeflateError('The permessage-deflate instance was cleaned up', 1011, 'ERR_PERMESSAGE_DEFLATE_CLOSED');

function zlibCode(e: unknown, fallback: string): string {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : fallback;
}

// ---------------------------------------------------------------------------
// Process-wide limiter

/** FIFO slots for zlib jobs: at most `limit` run at once. */
class ZlibLimiter {
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

function getLimiter(): ZlibLimiter {
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

type Kind = 'deflate' | 'inflate';

/** zlib streams created and not yet destroyed, per kind (pooled ones included). */
const openStreams: Record<Kind, number> = { deflate: 0, inflate: 0 };

/** A zlib stream with its listeners attached once; the job using it sets `sink` / `onError`. */
class ZlibContext {
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

function acquireContext(kind: Kind, options: zlib.ZlibOptions): ZlibContext {
  const key = poolKey(kind, options);
  if (key !== null) {
    const ctx = pool.get(key)?.pop();
    if (ctx !== undefined) return ctx;
  }
  return new ZlibContext(kind, key, options);
}

function releaseContext(ctx: ZlibContext): void {
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
interface IdleEntry { lastUse: number; readonly release: () => void }

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
class IdleReleaser {
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

function idleReleaser(ms: number): IdleReleaser {
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

/** Sets the process-wide number of deflate streams kept between messages (Infinity: no limit); applies at once. */
export function setMaxIdleDeflateStreams(n: number): void {
  maxKept = normalizeMaxKept(n);
  maxKeptSet = true;
  evictKept();
}

/** Largest delay setTimeout() takes; longer idle periods mean "never release". */
const MAX_TIMER_MS = 2 ** 31 - 1;

function normalizeIdleRelease(v: number | undefined): number {
  if (v === undefined) return DEFAULT_DEFLATE_IDLE_RELEASE;
  if (typeof v !== 'number' || Number.isNaN(v) || v < 0) throw new RangeError(`Invalid deflateIdleRelease: ${v}`);
  return v > MAX_TIMER_MS ? Infinity : v;
}

// ---------------------------------------------------------------------------
// Per-instance job lanes

type Done = (err: PerMessageDeflateError | null, result?: Buffer) => void;

class Job {
  settled = false;
  holdsSlot = false;
  /** The limiter waiter, while waiting for a slot. */
  waiter: (() => void) | null = null;
  constructor(readonly data: Uint8Array, readonly fin: boolean, readonly tail: boolean, readonly cb: DeflateCallback) {}
}

/** Runs one instance's jobs of one direction one at a time, in order, each holding a limiter slot. */
class Lane {
  private readonly queue: Job[] = [];
  private current: Job | null = null;

  constructor(private readonly start: (job: Job, done: Done) => void) {}

  get idle(): boolean { return this.current === null && this.queue.length === 0; }

  push(job: Job): void {
    this.queue.push(job);
    if (this.current === null) this.next();
  }

  private next(): void {
    const job = this.queue.shift();
    if (job === undefined) {
      this.current = null;
      return;
    }
    this.current = job;
    const lim = getLimiter();
    const run = (): void => {
      job.waiter = null;
      if (job.settled) {
        lim.release();
        return;
      }
      job.holdsSlot = true;
      try {
        this.start(job, (err, result) => this.complete(job, err, result));
      } catch (e) {
        // start() reports failures through `done`; this is a last resort.
        process.nextTick(() => this.complete(job, internal(e)));
      }
    };
    job.waiter = run;
    lim.acquire(run);
  }

  private complete(job: Job, err: PerMessageDeflateError | null, result?: Buffer): void {
    if (job.settled) return;
    job.settled = true;
    if (job.holdsSlot) {
      job.holdsSlot = false;
      getLimiter().release();
    }
    if (this.current === job) {
      this.current = null;
      this.next();
    }
    job.cb(err, result);
  }

  /** Fails the running and queued jobs with `err` (callbacks on the next tick). */
  cancelAll(err: () => PerMessageDeflateError): void {
    const jobs = this.current === null ? this.queue.splice(0) : [this.current, ...this.queue.splice(0)];
    this.current = null;
    const lim = getLimiter();
    for (const job of jobs) {
      if (job.settled) continue;
      job.settled = true;
      if (job.waiter !== null) {
        lim.cancel(job.waiter);
        job.waiter = null;
      }
      if (job.holdsSlot) {
        job.holdsSlot = false;
        lim.release();
      }
      const e = err();
      process.nextTick(() => job.cb(e));
    }
  }
}

// ---------------------------------------------------------------------------
// Negotiation helpers

type ParamValue = string | number | true;
/** What parseExtensions() gives per offer (numbers are tolerated as values too). */
type RawParams = Readonly<Record<string, ReadonlyArray<ParamValue>>>;

function windowBits(key: string, v: ParamValue): number {
  if (typeof v === 'number' ? Number.isInteger(v) && v >= 8 && v <= 15 : typeof v === 'string' && WINDOW_BITS_VALUE.test(v)) {
    return Number(v);
  }
  throw new TypeError(`Invalid value for parameter "${key}": ${String(v)}`);
}

// Validates one offer / response: known parameters, each once, valid values.
// In a response client_max_window_bits needs a value; in an offer it may be bare.
function normalizeParams(params: RawParams, inOffer: boolean): PerMessageDeflateParams {
  const out: PerMessageDeflateParams = {};
  for (const key of Object.keys(params)) {
    const values = params[key];
    if (!Array.isArray(values) || values.length !== 1) {
      throw new Error(`Parameter "${key}" must have only a single value`);
    }
    const v = values[0] as ParamValue;
    switch (key) {
      case 'server_no_context_takeover':
      case 'client_no_context_takeover':
        if (v !== true) throw new TypeError(`Invalid value for parameter "${key}": ${String(v)}`);
        out[key] = true;
        break;
      case 'server_max_window_bits':
        out.server_max_window_bits = windowBits(key, v);
        break;
      case 'client_max_window_bits':
        if (v === true && inOffer) out.client_max_window_bits = true;
        else out.client_max_window_bits = windowBits(key, v);
        break;
      default:
        throw new Error(`Unknown parameter "${key}"`);
    }
  }
  return out;
}

/** Params in one fixed order (server_no_context_takeover, client_no_context_takeover, server_max_window_bits, client_max_window_bits). */
function canonical(p: PerMessageDeflateParams): PerMessageDeflateParams {
  const out: PerMessageDeflateParams = {};
  if (p.server_no_context_takeover) out.server_no_context_takeover = true;
  if (p.client_no_context_takeover) out.client_no_context_takeover = true;
  if (p.server_max_window_bits !== undefined) out.server_max_window_bits = p.server_max_window_bits;
  if (p.client_max_window_bits !== undefined) out.client_max_window_bits = p.client_max_window_bits;
  return out;
}

function minDefined(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Math.min(a, b);
}

function checkWindowOption(name: string, v: boolean | number | undefined): void {
  if (typeof v === 'number' && !(Number.isInteger(v) && v >= 8 && v <= 15)) {
    throw new RangeError(`Invalid ${name}: ${v} (must be an integer from 8 to 15, or a boolean)`);
  }
}

// ---------------------------------------------------------------------------

/** permessage-deflate for one connection: negotiation, then compress / decompress with Node's zlib. */
export class PerMessageDeflate {
  /** The extension token, 'permessage-deflate'. */
  static readonly extensionName = 'permessage-deflate';

  /** Parameters agreed by accept(); null before. */
  params: PerMessageDeflateParams | null = null;

  private readonly options: PerMessageDeflateOptions;
  private readonly server: boolean;
  private readonly limit: number;
  private readonly minSize: number;
  /** deflateIdleRelease in ms (Infinity: never). */
  private readonly idleRelease: number;
  /** Our entry in the IdleReleaser, created on first use. */
  private idleEntry: IdleEntry | null = null;
  /** A compress job is using deflateCtx right now. */
  private deflating = false;
  private closed = false;

  // Set by accept().
  private ourNoTakeover = false;
  private peerNoTakeover = false;
  private deflateOptions: zlib.ZlibOptions = {};
  private inflateOptions: zlib.ZlibOptions = {};

  // The zlib stream of each direction: kept for the connection with context
  // takeover; with no context takeover only while a message is in progress.
  private deflateCtx: ZlibContext | null = null;
  private inflateCtx: ZlibContext | null = null;
  /** Inflated bytes of the message in progress (all its fragments so far). */
  private inflatedTotal = 0;
  /** The message in progress hit a final deflate block: ignore its remaining input. */
  private inflateEnded = false;

  private readonly deflateLane = new Lane((job, done) => this.runDeflate(job, done));
  private readonly inflateLane = new Lane((job, done) => this.runInflate(job, done));

  /** Creates the extension for one connection (options `true` means all defaults); `maxPayload` 0 means no limit. */
  constructor(options?: true | PerMessageDeflateOptions | null, isServer?: boolean, maxPayload?: number) {
    const opts: PerMessageDeflateOptions = options === true || options == null ? {} : options;
    checkWindowOption('serverMaxWindowBits', opts.serverMaxWindowBits);
    checkWindowOption('clientMaxWindowBits', opts.clientMaxWindowBits);
    this.options = opts;
    this.server = !!(isServer ?? opts.isServer);
    const max = maxPayload ?? opts.maxPayload ?? 0;
    this.limit = max > 0 ? max : 0;
    this.minSize = opts.threshold ?? 1024;
    this.idleRelease = normalizeIdleRelease(opts.deflateIdleRelease);
    if (limiter === null) limiter = new ZlibLimiter(normalizeLimit(opts.concurrencyLimit));
    if (!maxKeptSet) {
      maxKept = normalizeMaxKept(opts.maxIdleDeflateStreams);
      maxKeptSet = true;
    }
  }

  /** True in server mode. */
  get isServer(): boolean { return this.server; }

  /** Messages smaller than this many bytes should be sent uncompressed. */
  get threshold(): number { return this.minSize; }

  /** Largest inflated message accepted, in bytes (0: no limit). */
  get maxPayload(): number { return this.limit; }

  /** Client: the parameters to offer (format with formatExtensions({ 'permessage-deflate': offer })). */
  offer(): PerMessageDeflateParams {
    const o = this.options;
    const params: PerMessageDeflateParams = {};
    if (o.serverNoContextTakeover) params.server_no_context_takeover = true;
    if (o.clientNoContextTakeover) params.client_no_context_takeover = true;
    // ws offers a bare server_max_window_bits for `true`, which RFC 7692 §7.1.2.1
    // forbids (it needs a value); we offer it only with a number.
    if (typeof o.serverMaxWindowBits === 'number') params.server_max_window_bits = o.serverMaxWindowBits;
    if (typeof o.clientMaxWindowBits === 'number') params.client_max_window_bits = o.clientMaxWindowBits;
    else if (o.clientMaxWindowBits !== false) params.client_max_window_bits = true;
    return params;
  }

  /** Server: picks the first acceptable offer and returns the response params; client: validates the server's response. Throws if nothing can be agreed. */
  accept(configurations: ReadonlyArray<ExtensionParams>): PerMessageDeflateParams {
    if (this.params !== null) throw new Error('permessage-deflate was already negotiated');
    const params = this.server ? this.acceptAsServer(configurations) : this.acceptAsClient(configurations);
    this.configure(params);
    this.params = params;
    return params;
  }

  // Server side. For each offer, in order:
  //   offer has an unknown / repeated parameter or a bad value  -> decline this offer (§5)
  //   server_no_context_takeover offered, option === false     -> decline
  //   server_max_window_bits offered, option === false         -> decline
  //   clientMaxWindowBits is a number, offer lacks client_max_window_bits
  //                                                             -> decline (we could not limit the client, §7.1.2.2)
  // The first offer not declined is answered with:
  //   server_no_context_takeover  if offered (§7.1.1.1 MUST) or option === true
  //   client_no_context_takeover  if option === true, or offered and option !== false
  //   server_max_window_bits=min(offer, option)   when either is a number (8..15; a smaller window is always allowed)
  //   client_max_window_bits=min(offer, option)   only if offered (§7.1.2.2) and option !== false, when either is a number
  private acceptAsServer(offers: ReadonlyArray<ExtensionParams>): PerMessageDeflateParams {
    const o = this.options;
    const reasons: string[] = [];
    for (let i = 0; i < offers.length; i++) {
      let offer: PerMessageDeflateParams;
      try {
        offer = normalizeParams(offers[i] as RawParams, true);
      } catch (e) {
        reasons.push(`offer ${i + 1}: ${(e as Error).message}`);
        continue;
      }
      let why = '';
      if (offer.server_no_context_takeover && o.serverNoContextTakeover === false) {
        why = 'server_no_context_takeover is disabled';
      } else if (offer.server_max_window_bits !== undefined && o.serverMaxWindowBits === false) {
        why = 'server_max_window_bits is disabled';
      } else if (typeof o.clientMaxWindowBits === 'number' && offer.client_max_window_bits === undefined) {
        why = 'client_max_window_bits is required';
      }
      if (why !== '') {
        reasons.push(`offer ${i + 1}: ${why}`);
        continue;
      }

      const res: PerMessageDeflateParams = {};
      if (offer.server_no_context_takeover || o.serverNoContextTakeover === true) res.server_no_context_takeover = true;
      if (o.clientNoContextTakeover === true || (offer.client_no_context_takeover && o.clientNoContextTakeover !== false)) {
        res.client_no_context_takeover = true;
      }
      const serverBits = minDefined(offer.server_max_window_bits,
        typeof o.serverMaxWindowBits === 'number' ? o.serverMaxWindowBits : undefined);
      if (serverBits !== undefined) res.server_max_window_bits = serverBits;
      if (offer.client_max_window_bits !== undefined && o.clientMaxWindowBits !== false) {
        const clientBits = minDefined(
          typeof offer.client_max_window_bits === 'number' ? offer.client_max_window_bits : undefined,
          typeof o.clientMaxWindowBits === 'number' ? o.clientMaxWindowBits : undefined);
        if (clientBits !== undefined) res.client_max_window_bits = clientBits;
      }
      return res;
    }
    const detail = reasons.length > 0 ? ` (${reasons.join('; ')})` : '';
    throw new Error(`None of the extension offers can be accepted${detail}`);
  }

  // Client side. The response must be one configuration of known parameters,
  // each once, with valid values (client_max_window_bits needs a value), and:
  //   client_no_context_takeover while clientNoContextTakeover === false   -> throw
  //   server_max_window_bits above the number we offered                   -> throw (§7.1.2.1: same or smaller)
  //   client_max_window_bits when we did not offer it (option false)       -> throw (§7.1.2.2 MUST NOT)
  //   client_max_window_bits above the number we offered                   -> throw
  //   server_no_context_takeover / server_max_window_bits not offered      -> fine (§7.1.1.1, §7.1.2.1 MAY)
  //   no client_max_window_bits but we offered a number N                  -> we use N (as ws)
  // A server that leaves out server_no_context_takeover or server_max_window_bits
  // we asked for is tolerated, as ws does: we then inflate assuming context
  // takeover and a 15-bit window, which decodes any valid stream.
  private acceptAsClient(response: ReadonlyArray<ExtensionParams>): PerMessageDeflateParams {
    const o = this.options;
    if (response.length !== 1) {
      throw new Error(response.length === 0
        ? 'Missing permessage-deflate response parameters'
        : 'The server responded with more than one permessage-deflate configuration');
    }
    const p = normalizeParams(response[0] as RawParams, false);
    if (p.client_no_context_takeover && o.clientNoContextTakeover === false) {
      throw new Error('Unexpected parameter "client_no_context_takeover"');
    }
    if (p.server_max_window_bits !== undefined && typeof o.serverMaxWindowBits === 'number' &&
        p.server_max_window_bits > o.serverMaxWindowBits) {
      throw new Error('Unexpected or invalid parameter "server_max_window_bits"');
    }
    if (p.client_max_window_bits !== undefined) {
      if (o.clientMaxWindowBits === false ||
          (typeof o.clientMaxWindowBits === 'number' && (p.client_max_window_bits as number) > o.clientMaxWindowBits)) {
        throw new Error('Unexpected or invalid parameter "client_max_window_bits"');
      }
    } else if (typeof o.clientMaxWindowBits === 'number') {
      p.client_max_window_bits = o.clientMaxWindowBits;
    }
    return canonical(p);
  }

  private configure(params: PerMessageDeflateParams): void {
    const ours = this.server ? 'server' : 'client';
    const peers = this.server ? 'client' : 'server';
    this.ourNoTakeover = params[`${ours}_no_context_takeover`] === true;
    this.peerNoTakeover = params[`${peers}_no_context_takeover`] === true;
    const ourBits = params[`${ours}_max_window_bits`];
    const peerBits = params[`${peers}_max_window_bits`];
    // 8 -> 9 on both sides: see the header comment.
    this.deflateOptions = {
      ...this.options.zlibDeflateOptions,
      windowBits: typeof ourBits === 'number' ? Math.max(ourBits, 9) : DEFAULT_WINDOW_BITS,
    };
    this.inflateOptions = {
      ...this.options.zlibInflateOptions,
      windowBits: typeof peerBits === 'number' ? Math.max(peerBits, 9) : DEFAULT_WINDOW_BITS,
    };
  }

  /** Compresses (part of) a message; with `fin` the trailing 00 00 ff ff is removed. Order is kept per instance. */
  compress(data: Uint8Array, fin: boolean, callback: DeflateCallback): void {
    this.enqueue(this.deflateLane, data, fin, false, callback);
  }

  /** Inflates (part of) a received message, appending 00 00 ff ff when `fin`; enforces maxPayload on the whole message. */
  decompress(data: Uint8Array, fin: boolean, callback: DeflateCallback): void {
    this.enqueue(this.inflateLane, data, fin, fin, callback);
  }

  /** Inflates a whole message whose 00 00 ff ff tail is already appended (what codec's FrameDecoder delivers). */
  decompressMessage(dataWithTail: Uint8Array, callback: DeflateCallback): void {
    this.enqueue(this.inflateLane, dataWithTail, true, false, callback);
  }

  /** Releases the zlib streams; running and queued jobs fail (code 1011). Safe to call more than once. */
  cleanup(): void {
    if (this.closed) return;
    this.closed = true;
    this.deflateLane.cancelAll(closedError);
    this.inflateLane.cancelAll(closedError);
    if (this.idleEntry !== null) idleReleaser(this.idleRelease).remove(this.idleEntry);
    this.deflateCtx?.destroy();
    this.deflateCtx = null;
    this.inflateCtx?.destroy();
    this.inflateCtx = null;
    this.inflatedTotal = 0;
  }

  /** Which zlib streams this instance holds now: between messages only with context takeover, and our deflate stream only until deflateIdleRelease / maxIdleDeflateStreams releases it. */
  get holdsZlib(): { deflate: boolean; inflate: boolean } {
    return { deflate: this.deflateCtx !== null, inflate: this.inflateCtx !== null };
  }

  private enqueue(lane: Lane, data: Uint8Array, fin: boolean, tail: boolean, callback: DeflateCallback): void {
    let err: PerMessageDeflateError | null = null;
    if (this.closed) err = closedError();
    else if (this.params === null) err = internal(undefined, 'permessage-deflate was not negotiated (call accept() first)');
    else if (!(data instanceof Uint8Array)) err = internal(undefined, 'data must be a Buffer or Uint8Array');
    if (err !== null) {
      const e = err;
      process.nextTick(() => callback(e));
      return;
    }
    lane.push(new Job(data, !!fin, tail, callback));
  }

  private dropDeflate(ctx: ZlibContext): void {
    ctx.destroy();
    if (this.deflateCtx === ctx) this.deflateCtx = null;
    if (this.idleEntry !== null && this.deflateCtx === null) idleReleaser(this.idleRelease).remove(this.idleEntry);
  }

  private dropInflate(ctx: ZlibContext): void {
    ctx.destroy();
    if (this.inflateCtx === ctx) this.inflateCtx = null;
    this.inflatedTotal = 0;
    this.inflateEnded = false;
  }

  // Called by the IdleReleaser once nothing was compressed for idleRelease ms,
  // or to evict the least recently used stream past maxIdleDeflateStreams. A
  // job running now keeps the stream and touches the entry again when it
  // finishes; a queued job just starts a fresh stream. Releasing between
  // fragments of a message is as valid as between messages: every compress()
  // output ends at a sync-flush boundary.
  private releaseIdleDeflate(): void {
    const ctx = this.deflateCtx;
    if (this.closed || ctx === null || this.deflating) return;
    this.dropDeflate(ctx);
  }

  private takeContext(kind: Kind, noTakeover: boolean, options: zlib.ZlibOptions): ZlibContext {
    return noTakeover ? acquireContext(kind, options) : new ZlibContext(kind, null, options);
  }

  private runDeflate(job: Job, done: Done): void {
    let ctx: ZlibContext;
    try {
      ctx = this.deflateCtx ?? (this.deflateCtx = this.takeContext('deflate', this.ourNoTakeover, this.deflateOptions));
    } catch (e) {
      process.nextTick(done, internal(e, 'cannot create the deflate stream'));
      return;
    }
    this.deflating = true;
    const chunks: Buffer[] = [];
    let size = 0;
    let finished = false;
    const fail = (err: PerMessageDeflateError): void => {
      if (finished) return;
      finished = true;
      this.deflating = false;
      this.dropDeflate(ctx);
      done(err);
    };
    ctx.sink = (chunk) => { chunks.push(chunk); size += chunk.length; };
    ctx.onError = (e) => fail(internal(e, 'deflate failed'));
    try {
      ctx.stream.write(job.data);
      ctx.stream.flush(zlib.constants.Z_SYNC_FLUSH, () => {
        if (finished) return;
        if (ctx.broken || this.closed) {
          fail(internal(undefined, 'deflate stream closed'));
          return;
        }
        finished = true;
        this.deflating = false;
        ctx.sink = null;
        ctx.onError = null;
        let out = chunks.length === 1 ? chunks[0] as Buffer : Buffer.concat(chunks, size);
        if (job.fin) {
          // A sync flush always ends with an empty stored block: 00 00 ff ff (RFC 7692 §7.2.1).
          if (out.length < 4 || out.readUInt32BE(out.length - 4) !== 0x0000ffff) {
            this.dropDeflate(ctx);
            done(internal(undefined, 'deflate output does not end with a sync flush'));
            return;
          }
          out = out.subarray(0, out.length - 4);
          if (this.ourNoTakeover) {
            this.deflateCtx = null;
            releaseContext(ctx);
          } else if (this.idleRelease === 0) {
            this.dropDeflate(ctx);
          }
        }
        if (this.deflateCtx === ctx && !this.ourNoTakeover && this.idleRelease > 0 && this.idleRelease !== Infinity) {
          const entry = this.idleEntry ??= { lastUse: 0, release: () => this.releaseIdleDeflate() };
          idleReleaser(this.idleRelease).touch(entry);
        }
        done(null, out);
      });
    } catch (e) {
      process.nextTick(fail, internal(e, 'deflate failed'));
    }
  }

  private runInflate(job: Job, done: Done): void {
    if (this.inflateEnded) {
      // The peer ended the deflate stream (BFINAL) earlier in this message; zlib
      // ignores data after the end of a stream and so do we.
      if (job.fin) this.endInflateMessage(this.inflateCtx);
      process.nextTick(done, null, Buffer.alloc(0));
      return;
    }
    let ctx: ZlibContext;
    try {
      ctx = this.inflateCtx ?? (this.inflateCtx = this.takeContext('inflate', this.peerNoTakeover, this.inflateOptions));
    } catch (e) {
      process.nextTick(done, internal(e, 'cannot create the inflate stream'));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let finished = false;
    const fail = (err: PerMessageDeflateError): void => {
      if (finished) return;
      finished = true;
      chunks.length = 0;
      this.dropInflate(ctx);
      done(err);
    };
    ctx.sink = (chunk) => {
      this.inflatedTotal += chunk.length;
      if (this.limit > 0 && this.inflatedTotal > this.limit) {
        fail(tooBig()); // destroys the stream: zlib stops producing output now
        return;
      }
      chunks.push(chunk);
      size += chunk.length;
    };
    ctx.onError = (e) => fail(corrupt(e));
    try {
      ctx.stream.write(job.data);
      if (job.tail) ctx.stream.write(TRAILER);
      ctx.stream.flush(zlib.constants.Z_SYNC_FLUSH, () => {
        if (finished) return;
        if (ctx.broken || this.closed) {
          fail(internal(undefined, 'inflate stream closed'));
          return;
        }
        finished = true;
        ctx.sink = null;
        ctx.onError = null;
        const out = joinInflated(chunks, size);
        if (ctx.ended) this.inflateEnded = true;
        if (job.fin) this.endInflateMessage(ctx);
        done(null, out);
      });
    } catch (e) {
      process.nextTick(fail, internal(e, 'inflate failed'));
    }
  }

  private endInflateMessage(ctx: ZlibContext | null): void {
    this.inflatedTotal = 0;
    this.inflateEnded = false;
    if (ctx === null) return;
    if (ctx.ended) {
      // A final block ended the stream: it takes no more input, start a new one
      // for the next message (as ws does).
      this.dropInflate(ctx);
    } else if (this.peerNoTakeover) {
      this.inflateCtx = null;
      releaseContext(ctx);
    }
  }
}

// Inflated output is what the application keeps. zlib hands out views into its
// 16 KiB output buffers; a small message kept as such a view would pin a whole
// buffer, so small single chunks are copied.
function joinInflated(chunks: Buffer[], size: number): Buffer {
  if (chunks.length === 0) return Buffer.alloc(0);
  if (chunks.length === 1) {
    const c = chunks[0] as Buffer;
    if (c.length * 2 >= c.buffer.byteLength) return c;
  }
  return Buffer.concat(chunks, size);
}

export default PerMessageDeflate;
