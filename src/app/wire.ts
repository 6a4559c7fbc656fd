// One accepted TCP connection as the App sees it, whatever carries it (Node's
// TCP handle, net.Socket, later Deno.listen / Bun.listen): bytes in through
// its owner, writes corked per event-loop turn, end and close. No Node imports.
import { release } from './frame-pool.js';

/** What a connection's owner (the HTTP connection, later the WebSocket) hears. */
export interface WireOwner {
  /** Bytes read: b[start, end), valid only during the call (the read buffer is shared). */
  onData(b: Uint8Array, start: number, end: number): void;
  /** The peer sent FIN (nothing more will be read). */
  onEnd(): void;
  /** The connection is closed (by either side); called once. */
  onClose(): void;
  /** Writes that had to wait for the kernel are all written (after backpressure() was non-zero). */
  onDrain?(): void;
  /** A flush went out whole at once: nothing waits for the kernel. */
  onFlushed?(): void;
  /** `n` bytes were read straight into the target given to readInto() (instead of onData). */
  onReadInto?(n: number): void;
}

export type Chunk = Uint8Array | string;

/**
 * After our FIN (end()), how long a carrier keeps reading and dropping what the
 * peer still sends before closing: closing with unread bytes sends a reset, and
 * a peer that is still writing (a message past maxPayloadLength, a request body
 * we refused) then loses the close frame or response queued ahead of it (RFC
 * 6455 §7.1.1; RFC 9112 §9.6 "lingering close"). The peer's own FIN ends the wait.
 * 200 peers streaming past maxPayloadLength from one busy process (test/budget.test.ts's
 * App rows) saw their 1009 in 34-188 cases of 200 with no lingering, 180 with 2 s,
 * all with 10 s. Then the reset: a peer that neither reads nor stops gets no longer
 * (ws's closeTimeout is 30 s).
 */
export const LINGER_MS = 10_000;

/**
 * Writes are corked: they queue on the wire and go out together, in one
 * syscall, when cork()'s callback returns, or at the end of the event-loop
 * turn (reads' writes too on Node: flushReadsAtTurnEnd; elsewhere when the read
 * that caused them has been handled).
 */
export abstract class Wire {
  owner: WireOwner | null = null;
  /** Queued writes (strings are UTF-8), or null: most connections have none, most of the time. */
  protected queued: Chunk[] | null = null;
  /** Bytes in `queued` (strings counted by their length): kept, not summed, since every send asks. */
  protected queuedSize = 0;
  protected closed = false;
  private dirty = false;
  /** end() was asked: FIN once the queue is out. */
  protected ending = false;

  /**
   * The carrier's writes are done with the chunks when writeOut() returns
   * unless it sets writeHeld: it may then be given slices of the shared cork
   * buffer (reserve()). Carriers that keep chunks (streams) leave it off.
   */
  protected corksInPlace = false;
  /** Set by writeOut(): the carrier still holds the chunks it was given (an async write). */
  protected writeHeld = false;

  /** Queues bytes (or a UTF-8 string) for this turn's write. */
  write(chunk: Chunk): void {
    if (this.closed || this.ending) return;
    if (corkOwner === this) sealCork();
    if (this.queued === null) this.queued = [chunk];
    else this.queued.push(chunk);
    this.queuedSize += typeof chunk === 'string' ? chunk.length : chunk.byteLength;
    this.markDirty();
  }

  /**
   * Room for `n` bytes (at most CORK_CHUNK_MAX) at the end of this turn's
   * write, in the shared cork buffer: the caller writes them at
   * corkBuffer()[offset, offset + n) before anything else is written.
   * Returns the offset, or -1 where the carrier takes chunks only (write() then).
   */
  reserve(n: number): number {
    if (!this.corksInPlace || this.closed || this.ending || n > CORK_CHUNK_MAX) return -1;
    if (corkOwner !== this || cork === null || corkEnd + n > cork.length) {
      sealCork();
      if (cork === null || corkEnd + n > cork.length) { cork = new Uint8Array(CORK_BUFFER_SIZE); corkEnd = 0; }
      corkOwner = this;
      corkStart = corkEnd;
      this.markDirty();
    }
    const offset = corkEnd;
    corkEnd += n;
    return offset;
  }

  private markDirty(): void {
    if (!this.dirty) {
      this.dirty = true;
      dirtyWires.push(this);
      if (readDepth === 0 && !flushScheduled) scheduleFlush();
    }
  }

