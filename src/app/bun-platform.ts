// Bun only: the App's platform on Bun.listen. No Node imports, no Bun types
// needed to compile (the few calls used are declared below).
//
// Reads: Bun's `data` callback (one handler object for every connection, the
// wire in socket.data), the bytes handed on for the duration of the call.
// Bun gives JavaScript no way to read into memory of ours: its chunk is the
// one copy before the decoder's copy into wasm memory.
//
// Writes: corked per event-loop turn by Wire. Bun's socket.write goes
// straight to the kernel (no buffering in Bun) and returns how many bytes it
// took; the rest waits here for the `drain` callback, and what is flushed
// meanwhile queues behind it. The small chunks of a flush are packed into one
// 64 KiB cork buffer shared by all connections (Bun has no writev) and
// written together; a chunk of 32 KiB or more is written on its own.
import { Wire, type Chunk } from './wire.js';
import type { Acceptor, ListenRequest } from './acceptor.js';
import type { Platform } from './app.js';
import { edgeAcceptKey } from './edge-accept-key.js';
import type { EdgeSSLAppOptions } from './edge-ssl.js';

interface BunSocket {
  data: BunWire | undefined;
  readonly remoteAddress: string;
  write(data: Uint8Array): number;
  end(): void;
  terminate(): void;
  pause(): void;
  resume(): void;
  setNoDelay?(on?: boolean): boolean;
}
interface BunTls { key: unknown; cert: unknown; passphrase?: string }
interface BunListener { readonly port: number; stop(closeActive?: boolean): void }
interface BunNs {
  file(path: string): { text(): Promise<string>; size: number };
  listen(o: {
    hostname: string; port: number; allowHalfOpen?: boolean; tls?: BunTls; reusePort?: boolean;
    socket: {
      open(s: BunSocket): void; data(s: BunSocket, chunk: Uint8Array): void; drain(s: BunSocket): void;
      end(s: BunSocket): void; close(s: BunSocket): void; error(s: BunSocket, e: Error): void;
    };
  }): BunListener;
}

const bun = (): BunNs => {
  const b = (globalThis as { Bun?: BunNs }).Bun;
  if (!b) throw new TypeError('Bun is not available in this runtime');
  return b;
};

// The cork buffer: small chunks of a flush are packed into it and written
// together. 64 KiB, not uWS's 16 KiB: each further socket.write in a data
// callback costs Bun about 7 us (a probe writing each read in two halves:
// 2.3 -> 7.4 us per write), and a flush of 16 pipelined 1 KiB echoes (16.5 KB)
// went out in 16 writes at 16 KiB.
const CORK_SIZE = 64 * 1024;

const utf8 = new TextEncoder();
const bytesOf = (c: Chunk): Uint8Array => (typeof c === 'string' ? utf8.encode(c) : c);
// The cork buffer every connection's joined flush is written from, one at a time.
const cork = new Uint8Array(CORK_SIZE);

/** @internal Counts for tests: connections accepted, reads handled, socket.write calls made, writes Bun took only part of. */
export const bunStats = { accepted: 0, reads: 0, writes: 0, partialWrites: 0 };

class BunWire extends Wire {
  /** Bytes the socket did not take yet, in order; null when it took everything. */
  private unsent: Uint8Array[] | null = null;
  private unsentBytes = 0;
  private closeReported = false;

  constructor(private readonly socket: BunSocket) {
    super();
    // Frames go straight into the shared cork buffer (wire.ts reserve()): socket.write takes or
    // refuses the bytes before it returns, and keep() copies what it refused.
    this.corksInPlace = true;
  }

  bufferedAmount(): number {
    let n = this.unsentBytes;
    if (this.queued !== null) for (const c of this.queued) n += typeof c === 'string' ? c.length : c.byteLength;
    return n;
  }

  backpressure(): number { return this.unsentBytes; }
  remoteAddress(): string { return this.socket.remoteAddress ?? ''; }
  pause(): void { if (!this.closed) this.socket.pause(); }
  resume(): void { if (!this.closed) this.socket.resume(); }

  protected writeOut(chunks: Chunk[]): void {
    if (this.unsent !== null) { this.keep(chunks.map(bytesOf), 0); return; }
    if (chunks.length === 1) { this.send([bytesOf(chunks[0])]); return; }
    // Small chunks are packed into the one cork buffer, written when full;
    // a chunk of half the buffer or more goes on its own. socket.write has
    // taken or refused the bytes by the time it returns, and what it refused
    // is copied out, so the next flush may use the buffer again.
    let used = 0;
    for (let i = 0; i < chunks.length; i++) {
      const p = bytesOf(chunks[i]);
      if (p.length >= CORK_SIZE / 2 || used + p.length > CORK_SIZE) {
        if (used > 0 && !this.writeCork(used, chunks, i)) return;
        used = 0;
      }
      if (p.length >= CORK_SIZE / 2) {
        const rest = chunks.slice(i).map(bytesOf);
        bunStats.writes++;
        const n = this.socket.write(p);
        if (n < 0) { this.close(); return; }
        if (n < p.length) { bunStats.partialWrites++; rest[0] = p.subarray(n); this.keep(rest, 0); return; }
        continue;
      }
      cork.set(p, used);
      used += p.length;
    }
    if (used > 0) this.writeCork(used, chunks, chunks.length);
  }

