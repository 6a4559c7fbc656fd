// Raw deflate / inflate streams for permessage-deflate in every runtime (Deno,
// Bun, workerd, browsers; Node uses its native zlib, src/node/deflate/zlib-sync.ts).
// One stream per direction keeps its window across messages (context
// takeover); each call ends with Z_SYNC_FLUSH, so every message ends on a byte
// boundary with 00 00 ff ff (RFC 7692 §7.2.1).
//
// The engine is pako's zlib port (bundled into dist, so the package keeps no
// runtime dependency). Chosen by `node bench/deflate-engines.mjs` (messages/s,
// compress / inflate, one thread, windowBits 15, level 6, machine shared):
//            pako                 native zlib (sync)   fflate
//   64 B     215,066 / 583,831    975,566 / 2,704,648   42,339 / 159,849
//   1 KiB     57,540 / 253,696    302,931 / 1,249,730   round trip fails
//   16 KiB     1,449 /  12,877      2,674 /    31,296   round trip fails
//   1 MiB         17 /     166         35 /       457   round trip fails
// fflate's streaming Inflate fails on a stream of sync-flushed messages
// ("invalid block type") and its Deflate has no windowBits, so it cannot honour
// a negotiated server_max_window_bits; zlib in WebAssembly needs zlib's C
// source and a wasm libc, neither of which this build has (only the npm
// registry and Debian binary packages are reachable).
import {
  ZStream, Z_BUF_ERROR, Z_OK, Z_STREAM_END, Z_SYNC_FLUSH,
  zlibDeflate, zlibDeflateInit2, zlibDeflateReset, zlibInflate, zlibInflateInit2,
} from 'pako';
import { ProtocolError, tooBig } from './errors.js';

/** Output is written here first, then copied out (one per thread: calls never overlap). */
const SCRATCH_SIZE = 64 * 1024;
let scratch: Uint8Array | null = null;

/** zlib's defaults: level 6 (Z_DEFAULT_COMPRESSION), memLevel 8. */
export interface DeflateTuning { level?: number; memLevel?: number }

function collect(first: Uint8Array | null, rest: Uint8Array[] | null, total: number): Uint8Array {
  if (first === null) return new Uint8Array(0);
  if (rest === null) return first;
  const out = new Uint8Array(total);
  out.set(first, 0);
  let o = first.length;
  for (const p of rest) { out.set(p, o); o += p.length; }
  return out;
}

/** A raw-deflate compressor. windowBits 8 is taken as 9 (zlib refuses 8 for raw deflate; a 9-bit stream only refers 250 bytes back, within a 256-byte window). */
export class RawDeflater {
  private readonly strm = new ZStream();

  constructor(windowBits: number, tuning: DeflateTuning = {}) {
    const rc = zlibDeflateInit2(this.strm, tuning.level ?? 6, 8, -Math.max(windowBits, 9), tuning.memLevel ?? 8, 0);
    if (rc !== Z_OK) throw new RangeError(`deflate init failed (${rc})`);
  }

  /** Compresses `data` with a sync flush; with `fin`, the trailing 00 00 ff ff is removed. */
  compress(data: Uint8Array, fin: boolean): Uint8Array {
    const out = run(this.strm, zlibDeflate, data, 0).out as Uint8Array;
    // No input right after a flush: zlib makes no progress (Z_BUF_ERROR) and
    // writes nothing. An empty stored block's first byte, 00, is the message
    // (the receiver's 00 00 ff ff completes it, RFC 7692 §7.2.3.6).
    if (out.length === 0) return fin ? new Uint8Array(1) : out;
    if (!fin) return out;
    const n = out.length;
    if (n < 4 || out[n - 4] !== 0 || out[n - 3] !== 0 || out[n - 2] !== 0xff || out[n - 1] !== 0xff) {
      throw new Error('deflate output does not end with a sync flush');
    }
    return out.subarray(0, n - 4);
  }

  /** Forgets the history (no context takeover): the next message refers to nothing before it. */
  reset(): void {
    zlibDeflateReset(this.strm);
  }
}

/** A raw-deflate decompressor. windowBits below 9 are taken as 9 (a larger window reads any smaller one's stream). */
export class RawInflater {
  private readonly strm = new ZStream();
  /** A final block (BFINAL) ended the stream: it takes no more input. */
  ended = false;

  constructor(windowBits: number) {
    const rc = zlibInflateInit2(this.strm, -Math.max(windowBits, 9));
    if (rc !== Z_OK) throw new RangeError(`inflate init failed (${rc})`);
  }

  /**
   * Inflates one message (its 00 00 ff ff tail already appended). `limit` > 0:
   * throws a 1009 ProtocolError as soon as the output passes it, having held at
   * most one 64 KiB chunk more. Corrupt data throws a 1007 ProtocolError; the
   * inflater is then unusable.
   */
  inflate(dataWithTail: Uint8Array, limit: number): Uint8Array {
    if (this.ended) return new Uint8Array(0);
    const r = run(this.strm, zlibInflate, dataWithTail, limit);
    if (r.out === null) throw tooBig();
    if (r.ended) this.ended = true;
    return r.out;
  }
}

type ZFn = (strm: ZStream, flush: typeof Z_SYNC_FLUSH) => number;

function run(strm: ZStream, fn: ZFn, input: Uint8Array, limit: number): { out: Uint8Array | null; ended: boolean } {
  const buf = scratch ??= new Uint8Array(SCRATCH_SIZE);
  strm.input = input;
  strm.next_in = 0;
  strm.avail_in = input.length;
  let first: Uint8Array | null = null;
  let rest: Uint8Array[] | null = null;
  let total = 0;
  let ended = false;
  try {
    for (;;) {
      strm.output = buf as Uint8Array<ArrayBuffer>;
      strm.next_out = 0;
      strm.avail_out = SCRATCH_SIZE;
      const rc = fn(strm, Z_SYNC_FLUSH);
      if (rc !== Z_OK && rc !== Z_BUF_ERROR && rc !== Z_STREAM_END) {
        throw new ProtocolError(`Invalid compressed data: ${strm.msg || `zlib error ${rc}`}`, 1007, 'WS_ERR_INVALID_COMPRESSED_DATA');
      }
      const n = SCRATCH_SIZE - strm.avail_out;
      total += n;
      if (limit > 0 && total > limit) return { out: null, ended: false };
      if (n > 0) {
        const copy = buf.slice(0, n);
        if (first === null) first = copy;
        else (rest ??= []).push(copy);
      }
      if (rc === Z_STREAM_END) { ended = true; break; }
      if (strm.avail_out !== 0) break; // room left: this flush is complete
    }
  } finally {
    // Never keep the caller's bytes or the scratch buffer reachable from the stream.
    strm.input = EMPTY;
    strm.output = EMPTY as Uint8Array<ArrayBuffer>;
  }
  return { out: collect(first, rest, total), ended };
}

const EMPTY = new Uint8Array(0);
