// Deno only: the App's platform on Deno.listen. No Node imports, no Deno
// types needed to compile (the few calls used are declared below).
//
// Reads: conn.read(buf) into a buffer of ours, never conn.readable (whose
// reads each hold a 64 KiB chunk and go through a ReadableStream). Deno's read
// is a promise that holds its buffer until bytes come, so every idle
// connection has a read pending in a buffer of its own: it cannot be the
// codec's input area in wasm memory, which one read at a time may use. The
// kernel's bytes land in our buffer with no copy in between (Deno's op reads
// into the view it is given); the decoder copies them once into wasm memory.
// The buffer is small while reads are small (an idle connection holds 2 KiB)
// and 64 KiB while reads fill it.
//
// Writes: corked per event-loop turn by Wire; each flush is one conn.write of
// one buffer (Deno has no writev: several chunks are joined), one write in
// flight per connection, a partial write continued from where it stopped.
import { Wire, type Chunk } from './wire.js';
import type { Acceptor, ListenRequest } from './acceptor.js';
import type { Platform } from './app.js';
import { edgeAcceptKey } from './edge-accept-key.js';
import type { EdgeSSLAppOptions } from './edge-ssl.js';

interface DenoAddr { hostname: string; port: number }
interface DenoConn {
  readonly remoteAddr: DenoAddr;
  read(buf: Uint8Array): Promise<number | null>;
  write(bytes: Uint8Array): Promise<number>;
  closeWrite(): Promise<void>;
  close(): void;
  setNoDelay?(on: boolean): void;
}
interface DenoListener {
  readonly addr: DenoAddr;
  accept(): Promise<DenoConn>;
  close(): void;
}
interface DenoNs {
  listen(o: { hostname: string; port: number; transport: 'tcp'; reusePort?: boolean }): DenoListener;
  /** Present only under --unstable-net (as Deno gates its unstable APIs). */
  listenDatagram?: unknown;
  listenTls(o: { hostname: string; port: number; cert: string; key: string; alpnProtocols?: string[] }): DenoListener;
  readTextFileSync(path: string): string;
  errors: { BadResource: new () => Error; Interrupted: new () => Error };
}

const deno = (): DenoNs => {
  const d = (globalThis as { Deno?: DenoNs }).Deno;
  if (!d) throw new TypeError('Deno is not available in this runtime');
  return d;
};

// 2 KiB holds an upgrade request from a browser (0.5-1.5 KB) and a batch of
// small messages (16 pipelined 32-byte echoes are 608 B); 64 KiB is Deno's
// own read chunk. A read that fills the buffer switches to the big one; 8
// reads in a row that the small one would have held switch back. (Switching
// back after reads under a quarter of the big one made a 1 KiB echo, whose
// reads are 4-16 KB, allocate a fresh 64 KiB buffer every 9 reads.)
const SMALL_READ = 2 * 1024;
const BIG_READ = 64 * 1024;
const SHRINK_AFTER = 8;

const utf8 = new TextEncoder();

/** @internal Counts for tests: connections accepted, reads handled, conn.write calls made. */
export const denoStats = { accepted: 0, reads: 0, writes: 0 };

class DenoWire extends Wire {
  private buf = new Uint8Array(SMALL_READ);
  private smallReads = 0;
  private paused = false;
  private wake: (() => void) | null = null;
  /** Bytes flushed while a write was in flight: the next write. */
  private pending: Uint8Array[] | null = null;
  private pendingBytes = 0;
  /** Bytes of the write in flight not yet taken. */
  private inFlight = 0;
  private writing = false;
  private closeReported = false;
  /** The kernel took only part of a write: onDrain once everything is written. */
  private kernelFull = false;

  constructor(private readonly conn: DenoConn) { super(); }

  bufferedAmount(): number {
    let n = this.inFlight + this.pendingBytes;
    if (this.queued !== null) for (const c of this.queued) n += typeof c === 'string' ? c.length : c.byteLength;
    return n;
  }

