// Frames too large for the cork buffer (wire.ts CORK_CHUNK_MAX) are copied
// into buffers used again once their write is done, instead of a fresh
// allocation per frame. A fresh 1 MiB buffer costs an mmap and a page fault
// per 4 KiB on first touch: at echo 1 MiB that allocation was 12% of the App's
// samples and the copy into the new pages another 26% (bench/profile.mjs
// echo-1m app, Node 24). The copy stays: send() copies, as uWS.js does, so
// the application may change its bytes once send() returns. No Node imports.
import { ownedBytes } from './lend.js';

// Idle buffers kept, at most: the echo 1 MiB bench has 4 connections × 2 in flight,
// each frame in a 2 MiB class, so a few cover it; past this they go to the GC.
const POOL_IDLE_MAX = 8 * 1024 * 1024;
// Frames past this are made fresh each time (the bench's largest is 1 MiB).
const POOLED_MAX = 16 * 1024 * 1024;

/** Free buffers by size class (log2 of the capacity). */
const free: Uint8Array[][] = [];
let idleBytes = 0;
/** Pooled buffers taken and not given back. Weak: a frame dropped on a path that never releases is only garbage. */
const out = new WeakSet<object>();
let outCount = 0;

/** @internal Counts for tests: frames taken, and how many of those reused a buffer. */
export const framePoolStats = { taken: 0, reused: 0 };

/** `n` bytes (a view from offset 0) for a frame the carrier lets go of through release(). */
export function takeFrame(n: number): Uint8Array {
  if (n > POOLED_MAX) return ownedBytes(n);
  const cls = 32 - Math.clz32(n - 1);
  const list = free[cls];
  let buf = list !== undefined ? list.pop() : undefined;
  framePoolStats.taken++;
  if (buf !== undefined) { idleBytes -= buf.byteLength; framePoolStats.reused++; }
  else buf = ownedBytes(2 ** cls);
  out.add(buf.buffer);
  outCount++;
  return buf.subarray(0, n);
}

/** The carrier is done with `chunks` (written, or dropped): pooled frames among them go back. */
export function release(chunks: readonly (Uint8Array | string)[]): void {
  if (outCount === 0) return;
  for (const c of chunks) {
    if (typeof c === 'string' || !out.delete(c.buffer)) continue;
    outCount--;
    const whole = new Uint8Array(c.buffer), cls = 31 - Math.clz32(whole.byteLength);
    // The sizes sent lately win: idle buffers of other classes make room (largest first).
    for (let k = free.length - 1; k >= 0 && idleBytes + whole.byteLength > POOL_IDLE_MAX; k--) {
      const list = free[k];
      while (k !== cls && list !== undefined && list.length > 0 && idleBytes + whole.byteLength > POOL_IDLE_MAX) idleBytes -= list.pop()!.byteLength;
    }
    if (idleBytes + whole.byteLength > POOL_IDLE_MAX) continue;
    idleBytes += whole.byteLength;
    (free[cls] ??= []).push(whole);
  }
}
