// Lending: a handler gets an ArrayBuffer that is detached when it returns
// (uWS.js neuters its own the same way), so a reference kept past the handler
// reads as empty and a new view of it throws, instead of showing later bytes.
// No Node imports.
import { IdlePool } from './idle-pool.js';

// ArrayBuffer.prototype.transfer (Node >= 21, Deno, Bun) detaches without a
// copy. To length 0 it frees the bytes at once and makes an empty buffer, where
// transfer() hands them to a new ArrayBuffer left for the GC: a 32-byte message
// allocated, copied and detached took 0.26-0.30 µs with transfer(0) and
// 0.42-0.86 µs with transfer() on Node 22-26 (a loop of 2M rounds of
// new ArrayBuffer, set and detach). structuredClone's transfer
// where it is missing costs ~0.9 µs (Node 20).
const transfer = (ArrayBuffer.prototype as { transfer?: (length?: number) => ArrayBuffer }).transfer;

/**
 * Fresh bytes that own their whole ArrayBuffer, for the decoder to copy lent
 * messages into: an ArrayBuffer and a view of it, or the platform's allocator
 * for large ones (useLargeAllocator). On V8 `new Uint8Array(n)` of up to 64
 * bytes lives on the heap and its `.buffer` is made (allocated and copied
 * again) on first access: 19% of the App's samples at echo 32 B on Node 24
 * before (bench/profile.mjs echo-32 app).
 */
export function ownedBytes(n: number): Uint8Array {
  if (n >= REUSE_MIN && idle.idleBytes > 0) {
    const ab = idle.take(n);
    if (ab !== undefined) { reuseStats.reused++; return new Uint8Array(ab); }
  }
  return n >= LARGE_MIN && largeBytes !== null ? largeBytes(n) : new Uint8Array(new ArrayBuffer(n));
}

// Large lent messages are detached by moving their bytes to a new ArrayBuffer
// (transfer() without a length moves, never copies), kept for the next message
// of the same size: the lender's views are detached all the same, and a fresh
// 1 MiB buffer costs an mmap and a page fault per 4 KiB on first touch. Sizes
// repeat in most applications (and in the bench's echoes).
const REUSE_MIN = 64 * 1024;
const idle = new IdlePool<ArrayBuffer>(8 * 1024 * 1024);
/** @internal Counts for tests: large message buffers used again after their lending. */
export const reuseStats = { kept: 0, reused: 0 };

// Moves `ab`'s bytes (REUSE_MIN or more) to a buffer kept for reuse, detaching `ab`; false when it is not kept.
function keep(ab: ArrayBuffer): boolean {
  const n = ab.byteLength;
  if (transfer === undefined || !idle.room(n)) return false;
  idle.add(n, transfer.call(ab));
  reuseStats.kept++;
  return true;
}

// Large messages: the platform may give bytes it does not zero first (Node's
// Buffer.allocUnsafeSlow: its own ArrayBuffer, never a pool's), since the
// decoder writes every byte before lending them: a 64 KiB buffer allocated,
// filled and detached took 1.8 µs against 2.7 µs zeroed (Node 24), 5% of the
// App's CPU per 64 KiB echo. Below 4 KiB the two cost the same (0.3-0.4 µs).
const LARGE_MIN = 4096;
let largeBytes: ((n: number) => Uint8Array) | null = null;

/** @internal The platform's allocator for messages of LARGE_MIN bytes or more: a view of a whole ArrayBuffer of its own (never a pool's). */
export function useLargeAllocator(alloc: (n: number) => Uint8Array): void { largeBytes = alloc; }

/** Detaches `ab` (a no-op if it is detached already). */
export function detach(ab: ArrayBuffer): void {
  if (ab.byteLength >= REUSE_MIN && keep(ab)) return;
  try {
    if (transfer !== undefined) transfer.call(ab, 0);
    else structuredClone(ab, { transfer: [ab] });
  } catch { /* detached already */ }
}

// Batches: messages lent during one read are detached together when the read
// has been dispatched, in one structuredClone on Node 20 (measured 3.0 µs for
// one buffer alone, 0.7-0.9 µs each at 16 per call). A kept view still fails
// loudly once the read is done, and never shows another message's bytes:
// each message has its own ArrayBuffer.
/** At most this many wait for the read's end (a read of 64 KiB can hold thousands of tiny frames). */
const BATCH_MAX = 64;
let readDepth = 0;
let pending: ArrayBuffer[] = [];

/** A read's dispatch starts: lends ended by lendEnded() wait for its end. */
export function batchStart(): void { readDepth++; }

/** The read's dispatch is done: every buffer lent during it is detached. */
export function batchEnd(): void {
  if (--readDepth === 0 && pending.length > 0) detachPending();
}

/** `ab`'s lending is over: detached now, or at the end of the read under way. */
export function lendEnded(ab: ArrayBuffer): void {
  if (readDepth === 0) { detach(ab); return; }
  pending.push(ab);
  if (pending.length >= BATCH_MAX) detachPending();
}

function detachPending(): void {
  const list = pending;
  pending = [];
  if (transfer === undefined) {
    try { structuredClone(list, { transfer: list }); return; } catch { /* one was detached already: one by one */ }
  }
  for (const ab of list) detach(ab);
}
