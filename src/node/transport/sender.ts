// The send side of one connection: frames small messages into one buffer per
// tick (many sends, one socket.write), writes large payloads without copying
// (header + payload under cork: one writev), and masks for a client. Frames
// framed elsewhere (broadcast) go by reference while nothing else is pending.
// Buffer and process come from their modules, not the globals: Node 20 defines
// those globals as getters, so each read on a hot path is a getter call
// (LoadGlobalIC in the 1 KiB echo's profile). Every file of src/node and
// src/redis does the same (test/module-globals.test.ts); echo 1 KiB +3.5%,
// 4 alternated runs of `node bench/run.mjs --impl ours --only echo-1k`.
import { Buffer } from 'node:buffer';
import process from 'node:process';
import type { Duplex } from 'node:stream';
import { Socket } from 'node:net';
import { writeHeader, headerLength } from '../../codec/encoder.js';
import { maskBytes, randomMaskKey } from '../../codec/mask.js';

export type WriteCallback = (err?: Error | null) => void;

// Payloads from 16 KiB up skip the batch copy and go by reference (header +
// payload under cork: one writev). Measured on this kind of machine: cork + two
// writes cost 0.6-0.8 µs, while copying into a batch costs the memcpy (16 KiB
// ≈ 0.6 µs at 27 GB/s) plus first-touching fresh batch memory (allocating and
// filling a new 64 KiB buffer: ~9 µs against 1.4 µs for a warm one). Small
// payloads still batch: many sends, one write.
const COPY_MAX = 16 * 1024;
// First batch buffer: 4000 bytes comes from Node's 8 KiB Buffer pool (pooled
// below 4 KiB), so a tick with one small message allocates nothing new.
const BATCH_FIRST = 4000;
// A batch is written once it would pass 64 KiB: one socket read's worth.
const BATCH_MAX = 64 * 1024;

// Batch buffers the kernel took whole (a TCP write that completed before
// write() returned leaves no reference behind), reused by the next batch of any
// sender: a 1 KiB echo allocated a fresh 4-16 KiB batch per connection per tick,
// and GC was 27% of its profile. At most 8 are kept (512 KiB).
const spare: Buffer[] = [];
const SPARE_MAX = 8;

function newBatch(size: number): Buffer {
  const b = spare.pop();
  if (b !== undefined && b.length >= size) return b;
  return Buffer.allocUnsafe(size);
}

// Every sender with bytes pending this tick, flushed by one nextTick: a
// broadcast to 256 sockets queued 256 ticks before (1.4% of its profile).
const due: Sender[] = [];
let tickScheduled = false;
// While a socket read is being dispatched, what its message handlers send waits
// for the end of that read instead of a nextTick: the same one write per
// connection per read, without a tick-queue turn per read.
let reading = 0;

/** A read's messages are about to be dispatched (pairs with readEnded, in a finally). */
export function readStarted(): void { reading++; }

/** The read is dispatched: its senders flush now, but for those with deferred work (compression), which keep the tick. */
export function readEnded(): void {
  if (--reading !== 0 || due.length === 0 || tickScheduled) return;
  for (let i = 0; i < due.length; i++) {
    if (due[i].hasDeferred()) { tickScheduled = true; process.nextTick(flushDue); return; }
  }
  flushDue();
}

function flushDue(): void {
  tickScheduled = false;
  let i = 0;
  try {
    for (; i < due.length; i++) due[i].flushTick();
    due.length = 0;
  } catch (err) {
    // A write callback that throws (a user's) must not leave `due` non-empty:
    // no sender would ever schedule a flush again. The rest flush next tick.
    due.splice(0, i + 1);
    if (due.length > 0) { tickScheduled = true; process.nextTick(flushDue); }
    throw err;
  }
}

export class Sender {
  private readonly socket: Duplex;
  private readonly masked: boolean;
  private batch: Buffer | null = null;
  private batchLen = 0;
  private batchCbs: WriteCallback[] | null = null;
  private scheduled = false;
  private readonly generateMask: ((mask: Buffer) => void) | undefined;
  private maskBuf: Buffer | null = null;
  /** The last batch's size: the next one starts that big, so a busy tick does not regrow (copy) it. */
  private hint = 0;
  // Bytes framed elsewhere and shared with other senders (a broadcast frame), held
  // by reference instead of copied while nothing else is pending this tick.
  // Consecutive frames of the same buffer (broadcast.ts writes one tick's frames
  // back to back) extend the range, so a burst of broadcasts is one write.
  private shared: ArrayBufferLike | null = null;
  private sharedOff = 0;
  private sharedLen = 0;
  /** The owner's work deferred to this tick's flush (messages to compress), run before the batch is written. */
  private deferred: (() => void) | null = null;
  /** A plain TCP socket: write() completes synchronously or keeps the buffer in writableLength. */
  private readonly recycle: boolean;
  /** The transport's write past the stream machinery (transport.ts writeDirect), if it has one. */
  private readonly direct: ((stream: Duplex, bytes: Uint8Array, owner: Sender) => number) | undefined;
  /** Bytes of a direct write the kernel has not taken yet (queued below the stream, in libuv; the transport zeroes it when written). */
  directQueued = 0;

