// A TCP connection as StreamTransport drives it: bytes pushed to one sink as
// they are read, pausable; ordered writes; FIN; abort. Three kinds:
// - any { readable, writable } pair (workerd's connect(), Duplex.toWeb, ...):
//   a reader loop;
// - a Deno.Conn: conn.read() into a small buffer of ours, not conn.readable,
//   whose reads each hold a 64 KiB chunk while waiting (an idle connection
//   pinned 64 KiB of its 91: bench/edge-idle.mjs);
// - a Bun socket from ./bun.ts: its data callback, no ReadableStream at all.

/** A TCP connection (or anything byte-oriented) as Web Streams. */
export interface BytePair {
  readable: ReadableStream<Uint8Array>;
  writable: WritableStream<Uint8Array>;
}

export interface ChannelSink {
  /** Bytes read; valid only during the call. */
  onRead(chunk: Uint8Array): void;
  /** Once: the peer's FIN (no error), a reset, or our abort. */
  onReadEnd(error?: unknown): void;
}

export interface ByteChannel {
  /** Starts reading into `sink` (once). */
  start(sink: ChannelSink): void;
  pause(): void;
  resume(): void;
  /** Queues bytes in order; resolves once the connection took all of them. */
  write(bytes: Uint8Array): Promise<void>;
  /** FIN after what is queued. */
  close(): void;
  /** Tears the connection down now. */
  abort(): void;
}

/** A byte stream pair offering its own channel (Bun's, from ./bun.ts). */
export const CHANNEL = Symbol('wasmsocket.channel');

/** The part of Deno.Conn used here. */
interface DenoConn {
  read(buf: Uint8Array): Promise<number | null>;
  write(bytes: Uint8Array): Promise<number>;
  closeWrite(): Promise<void>;
  close(): void;
}

/** The channel for a pair: its own, a Deno.Conn's read(), or its streams. */
export function channelOf(pair: BytePair): ByteChannel {
  const own = (pair as { [CHANNEL]?: () => ByteChannel })[CHANNEL];
  if (typeof own === 'function') return own.call(pair);
  // Duck-typed without touching `readable`: Deno creates it lazily, with its 64 KiB reads.
  const c = pair as unknown as Partial<DenoConn>;
  if (typeof c.read === 'function' && typeof c.closeWrite === 'function' && typeof c.write === 'function') return new DenoChannel(c as DenoConn);
  return new PairChannel(pair);
}

/** Reading resumes at the next turn of a loop; what pause/resume share. */
abstract class LoopChannel implements ByteChannel {
  protected sink: ChannelSink | null = null;
  protected paused = false;
  private wake: (() => void) | null = null;
  protected gone = false;

  start(sink: ChannelSink): void {
    this.sink = sink;
    this.loop().then(() => this.finish(), (e) => this.finish(e));
  }

  pause(): void { this.paused = true; }

  resume(): void {
    this.paused = false;
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  protected waitWhilePaused(): Promise<void> | null {
    return this.paused && !this.gone ? new Promise((r) => { this.wake = r; }) : null;
  }

  private finish(error?: unknown): void {
    const sink = this.sink;
    this.sink = null;
    sink?.onReadEnd(error);
  }

  protected abstract loop(): Promise<void>;
  abstract write(bytes: Uint8Array): Promise<void>;
  abstract close(): void;

  abort(): void {
    this.gone = true;
    this.resume();
  }
}

class PairChannel extends LoopChannel {
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private readonly writer: WritableStreamDefaultWriter<Uint8Array>;

  constructor(pair: BytePair) {
    super();
    this.reader = pair.readable.getReader();
    this.writer = pair.writable.getWriter();
  }

  protected async loop(): Promise<void> {
    for (;;) {
      const wait = this.waitWhilePaused();
      if (wait) await wait;
      if (this.gone) return;
      const { value, done } = await this.reader.read();
      if (done) return;
      this.sink?.onRead(value);
    }
  }

  write(bytes: Uint8Array): Promise<void> { return this.writer.write(bytes); }

  close(): void { this.writer.close().catch(() => {}); }

  override abort(): void {
    if (this.gone) return;
    super.abort();
    this.writer.abort().catch(() => {});
    this.reader.cancel().catch(() => {});
  }
}

// Deno's read buffer: small while reads are small, so an idle connection
// holds SMALL_READ bytes, not the 64 KiB conn.readable would (Deno's own chunk
// size, kept for reads that fill the small one: a bulk transfer reads as fast).
// 1 KiB holds a ws client's upgrade request (a browser's, with cookies, may
// take two reads) and a chat message. Idle, 10,000 connections through
// acceptConnection() (bench/edge-idle.mjs): 13.4 KiB each with 2 KiB, 11.9
// with 1 KiB, 11.9 with 512 B; 63 KiB per raw connection with 64 KiB.
const SMALL_READ = 1024;
const BIG_READ = 64 * 1024;

class DenoChannel extends LoopChannel {
  private buf = new Uint8Array(SMALL_READ);
  private writing: Promise<void> = Promise.resolve();
  private writesQueued = 0;
  private readEnded = false;
  private writeEnded = false;

  constructor(private readonly conn: DenoConn) { super(); }

  protected async loop(): Promise<void> {
    for (;;) {
      const wait = this.waitWhilePaused();
      if (wait) await wait;
      if (this.gone) return;
      const buf = this.buf;
      const n = await this.conn.read(buf);
      if (n === null) { this.readEnded = true; this.releaseWhenDone(); return; }
      // A full read asks for the big buffer; a read under a quarter of it gives it back.
      if (n === buf.length && buf.length < BIG_READ) this.buf = new Uint8Array(BIG_READ);
      else if (n < buf.length / 4 && buf.length > SMALL_READ) this.buf = new Uint8Array(SMALL_READ);
      this.sink?.onRead(buf.subarray(0, n));
    }
  }

  write(bytes: Uint8Array): Promise<void> {
    // conn.write may take part of the bytes: each write waits for the one before.
    const all = async () => {
      for (let off = 0; off < bytes.length;) off += await this.conn.write(off === 0 ? bytes : bytes.subarray(off));
    };
    const p = this.writesQueued++ === 0 ? all() : this.writing.then(all);
    const settled = () => { this.writesQueued--; };
    p.then(settled, settled);
    this.writing = p.catch(() => {});
    return p;
  }

  close(): void {
    this.writing.then(() => this.conn.closeWrite()).catch(() => {}).then(() => { this.writeEnded = true; this.releaseWhenDone(); });
  }

  override abort(): void {
    if (this.gone) return;
    super.abort();
    try { this.conn.close(); } catch { /* closed already */ }
  }

  // Both FINs went: the resource goes (Deno holds it until close()).
  private releaseWhenDone(): void {
    if (!this.readEnded || !this.writeEnded || this.gone) return;
    this.gone = true;
    try { this.conn.close(); } catch { /* closed already */ }
  }
}