  /** Sends what is queued now (the end of a cork). */
  flush(): void {
    if (corkOwner === this) sealCork();
    if (this.queued === null) return;
    let chunks = this.queued;
    this.queued = null;
    this.queuedSize = 0;
    if (this.closed) { release(chunks); return; }
    // Several small chunks (published frames, shared by every subscriber) are copied into one.
    if (chunks.length > 1 && this.corksInPlace) chunks = coalesce(chunks);
    // Behind a write in flight this one waits too, holding what it is given: its own copy, not
    // the shared cork buffer, so a stalled peer pins at most one cork buffer (its first held write).
    if (this.corksInPlace && this.backpressure() > 0) chunks = chunks.map(ownCopy);
    this.writeHeld = false;
    this.writeOut(chunks);
    if (!this.writeHeld) release(chunks); // else the carrier releases them when its write is done
    // The kernel has not taken it all: the cork buffer's bytes stay with the carrier; a new one next turn.
    if (this.writeHeld && this.corksInPlace && chunks.some(inCork)) corkHeld = true;
    if (!this.closed && this.backpressure() === 0) this.owner?.onFlushed?.();
  }

  /**
   * Whether large frames may come from the frame pool (frame-pool.ts): the
   * carrier is done with what writeOut() got when it returns, unless it set
   * writeHeld, and then releases the chunks itself when the write is done.
   */
  get reusesFrames(): boolean { return false; }

  /** Sends what is queued, then ends the connection (FIN) and closes it. */
  end(): void {
    if (this.closed || this.ending) return;
    this.flush();
    this.ending = true;
    this.shutdown();
  }

  /** Closes now; queued writes are dropped. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (corkOwner === this) corkOwner = null;
    if (this.queued !== null) release(this.queued);
    this.queued = null;
    this.queuedSize = 0;
    this.destroy();
  }

  /** Runs `fn` with writes corked and sends them when it returns. */
  cork(fn: () => void): void {
    readDepth++;
    try { fn(); } finally {
      if (--readDepth === 0) flushDirty();
      else this.flush();
    }
  }

  /** Where reads land when readInto() took a target (the codec's input area), else null. */
  readTarget: Uint8Array | null = null;

  /**
   * Reads from now on land in `target` (the owner hears onReadInto(n)), where
   * the carrier can read into memory it is given (Node's TCP handles); false
   * where it cannot, and reads keep coming through onData.
   */
  readInto(_target: Uint8Array): boolean { return false; }

  /** Bytes written but not yet taken by the kernel, plus this turn's queue. */
  abstract bufferedAmount(): number;
  /** Bytes handed to the transport that the kernel has not taken yet (this turn's queue not counted). */
  backpressure(): number { return this.bufferedAmount() - this.queuedBytes(); }

  /** Bytes of this turn's queue (strings counted by their length). */
  protected queuedBytes(): number {
    return this.queuedSize + (corkOwner === this ? corkEnd - corkStart : 0);
  }
  /** The peer's address as text ("127.0.0.1", "::1"). */
  abstract remoteAddress(): string;
  /** Stops / restarts reading (a peer sending faster than we answer). */
  abstract pause(): void;
  abstract resume(): void;
  protected abstract writeOut(chunks: Chunk[]): void;
  protected abstract shutdown(): void;
  protected abstract destroy(): void;

  /** @internal Called by the carrier around the owner's onData: writes made meanwhile go out after it (or at the turn's end: readDone()). */
  static read(wire: Wire, b: Uint8Array, start: number, end: number): void {
    readDepth++;
    try { wire.owner?.onData(b, start, end); } finally { if (--readDepth === 0) readDone(); }
  }

  /** @internal As read(), for `n` bytes read into readTarget. */
  static readInto(wire: Wire, n: number): void {
    readDepth++;
    try { wire.owner?.onReadInto?.(n); } finally { if (--readDepth === 0) readDone(); }
  }
}

/**
 * The cork buffer, as uWebSockets' per-loop one: small frames are written
 * straight into it (reserve()) and each wire's run of them leaves as one
 * chunk, so a read that answers 16 messages makes one writeBuffer of one
 * slice instead of a writev of 16 fresh arrays (profile of a 32 B echo: the
 * per-frame arrays and writev were 34% of the App's time). Reused from the
 * start after every turn whose writes the kernel took whole; a write left
 * in flight keeps its buffer and the next turn takes a new one.
 * Frames up to 64 KiB (and their header) go in too: a lent message cannot go
 * out by reference (it is detached before the write), and a fresh zero-filled
 * array per 64 KiB frame cost more than the copy (echo 64 KiB: 17.9 -> 12.4 µs
 * of user CPU per message, bench/run.mjs). 256 KiB holds a read's answers (libuv reads 64 KiB).
 */
const CORK_BUFFER_SIZE = 256 * 1024;
export const CORK_CHUNK_MAX = 64 * 1024 + 16;
let cork: Uint8Array | null = null;
/** Where the next reserve() goes, and where the owner's run of it began. */
let corkEnd = 0, corkStart = 0;
/** The wire whose run of bytes ends at corkEnd (not yet in its queue). */
let corkOwner: Wire | null = null;
/** Part of the cork buffer is in a write the kernel has not finished: do not reuse it. */
let corkHeld = false;

/** The shared cork buffer reserve()'s offsets point into. */
export function corkBuffer(): Uint8Array { return cork!; }