  constructor(socket: Duplex, masked: boolean, generateMask?: (mask: Buffer) => void,
    direct?: (stream: Duplex, bytes: Uint8Array, owner: Sender) => number) {
    this.socket = socket;
    this.recycle = socket instanceof Socket && !(socket as Socket & { encrypted?: boolean }).encrypted;
    this.masked = masked;
    this.generateMask = generateMask;
    this.direct = direct;
  }

  /** Bytes handed to the socket and not yet to the kernel: the stream's queue and a direct write's rest. */
  get queuedBytes(): number { return this.socket.writableLength + this.directQueued; }

  // Hands a buffer to the kernel: directly when the transport can, else through
  // the stream. True when the buffer is free again (the kernel took it all).
  private put(bytes: Uint8Array, viaStream: boolean): boolean {
    if (this.direct !== undefined && !viaStream) {
      const left = this.direct(this.socket, bytes, this);
      if (left === 0) return true;
      if (left > 0) { this.directQueued = left; return false; }
    }
    this.socket.write(bytes);
    return this.socket.writableLength === 0;
  }

  // A masking key: the caller's generateMask fills 4 bytes (ws's option), else random.
  private maskKey(): number {
    if (this.generateMask === undefined) return randomMaskKey();
    const buf = (this.maskBuf ??= Buffer.alloc(4));
    this.generateMask(buf);
    return buf.readUInt32LE(0);
  }

  /** Bytes framed but not yet handed to the socket. */
  get pendingBytes(): number { return this.batchLen + this.sharedLen; }

  /**
   * Frames one payload (a string is written as UTF-8 without an intermediate Buffer).
   * `mask` overrides the side's default, as ws's `send(data, { mask })` does.
   */
  frame(opcode: number, payload: Uint8Array | string, fin: boolean, rsv1: boolean, cb?: WriteCallback, mask?: boolean): void {
    const len = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
    const masked = mask ?? this.masked;
    const key = masked ? this.maskKey() : -1;
    const hl = headerLength(len, masked);
    if (len >= COPY_MAX && typeof payload !== 'string' && !masked) {
      this.flush();
      const header = Buffer.allocUnsafe(hl);
      writeHeader(header, 0, opcode, len, fin, rsv1, -1);
      const s = this.socket;
      s.cork();
      s.write(header);
      if (cb) s.write(payload, cb); else s.write(payload);
      s.uncork();
      return;
    }
    const batch = this.reserve(hl + len);
    let o = writeHeader(batch, this.batchLen, opcode, len, fin, rsv1, key);
    if (typeof payload === 'string') o += batch.write(payload, o);
    // set(), not Buffer#copy: copy() validates its arguments in JS and builds a
    // view per call (4% of a 1 KiB echo's profile).
    else { batch.set(payload, o); o += len; }
    if (key >= 0) maskBytes(batch.subarray(o - len, o), key);
    this.commit(o, cb);
  }

  /**
   * Writes bytes already framed elsewhere (a broadcast frame shared by many
   * sockets; the caller never changes them). Held by reference, not copied, when
   * nothing else is pending and the socket keeps up: a socket with writes queued
   * gets a copy, so a slow reader never pins the sharer's buffer.
   */
  raw(bytes: Buffer, cb?: WriteCallback): void {
    if (bytes.length >= COPY_MAX) {
      this.flush();
      if (cb) this.socket.write(bytes, cb); else this.socket.write(bytes);
      return;
    }
    if (cb === undefined && this.batchLen === 0) {
      if (this.shared === null) {
        if (this.queuedBytes === 0) {
          this.shared = bytes.buffer;
          this.sharedOff = bytes.byteOffset;
          this.sharedLen = bytes.length;
          this.schedule();
          return;
        }
      } else if (bytes.buffer === this.shared && bytes.byteOffset === this.sharedOff + this.sharedLen &&
        this.sharedLen + bytes.length <= BATCH_MAX) {
        this.sharedLen += bytes.length;
        return;
      }
    }
    const batch = this.reserve(bytes.length);
    batch.set(bytes, this.batchLen);
    this.commit(this.batchLen + bytes.length, cb);
  }