  // Deno tells no more than that conn.write's promise has not resolved yet:
  // the bytes of the write in flight count until it does.
  backpressure(): number { return this.inFlight + this.pendingBytes; }

  remoteAddress(): string { return this.conn.remoteAddr.hostname; }

  pause(): void { this.paused = true; }

  resume(): void {
    this.paused = false;
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  /** Reads until EOF, an error or close(); each read is handled before the next is asked for. */
  async readLoop(): Promise<void> {
    for (;;) {
      if (this.paused && !this.closed) await new Promise<void>((r) => { this.wake = r; });
      if (this.closed) return;
      const buf = this.buf;
      let n: number | null;
      try {
        n = await this.conn.read(buf);
      } catch {
        this.close(); // reset by the peer, or closed under the read
        return;
      }
      if (this.closed) return;
      if (n === null) { this.owner?.onEnd(); return; }
      if (n === buf.length) {
        if (buf.length < BIG_READ) this.buf = new Uint8Array(BIG_READ);
        this.smallReads = 0;
      } else if (buf.length > SMALL_READ) {
        if (n > SMALL_READ) this.smallReads = 0;
        else if (++this.smallReads >= SHRINK_AFTER) {
          this.buf = new Uint8Array(SMALL_READ);
          this.smallReads = 0;
        }
      }
      // A handler's exception goes up as an unhandled rejection, as it would
      // go up from Node's onread: it is the user's, not a transport error.
      denoStats.reads++;
      Wire.read(this, buf, 0, n);
    }
  }

  protected writeOut(chunks: Chunk[]): void {
    if (this.writing) {
      // Behind the write in flight: joined with whatever else comes once it is done.
      const pending = this.pending ??= [];
      for (const c of chunks) {
        const b = typeof c === 'string' ? utf8.encode(c) : c;
        pending.push(b);
        this.pendingBytes += b.length;
      }
      return;
    }
    void this.writeAll(join(chunks));
  }

  // One conn.write at a time: what was flushed meanwhile goes next, joined.
  private async writeAll(first: Uint8Array): Promise<void> {
    this.writing = true;
    let bytes: Uint8Array | null = first;
    try {
      while (bytes !== null) {
        this.inFlight = bytes.length;
        for (let off = 0; off < bytes.length;) {
          denoStats.writes++;
          off += await this.conn.write(off === 0 ? bytes : bytes.subarray(off));
          this.inFlight = bytes.length - off;
          if (this.inFlight > 0) this.kernelFull = true;
          if (this.closed) return;
        }
        const next: Uint8Array[] | null = this.pending;
        this.pending = null;
        this.pendingBytes = 0;
        bytes = next === null ? null : join(next);
      }
    } catch {
      this.close();
      return;
    } finally {
      this.writing = false;
      this.inFlight = 0;
    }
    if (this.ending) { this.finishEnd(); return; }
    // Everything is written. After a partial write that is a drain; otherwise
    // the flush went out whole, only later than Node's (Deno's write is a promise).
    if (this.kernelFull) {
      this.kernelFull = false;
      this.owner?.onDrain?.();
    } else this.owner?.onFlushed?.();
  }

  protected shutdown(): void {
    if (!this.writing) this.finishEnd();
  }

  // Everything is written: FIN, then the connection goes (as Node's does once its shutdown completes).
  private finishEnd(): void {
    if (this.closed) return;
    this.conn.closeWrite().then(() => this.close(), () => this.close());
  }

  protected destroy(): void {
    this.pending = null;
    this.pendingBytes = 0;
    try { this.conn.close(); } catch { /* closed already */ }
    this.resume(); // a paused read loop sees closed and stops
    if (this.closeReported) return;
    this.closeReported = true;
    // After this turn, as Node's handle.close callback: the owner is told once.
    queueMicrotask(() => {
      const owner = this.owner;
      this.owner = null;
      owner?.onClose();
    });
  }
}

// The chunks of one flush as one buffer (strings as UTF-8).
function join(chunks: Chunk[]): Uint8Array {
  if (chunks.length === 1) {
    const c = chunks[0];
    return typeof c === 'string' ? utf8.encode(c) : c;
  }
  const parts = chunks.map((c) => (typeof c === 'string' ? utf8.encode(c) : c));
  let total = 0;
  for (const p of parts) total += p.length;
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) { out.set(p, off); off += p.length; }
  return out;
}

