// Node's native zlib, called synchronously on a persistent stream: one
// raw-deflate stream per direction, Z_SYNC_FLUSH per message, in this thread.
//
// Why. An async zlib job per message (write + flush callback) costs a trip to
// the thread pool and back each way; for chat-sized messages that trip is
// nearly all of the time. `node bench/deflate-engines.mjs` (windowBits 15,
// level 6, context takeover, one thread, messages/s; machine shared):
//              compress async / sync / pako     inflate async / sync / pako
//      64 B     7,331 / 975,566 / 215,066      10,105 / 2,704,648 / 583,831
//     1 KiB    18,430 / 302,931 /  57,540      40,239 / 1,249,730 / 253,696
//    16 KiB     2,192 /   2,674 /   1,449      20,252 /    31,296 /  12,877
//    64 KiB       422 /     621 /     190       4,175 /     6,175 /   2,076
//     1 MiB        23 /      35 /      17         233 /       457 /     166
// Sync native zlib wins at every size, by 40x-130x below 1 KiB; pako (the
// portable engine, src/codec/deflate.ts) is 2-5x slower than native.
//
// How. zlib.*Sync() run `processChunkSync`, which closes the stream at the end,
// so they cannot keep a context. Underneath, the stream's handle has
// `writeSync(flush, in, inOff, inLen, out, outOff, outLen)`, which runs zlib
// once and leaves avail_out / avail_in in the stream's `_writeState`: that is
// zlib's own deflate()/inflate() loop, on the stream's state. These are
// internals (stable since Node 10, used by Node's own sync functions): they
// are feature-detected (syncCapable) and the async path is used without them
// (Bun's and Deno's node:zlib, say).
import { Buffer } from 'node:buffer';
import type zlib from 'node:zlib';

const Z_SYNC_FLUSH = 2;
/** zlib's output goes here first, then is copied out: one buffer for the process (this thread). */
const SCRATCH_SIZE = 64 * 1024;
let scratch: Buffer | null = null;

interface ZlibHandle {
  writeSync(flush: number, input: Uint8Array, inOff: number, inLen: number, out: Uint8Array, outOff: number, outLen: number): void;
  onerror: ((message: string, errno: number, code: string) => void) | undefined;
}
interface ZlibInternals { _handle?: ZlibHandle | null; _writeState?: Uint32Array }

/** A zlib failure reported by the handle (its message and Z_* code). */
export class ZlibSyncError extends Error {
  constructor(message: string, readonly errno: number, readonly code: string) { super(message); }
}

/** @internal Calls of runSync(), compress and inflate (tests check the in-thread path is used). */
export const syncZlibStats = { runs: 0 };

/** True if `stream` can be driven synchronously (Node's own zlib, not closed). */
export function syncCapable(stream: zlib.DeflateRaw | zlib.InflateRaw): boolean {
  const s = stream as unknown as ZlibInternals;
  return typeof s._handle?.writeSync === 'function' && s._writeState instanceof Uint32Array && !stream.destroyed;
}

/** What runSync() produced. */
export interface SyncResult {
  /** The output (a fresh Buffer the caller owns); null when `limit` was passed. */
  out: Buffer | null;
  /** Bytes produced (counted up to the point `limit` was passed). */
  produced: number;
  /** Input zlib did not take: an inflater that reached the end of the stream (BFINAL) leaves the rest. */
  leftover: number;
}

/**
 * Feeds `input` (then `tail`, if given) to the stream with Z_SYNC_FLUSH and
 * collects everything zlib writes. Stops as soon as more than `limit` bytes
 * came out (limit 0: none), so a decompression bomb costs at most one
 * SCRATCH_SIZE past the limit. Throws ZlibSyncError on corrupt data; the
 * stream is then unusable (destroy it).
 */
export function runSync(stream: zlib.DeflateRaw | zlib.InflateRaw, input: Uint8Array, tail: Uint8Array | null, limit: number): SyncResult {
  syncZlibStats.runs++;
  const s = stream as unknown as ZlibInternals;
  const handle = s._handle as ZlibHandle;
  const state = s._writeState as Uint32Array;
  const out = scratch ??= Buffer.allocUnsafe(SCRATCH_SIZE);
  let failure: ZlibSyncError | null = null;
  const saved = handle.onerror;
  // Node's handler would destroy the stream and emit 'error' later; here the
  // caller gets the error now, as a throw.
  handle.onerror = (message, errno, code) => { failure = new ZlibSyncError(message, errno, code); };
  let first: Buffer | null = null;
  let rest: Buffer[] | null = null;
  let produced = 0;
  let leftover = 0;
  try {
    for (let part = tail === null ? 1 : 0; part < 2; part++) {
      const src = part === 0 ? input : (tail ?? input);
      let inOff = 0;
      let inLen = src.length;
      for (;;) {
        handle.writeSync(Z_SYNC_FLUSH, src, inOff, inLen, out, 0, SCRATCH_SIZE);
        if (failure !== null) throw failure;
        const n = SCRATCH_SIZE - (state[0] as number);
        inOff += inLen - (state[1] as number);
        inLen = state[1] as number;
        produced += n;
        if (limit > 0 && produced > limit) return { out: null, produced, leftover: 0 };
        if (n > 0) {
          const copy = Buffer.allocUnsafe(n);
          out.copy(copy, 0, 0, n);
          if (first === null) first = copy;
          else (rest ??= []).push(copy);
        }
        if (state[0] !== 0) break; // room left in the output: this flush is complete
      }
      // With output room left and input untaken, zlib is past the end of the stream.
      leftover += inLen;
      if (inLen > 0 && part === 0 && tail !== null) { leftover += tail.length; break; }
    }
  } finally {
    handle.onerror = saved;
  }
  let result: Buffer;
  if (first === null) result = Buffer.alloc(0);
  else if (rest === null) result = first;
  else result = Buffer.concat([first, ...rest], produced);
  return { out: result, produced, leftover };
}