  // The batch buffer with room for `need` more bytes.
  private reserve(need: number): Buffer {
    if (this.shared !== null) this.unshare();
    if (this.batchLen + need > BATCH_MAX && this.batchLen > 0) this.flush();
    const total = this.batchLen + need;
    let batch = this.batch;
    if (batch === null) {
      batch = this.batch = newBatch(Math.max(total, this.hint, BATCH_FIRST));
    } else if (total > batch.length) {
      const grown = Buffer.allocUnsafe(Math.max(total, Math.min(batch.length * 2, BATCH_MAX)));
      batch.copy(grown, 0, 0, this.batchLen);
      batch = this.batch = grown;
    }
    return batch;
  }

  // The shared range becomes the start of an owned batch (something else is
  // being added to this tick's bytes).
  private unshare(): void {
    const src = new Uint8Array(this.shared!, this.sharedOff, this.sharedLen);
    const len = this.sharedLen;
    this.shared = null;
    this.sharedLen = 0;
    const batch = this.batch ??= newBatch(Math.max(len, this.hint, BATCH_FIRST));
    batch.set(src, 0);
    this.batchLen = len;
  }

  private commit(end: number, cb: WriteCallback | undefined): void {
    this.batchLen = end;
    if (cb) (this.batchCbs ??= []).push(cb);
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    if (due.push(this) === 1 && reading === 0) { tickScheduled = true; process.nextTick(flushDue); }
  }

  /** @internal Work is deferred to the tick's flush (readEnded leaves this sender to the tick). */
  hasDeferred(): boolean { return this.deferred !== null; }

  /**
   * Runs `fn` at this tick's flush, before the batch goes out (the frames it
   * adds join the same write). The connection defers compression here: ws
   * compresses off the send() call, so a close()/terminate() in the same tick
   * still finds those messages queued.
   */
  defer(fn: () => void): void {
    this.deferred = fn;
    this.schedule();
  }

  /** @internal The per-tick flush (flushDue): deferred work first, then the batch. */
  flushTick(): void {
    const fn = this.deferred;
    if (fn !== null) { this.deferred = null; fn(); }
    this.flush();
  }

  /**
   * Hands the batch to the socket now (deferred work stays for the tick's flush).
   * `viaStream`: through socket.write even where a direct write could go, so the
   * socket's own queue shows what the kernel did not take (bufferedAmount's
   * flush: ws reads it off the socket).
   */
  flush(viaStream = false): void {
    this.scheduled = false;
    if (this.shared !== null) {
      const bytes = new Uint8Array(this.shared, this.sharedOff, this.sharedLen);
      this.shared = null;
      this.sharedLen = 0;
      if (!this.socket.destroyed) this.put(bytes, viaStream);
      return;
    }
    const batch = this.batch;
    if (batch === null || this.batchLen === 0) return;
    const bytes = batch.subarray(0, this.batchLen);
    const cbs = this.batchCbs;
    this.hint = Math.min(this.batchLen, BATCH_MAX);
    this.batch = null;
    this.batchLen = 0;
    this.batchCbs = null;
    if (this.socket.destroyed) {
      if (cbs) for (const cb of cbs) cb(new Error('The socket was closed before the data was written'));
      return;
    }
    let free: boolean;
    if (cbs === null) free = this.put(bytes, viaStream);
    else {
      this.socket.write(bytes, (err) => { for (const cb of cbs) cb(err); });
      free = this.socket.writableLength === 0;
    }
    // Nothing left queued: the kernel has the bytes and the buffer is free again.
    if (free && this.recycle && spare.length < SPARE_MAX && batch.length <= BATCH_MAX) spare.push(batch);
  }

  /** Drops what was not written (the connection is gone); callbacks get an error. */
  discard(): void {
    const cbs = this.batchCbs;
    this.deferred = null;
    this.shared = null;
    this.sharedLen = 0;
    this.batch = null;
    this.batchLen = 0;
    this.batchCbs = null;
    if (cbs) {
      const err = new Error('WebSocket is not open: readyState 3 (CLOSED)');
      for (const cb of cbs) cb(err);
    }
  }
}