// The owner's run of the cork buffer joins its queue as one chunk.
function sealCork(): void {
  const w = corkOwner;
  if (w === null) return;
  corkOwner = null;
  if (corkEnd === corkStart) return;
  const run = cork!.subarray(corkStart, corkEnd);
  const q = (w as unknown as { queued: Chunk[] | null; queuedSize: number });
  if (q.queued === null) q.queued = [run];
  else q.queued.push(run);
  q.queuedSize += run.byteLength;
}

/**
 * `chunks` with each run of small byte chunks copied into one slice of the
 * cork buffer: one chunk instead of many for writev, whose per-chunk cost was
 * 61% of the App's broadcast profile (64 B published to 256 subscribers, each
 * getting every message of the turn as its own chunk). Strings and chunks
 * past CORK_CHUNK_MAX stay as they are.
 */
function coalesce(chunks: Chunk[]): Chunk[] {
  // The same frames as the last wire's (a turn's publishes reach every subscriber alike): the same copy serves.
  if (lastIn !== null && lastIn.length === chunks.length && sameChunks(lastIn, chunks)) return lastOut!;
  sealCork(); // the cork buffer may be replaced below: the owner's run must be in its queue first
  const out: Chunk[] = [];
  let runStart = -1, runCount = 0, first: Chunk | null = null;
  const close = (): void => {
    if (runCount === 1) out.push(first!);
    else if (runCount > 1) out.push(cork!.subarray(runStart, corkEnd));
    runStart = -1; runCount = 0; first = null;
  };
  for (const c of chunks) {
    if (typeof c === 'string' || c.byteLength > CORK_CHUNK_MAX) { close(); out.push(c); continue; }
    if (cork === null || corkEnd + c.byteLength > cork.length) {
      close();
      cork = new Uint8Array(CORK_BUFFER_SIZE);
      corkEnd = 0;
    }
    if (runCount === 0) { runStart = corkEnd; first = c; }
    cork.set(c, corkEnd);
    corkEnd += c.byteLength;
    runCount++;
  }
  close();
  lastIn = chunks;
  lastOut = out;
  return out;
}

const inCork = (c: Chunk): boolean => typeof c !== 'string' && cork !== null && c.buffer === cork.buffer;

function ownCopy(c: Chunk): Chunk {
  return inCork(c) ? (c as Uint8Array).slice() : c;
}

// The last coalesce()'s input and output, until the cork buffer starts over.
let lastIn: Chunk[] | null = null, lastOut: Chunk[] | null = null;

function sameChunks(a: Chunk[], b: Chunk[]): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

// Wires written to since their last flush, flushed together.
let dirtyWires: Wire[] = [];
// Reads (and corks) under way: writes wait for the outermost to finish.
let readDepth = 0;
let flushScheduled = false;

// Where the event loop hands every ready read to its callback before it runs
// setImmediate (libuv's poll, then check phase: Node), the writes of a turn's
// reads wait for the turn's end, as uWebSockets' loop drains its cork and topic
// buffers once per iteration: a subscriber that several publishers reached in
// one turn gets one write, not one per read (broadcast 64 B to 256: 256 writes
// per read before). Elsewhere each read's writes go out when it is handled.
let flushAtTurnEnd = false;

/** @internal The platform's loop runs setImmediate after all of a turn's reads (Node's libuv). */
export function flushReadsAtTurnEnd(on: boolean): void { flushAtTurnEnd = on; }

// A read whose answers filled this much of the cork buffer sends at once: large
// frames gain nothing from waiting, and a turn's worth of them overflowed the
// 256 KiB buffer into fresh ones (echo 64 KiB: 37.8k -> 14.6k msgs/s with
// every read waiting, bench/profile.mjs echo-64k app on Node 24).
const TURN_END_CORK_MAX = 32 * 1024;

function readDone(): void {
  if (!flushAtTurnEnd || corkEnd >= TURN_END_CORK_MAX) flushDirty();
  else if (dirtyWires.length > 0 && !flushScheduled) scheduleFlush();
}

function flushDirty(): void {
  while (dirtyWires.length > 0) {
    const wires = dirtyWires;
    dirtyWires = [];
    for (const w of wires) {
      (w as unknown as { dirty: boolean }).dirty = false;
      w.flush();
    }
  }
  // Everything queued is out: the cork buffer starts over (or a new one, if the kernel holds part of it).
  if (corkHeld) { cork = null; corkHeld = false; }
  corkEnd = corkStart = 0;
  lastIn = lastOut = null;
}

// Writes made outside a read (timers, promises) go out at the end of this
// turn: one write per connection however many calls made them. setImmediate
// (Node, Bun, Deno's Node globals) runs after this turn's I/O callbacks and
// microtasks; setTimeout(0) waits a millisecond more where it is missing.
const afterTurn: (fn: () => void) => void = (globalThis as { setImmediate?: (fn: () => void) => void }).setImmediate ??
  ((fn) => { setTimeout(fn, 0); });

function scheduleFlush(): void {
  flushScheduled = true;
  afterTurn(() => {
    flushScheduled = false;
    if (readDepth === 0) flushDirty();
  });
}
