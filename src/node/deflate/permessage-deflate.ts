// permessage-deflate (RFC 7692) on Node's zlib (raw deflate), shaped like ws's
// lib/permessage-deflate.js so that a ws user's `perMessageDeflate` options
// work unchanged.
//
// This file is the PerMessageDeflate class (one per connection) and its
// compress / decompress flow; the rest is split out, and its public names are
// re-exported here:
//   deflate-params.ts  negotiation (RFC 7692 §5, §7): offer, server accept,
//                      client accept, as pure functions;
//   deflate-errors.ts  PerMessageDeflateError and the close codes it carries;
//   deflate-jobs.ts    the per-connection job queues (one per direction);
//   zlib-pool.ts       the process-wide zlib limiter, stream pool, release of
//                      idle deflate streams, and zlibStats().
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
// Memory. Both directions create their zlib stream lazily, on the first
// message that needs it. Without context takeover a direction's stream comes
// from the process-wide pool for one message (zlib-pool.ts). With context
// takeover, the two directions differ: our deflate stream is released after
// `deflateIdleRelease` ms without a message, or earlier past
// `maxIdleDeflateStreams` (why that is valid, the defaults and their
// measurements: zlib-pool.ts).
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
import { Buffer } from 'node:buffer';
import process from 'node:process';
import zlib from 'node:zlib';
import type { ExtensionParams } from '../../codec/extension.js';
import {
  acceptAsClient, acceptAsServer, checkWindowOption, offerParams,
  type DeflateNegotiationOptions, type PerMessageDeflateParams,
} from '../../codec/deflate-params.js';
import { closedError, corrupt, internal, tooBig, type DeflateCallback, type PerMessageDeflateError } from './errors.js';
import { Job, Lane, type Done } from './jobs.js';
import { runSync, syncCapable } from './zlib-sync.js';
import {
  ZlibContext, acquireContext, idleReleaser, initMaxIdleDeflateStreams, initZlibConcurrencyLimit, normalizeIdleRelease,
  releaseContext, type IdleEntry, type Kind,
} from './zlib-pool.js';

export type { PerMessageDeflateParams } from '../../codec/deflate-params.js';
export { PerMessageDeflateError, type DeflateCallback } from './errors.js';
export {
  DEFAULT_DEFLATE_IDLE_RELEASE, DEFAULT_MAX_IDLE_DEFLATE_STREAMS, drainZlibPool, resetZlibPeak, setMaxIdleDeflateStreams,
  setZlibConcurrencyLimit, zlibStats, type ZlibStats,
} from './zlib-pool.js';

/** ws's perMessageDeflate options (the negotiation ones are in DeflateNegotiationOptions). */
export interface PerMessageDeflateOptions extends DeflateNegotiationOptions {
  /** Messages smaller than this are sent uncompressed (the sender checks it); default 1024. */
  threshold?: number;
  /** Passed to zlib.createDeflateRaw (windowBits is set by negotiation). */
  zlibDeflateOptions?: zlib.ZlibOptions;
  /** Passed to zlib.createInflateRaw (windowBits is set by negotiation). */
  zlibInflateOptions?: zlib.ZlibOptions;
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
   * correctly (see zlib-pool.ts). 0: after every message; Infinity: keep
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
  /**
   * Compress with one process-wide compressor per window size instead of one
   * per connection (uWebSockets.js's SHARED_COMPRESSOR): our side never uses
   * context takeover (a server also answers server_no_context_takeover, RFC
   * 7692 §7.1.1.1, so the peer may drop its inflater between messages), so a
   * connection holds no deflate state at all. Messages compress somewhat worse
   * (no history). Not a ws option.
   */
  sharedCompressor?: boolean;
}

/**
 * Largest message compressSync() takes, in bytes; bigger ones go to Node's
 * thread pool (compress()). `node bench/deflate-engines.mjs`: in-thread is
 * faster at every size measured (64 KiB: 621 vs 422 messages/s, 1 MiB: 35 vs
 * 23), and `node bench/profile.mjs echo-1m-deflate ws|ours` shows parity per
 * message at 1 MiB (34-36 vs 31-36 msgs/s), so the limit only bounds how long
 * one call may hold the event loop (1 MiB of text: ~28 ms).
 */
export const SYNC_COMPRESS_MAX = 1 << 20;