class DenoAcceptor implements Acceptor {
  readonly port: number;
  constructor(private readonly listener: DenoListener) { this.port = listener.addr.port; }
  close(): void {
    try { this.listener.close(); } catch { /* closed already */ }
  }
}

async function acceptLoop(listener: DenoListener, req: ListenRequest): Promise<void> {
  const { errors } = deno();
  for (;;) {
    let conn: DenoConn;
    try {
      conn = await listener.accept();
    } catch (e) {
      if (e instanceof errors.BadResource || e instanceof errors.Interrupted) return; // the listener closed
      // A connection reset before it was accepted, or out of descriptors: a
      // short pause (in case it persists), then on.
      await new Promise((r) => setTimeout(r, 5));
      continue;
    }
    denoStats.accepted++;
    try { conn.setNoDelay?.(true); } catch { /* closed already */ }
    const wire = new DenoWire(conn);
    wire.owner = req.onConnection(wire);
    void wire.readLoop();
  }
}

type ListenOn = (hostname: string, port: number, reusePort: boolean) => DenoListener;

function platformOn(listenOn: ListenOn): Platform {
  return {
    listen(req, cb) {
      let listener: DenoListener;
      try {
        const host = req.host === undefined || req.host === '' ? undefined : req.host === 'localhost' ? '127.0.0.1' : req.host;
        const reuse = req.reusePort === true;
        if (host !== undefined) listener = listenOn(host, req.port, reuse);
        else {
          // All interfaces: IPv6 and IPv4 on one socket where the system allows it.
          try { listener = listenOn('::', req.port, reuse); } catch { listener = listenOn('0.0.0.0', req.port, reuse); }
        }
      } catch (e) {
        cb(e instanceof Error ? e : new Error(String(e)));
        return;
      }
      void acceptLoop(listener, req);
      cb(new DenoAcceptor(listener));
    },
    acceptKey: edgeAcceptKey(),
  };
}

// Deno.listen's reusePort (several workers' Apps on one port) is unstable: asked for
// without --unstable-net, Deno ends the process (exit 70, not an exception), so it is
// asked for only when that flag is on, which Deno.listenDatagram's presence shows.
const reusePortAllowed = (): boolean => typeof deno().listenDatagram === 'function';

export const denoPlatform: Platform = platformOn((hostname, port, reusePort) =>
  deno().listen({ hostname, port, transport: 'tcp', ...(reusePort && reusePortAllowed() ? { reusePort: true } : {}) }));

/**
 * SSLApp's platform on Deno.listenTls: the PEM files read now (--allow-read),
 * so a wrong path throws at SSLApp() as uWS.js's does. Deno takes no
 * passphrase: an encrypted key is refused here rather than at the first
 * handshake. Connections are the same wire over Deno's TLS connection.
 */
export function denoTlsPlatform(options: EdgeSSLAppOptions): Platform {
  if (!options.key_file_name || !options.cert_file_name) throw new TypeError('SSLApp needs key_file_name and cert_file_name');
  if (options.passphrase) throw new TypeError('SSLApp in Deno: Deno.listenTls takes no passphrase (decrypt the key first)');
  const key = deno().readTextFileSync(options.key_file_name);
  const cert = deno().readTextFileSync(options.cert_file_name);
  return platformOn((hostname, port) => deno().listenTls({ hostname, port, cert, key, alpnProtocols: ['http/1.1'] }));
}
