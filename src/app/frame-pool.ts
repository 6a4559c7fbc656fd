// Frames too large for the cork buffer (wire.ts CORK_CHUNK_MAX) are copied
// into buffers used again once their write is done, instead of a fresh
// allocation per frame. A fresh 1 MiB buffer costs an mmap and a page fault
// per 4 KiB on first touch: at echo 1 MiB that allocation was 12% of the App's
// samples and the copy into the new pages another 26% (bench/profile.mjs
// echo-1m app, Node 24). The copy stays: send() copies, as uWS.js does, so
// the application may change its bytes once send() returns. No Node imports.
import { ownedBytes } from './lend.js';
import { IdlePool } from './idle-pool.js';

// Idle buffers kept, at most (past this they go to the GC): the echo 1 MiB bench
// has 4 connections x 2 messages in flight, eight 1.06 MiB buffers.
const POOL_IDLE_MAX = 12 * 1024 * 1024;
// Frames past this are made fresh each time (the bench's largest is 1 MiB).
const POOLED_MAX = 16 * 1024 * 1024;

/** Free buffers by capacity (a multiple of GRAIN). */
const free = new IdlePool<Uint8Array>(POOL_IDLE_MAX);
// Capacities are rounded up to 64 KiB: a frame of a size sent before finds its buffer (powers
// of two made a 1 MiB message's frame a 2 MiB buffer, four of which filled the idle limit
// while the echo 1 MiB bench keeps eight in flight).
const GRAIN = 64 * 1024;
/** Pooled buffers taken and not given back. Weak: a frame dropped on a path that never releases is only garbage. */
const out = new WeakSet<object>();
let outCount = 0;

/** @internal Counts for tests: frames taken, and how many of those reused a buffer. */
export const framePoolStats = { taken: 0, reused: 0 };

/** `n` bytes (a view from offset 0) for a frame the carrier lets go of through release(). */
export function takeFrame(n: number): Uint8Array {
  if (n > POOLED_MAX) return ownedBytes(n);
  const cap = Math.ceil(n / GRAIN) * GRAIN;
  let buf = free.take(cap);
  framePoolStats.taken++;
  if (buf !== undefined) framePoolStats.reused++;
  else buf = ownedBytes(cap);
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
    const cap = c.buffer.byteLength;
    if (free.room(cap)) free.add(cap, new Uint8Array(c.buffer));
  }
}