  // Writes the cork buffer's first `used` bytes; on a partial write keeps what
  // is left of it, then chunks[from...], and returns false.
  private writeCork(used: number, chunks: Chunk[], from: number): boolean {
    bunStats.writes++;
    const n = this.socket.write(cork.subarray(0, used));
    if (n < 0) { this.close(); return false; }
    if (n === used) return true;
    bunStats.partialWrites++;
    this.keep([cork.subarray(n, used), ...chunks.slice(from).map(bytesOf)], 0);
    return false;
  }

  // Writes parts in order until the socket takes less than a whole one; keeps the rest.
  private send(parts: Uint8Array[]): void {
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i];
      bunStats.writes++;
      const n = this.socket.write(p);
      if (n < 0) { this.close(); return; }
      if (n < p.length) {
        bunStats.partialWrites++;
        parts[i] = p.subarray(n);
        this.keep(parts, i);
        return;
      }
    }
  }

  // Copies: a part may be a view of a cork buffer the next flush reuses.
  private keep(parts: Uint8Array[], from: number): void {
    const unsent = this.unsent ??= [];
    for (let i = from; i < parts.length; i++) {
      unsent.push(parts[i].slice());
      this.unsentBytes += parts[i].length;
    }
  }

  /** @internal Bun's drain: the socket takes writes again. */
  drained(): void {
    const parts = this.unsent;
    if (parts === null || this.closed) return;
    this.unsent = null;
    this.unsentBytes = 0;
    this.send(parts);
    if (this.unsent !== null) return;
    if (this.ending) this.socket.end();
    else this.owner?.onDrain?.();
  }

  protected shutdown(): void {
    if (this.unsent === null) this.socket.end();
  }

  protected destroy(): void {
    this.unsent = null;
    this.unsentBytes = 0;
    this.socket.terminate();
  }

  /** @internal Bun's close callback (either side closed): the owner is told once. */
  closedNow(): void {
    this.closed = true;
    this.queued = null;
    this.unsent = null;
    if (this.closeReported) return;
    this.closeReported = true;
    const owner = this.owner;
    this.owner = null;
    owner?.onClose();
  }

  /** @internal */
  get isClosed(): boolean { return this.closed; }
}

class BunAcceptor implements Acceptor {
  constructor(private readonly listener: BunListener) {}
  get port(): number { return this.listener.port; }
  close(): void { this.listener.stop(false); }
}

function listenOn(hostname: string, req: ListenRequest, tls: BunTls | undefined): BunListener {
  return bun().listen({
    hostname,
    port: req.port,
    tls,
    // Several workers' Apps on one port (SO_REUSEPORT), unless LIBUS_LISTEN_EXCLUSIVE_PORT.
    reusePort: req.reusePort === true,
    // The App answers what came before the peer's FIN, then ends (as on Node).
    allowHalfOpen: true,
    socket: {
      open(s) {
        bunStats.accepted++;
        s.setNoDelay?.(true);
        const wire = new BunWire(s);
        s.data = wire;
        wire.owner = req.onConnection(wire);
      },
      data(s, chunk) {
        const wire = s.data;
        if (wire === undefined || wire.isClosed) return;
        bunStats.reads++;
        try {
          Wire.read(wire, chunk, 0, chunk.length);
        } catch (e) {
          // A handler threw. Bun would hand it to `error` and go on; it goes up
          // as an uncaught exception instead, as it does from Node's and Deno's reads.
          wire.close();
          queueMicrotask(() => { throw e; });
        }
      },
      drain(s) { s.data?.drained(); },
      end(s) { s.data?.owner?.onEnd(); },
      close(s) { s.data?.closedNow(); },
      error(s) { s.data?.close(); },
    },
  });
}

function platformWith(tls: BunTls | undefined): Platform {
  return {
    listen(req, cb) {
      let listener: BunListener;
      try {
        const host = req.host === undefined || req.host === '' ? undefined : req.host === 'localhost' ? '127.0.0.1' : req.host;
        if (host !== undefined) listener = listenOn(host, req, tls);
        else {
          // All interfaces: IPv6 and IPv4 on one socket where the system allows it.
          try { listener = listenOn('::', req, tls); } catch { listener = listenOn('0.0.0.0', req, tls); }
        }
      } catch (e) {
        cb(e instanceof Error ? e : new Error(String(e)));
        return;
      }
      cb(new BunAcceptor(listener));
    },
    acceptKey: edgeAcceptKey(),
  };
}

export const bunPlatform: Platform = platformWith(undefined);

/**
 * SSLApp's platform on Bun.listen's TLS (BoringSSL inside Bun): the PEM files
 * by path (a missing one throws at SSLApp(), as uWS.js's does; a wrong
 * passphrase throws at listen). Connections are the same wire; Bun's TLS socket
 * buffers nothing either, so backpressure and drain work as without TLS.
 */
export function bunTlsPlatform(options: EdgeSSLAppOptions): Platform {
  if (!options.key_file_name || !options.cert_file_name) throw new TypeError('SSLApp needs key_file_name and cert_file_name');
  const key = bun().file(options.key_file_name), cert = bun().file(options.cert_file_name);
  if (key.size === 0 || cert.size === 0) throw new Error(`SSLApp: cannot read ${key.size === 0 ? options.key_file_name : options.cert_file_name}`);
  return platformWith({ key, cert, passphrase: options.passphrase });
}