const TRAILER = Buffer.from([0x00, 0x00, 0xff, 0xff]);
const DEFAULT_WINDOW_BITS = 15;

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
  /** Set by forgetDeflateContext() during a compress: the next one starts a fresh stream. */
  private freshDeflate = false;
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
    initZlibConcurrencyLimit(opts.concurrencyLimit);
    initMaxIdleDeflateStreams(opts.maxIdleDeflateStreams);
  }

  /** True in server mode. */
  get isServer(): boolean { return this.server; }

  /** Messages smaller than this many bytes should be sent uncompressed. */
  get threshold(): number { return this.minSize; }

  /**
   * Messages smaller than this are sent uncompressed. As in ws, `threshold`
   * applies only when our side resets its context per message (no context
   * takeover): with takeover every message is compressed, since even a small
   * one costs little once the window holds context (and peers such as
   * libwebsockets 4.1 mishandle an uncompressed empty message mid-stream).
   */
  get sendThreshold(): number { return this.ourNoTakeover ? this.minSize : 0; }

  /** Largest inflated message accepted, in bytes (0: no limit). */
  get maxPayload(): number { return this.limit; }

  /** Inflated bytes of the received message in progress (held until it is delivered). */
  get inflatingBytes(): number { return this.inflatedTotal; }

  /** Client: the parameters to offer (format with formatExtensions({ 'permessage-deflate': offer })). */
  offer(): PerMessageDeflateParams {
    return offerParams(this.options);
  }

  /** Server: picks the first acceptable offer and returns the response params; client: validates the server's response. Throws if nothing can be agreed. */
  accept(configurations: ReadonlyArray<ExtensionParams>): PerMessageDeflateParams {
    if (this.params !== null) throw new Error('permessage-deflate was already negotiated');
    const o = this.options;
    const negotiation = this.server && o.sharedCompressor && o.serverNoContextTakeover === undefined
      ? { ...o, serverNoContextTakeover: true } : o;
    const params = this.server ? acceptAsServer(configurations, negotiation) : acceptAsClient(configurations, o);
    this.configure(params);
    this.params = params;
    return params;
  }

  private configure(params: PerMessageDeflateParams): void {
    const ours = this.server ? 'server' : 'client';
    const peers = this.server ? 'client' : 'server';
    this.ourNoTakeover = params[`${ours}_no_context_takeover`] === true || this.options.sharedCompressor === true;
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

  /** Window bits of our compressor: a frame compressed elsewhere for this peer must not use more. */
  get deflateWindowBits(): number {
    return typeof this.deflateOptions.windowBits === 'number' ? this.deflateOptions.windowBits : DEFAULT_WINDOW_BITS;
  }

  /**
   * The peer's inflater has just taken a message our stream did not produce (a
   * broadcast compressed once for many peers), so its window no longer ends with
   * our stream's output: our next message must not refer back to it and starts
   * a fresh stream. Valid at any message boundary (see releaseIdleDeflate).
   */
  forgetDeflateContext(): void {
    if (this.deflating) { this.freshDeflate = true; return; }
    const ctx = this.deflateCtx;
    if (ctx !== null) this.dropDeflate(ctx);
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

  // The connection core's Inflater (src/core/protocol.ts): whole messages, in
  // this thread when it can, else on zlib's thread pool.
  inflateSync(dataWithTail: Uint8Array): Uint8Array | null { return this.decompressMessageSync(dataWithTail); }
  inflate(dataWithTail: Uint8Array, done: (err: Error | null, out?: Uint8Array) => void): void { this.decompressMessage(dataWithTail, done); }

  /**
   * Compresses (part of) a message now, in this thread (see zlib-sync.ts);
   * with `fin` the trailing 00 00 ff ff is removed. Returns null when it cannot
   * (not negotiated, closed, compress() jobs still queued, a message above
   * SYNC_COMPRESS_MAX, or a zlib without the sync handle): use compress() then.
   * Throws a PerMessageDeflateError if zlib fails.
   */
  compressSync(data: Uint8Array, fin: boolean): Buffer | null {
    if (this.closed || this.params === null || !this.deflateLane.idle || data.length > SYNC_COMPRESS_MAX) return null;
    const ctx = this.deflateContext();
    if (!syncCapable(ctx.stream)) return null;
    let out: Buffer;
    try {
      out = runSync(ctx.stream, data, null, 0).out as Buffer;
    } catch (e) {
      this.dropDeflate(ctx);
      throw internal(e, 'deflate failed');
    }
    if (fin && out.length === 0) {
      // No input right after a flush: zlib writes nothing (Z_BUF_ERROR). An
      // empty stored block's first byte, 00, is the message (RFC 7692 §7.2.3.6).
      out = Buffer.alloc(1);
    } else if (fin) {
      // A sync flush always ends with an empty stored block: 00 00 ff ff (RFC 7692 §7.2.1).
      if (out.length < 4 || out.readUInt32BE(out.length - 4) !== 0x0000ffff) {
        this.dropDeflate(ctx);
        throw internal(undefined, 'deflate output does not end with a sync flush');
      }
      out = out.subarray(0, out.length - 4);
    }
    this.finishDeflate(ctx, fin);
    return out;
  }

  /**
   * Inflates a whole message whose 00 00 ff ff tail is already appended, now, in
   * this thread; maxPayload is checked while inflating (a bomb stops one 64 KiB
   * chunk past it). Returns null when it cannot (not negotiated, closed,
   * decompress() jobs or fragments in progress, or a zlib without the sync
   * handle): use decompressMessage() then. Throws a PerMessageDeflateError:
   * 1009 too big, 1007 corrupt.
   */
  decompressMessageSync(dataWithTail: Uint8Array): Buffer | null {
    if (this.closed || this.params === null || !this.inflateLane.idle || this.inflatedTotal !== 0 || this.inflateEnded) return null;
    const ctx = this.inflateContext();
    if (!syncCapable(ctx.stream)) return null;
    let result: ReturnType<typeof runSync>;
    try {
      result = runSync(ctx.stream, dataWithTail, null, this.limit);
    } catch (e) {
      this.dropInflate(ctx);
      throw corrupt(e as Error);
    }
    if (result.out === null) {
      this.dropInflate(ctx);
      throw tooBig();
    }
    if (result.leftover > 0) {
      // A final block (BFINAL) ended the stream before the tail: it takes no
      // more input; the next message starts a new one (as the async path).
      this.dropInflate(ctx);
    } else if (this.peerNoTakeover) {
      this.inflateCtx = null;
      releaseContext(ctx);
    }
    return result.out;
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

  /**
   * The deflate stream for the next message, shared by the sync and pooled
   * paths: restarted first when a shared frame went out since (freshDeflate).
   * Throws a PerMessageDeflateError when zlib cannot make one.
   */
  private deflateContext(): ZlibContext {
    if (this.freshDeflate) {
      this.freshDeflate = false;
      if (this.deflateCtx !== null) this.dropDeflate(this.deflateCtx);
    }
    try {
      return this.deflateCtx ?? (this.deflateCtx = this.takeContext('deflate', this.ourNoTakeover, this.deflateOptions));
    } catch (e) {
      throw internal(e, 'cannot create the deflate stream');
    }
  }

  /** The inflate stream for the next message (sync and pooled paths alike). */
  private inflateContext(): ZlibContext {
    try {
      return this.inflateCtx ?? (this.inflateCtx = this.takeContext('inflate', this.peerNoTakeover, this.inflateOptions));
    } catch (e) {
      throw internal(e, 'cannot create the inflate stream');
    }
  }

  private runDeflate(job: Job, done: Done): void {
    let ctx: ZlibContext;
    try {
      ctx = this.deflateContext();
    } catch (e) {
      process.nextTick(done, e);
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
        if (job.fin && size === 0) {
          out = Buffer.alloc(1); // nothing to flush: see compressSync
        } else if (job.fin) {
          // A sync flush always ends with an empty stored block: 00 00 ff ff (RFC 7692 §7.2.1).
          if (out.length < 4 || out.readUInt32BE(out.length - 4) !== 0x0000ffff) {
            this.dropDeflate(ctx);
            done(internal(undefined, 'deflate output does not end with a sync flush'));
            return;
          }
          out = out.subarray(0, out.length - 4);
        }
        this.finishDeflate(ctx, job.fin);
        done(null, out);
      });
    } catch (e) {
      process.nextTick(fail, internal(e, 'deflate failed'));
    }
  }

  // After a compress call: at the end of a message, give a no-takeover stream
  // back to the pool (reset) or drop it for deflateIdleRelease 0; a kept stream
  // is (re)registered for release after the idle period.
  private finishDeflate(ctx: ZlibContext, fin: boolean): void {
    if (fin) {
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
      ctx = this.inflateContext();
    } catch (e) {
      process.nextTick(done, e);
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
