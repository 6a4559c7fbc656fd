// Node only: the App's connections on Node's own TCP handles (what net.Socket
// wraps: process.binding('tcp_wrap').TCP), without net.Socket, streams or
// emitters. A server handle's onconnection gets client handles; each reads
// with onread into one read buffer shared by all (a read is handled before the
// next one lands) and writes with writeBuffer / writev and a WriteWrap, as
// net's own writeGeneric does. Per connection: the handle and one TcpWire.
//
// process.binding is deprecated but kept for these modules; everything is
// feature-detected (tcpHandlesAvailable()) and the App falls back to
// net.Server (node-net.ts) where a piece is missing, under
// --pending-deprecation, or when WASMSOCKET_APP_TRANSPORT=net asks for it.
import process from 'node:process';
import { Wire, LINGER_MS, type Chunk } from './wire.js';
import type { Acceptor, ListenRequest } from './acceptor.js';
import { tcpReusePortFlag } from './node-reuseport.js';
import { release } from './frame-pool.js';

interface TcpHandle {
  onread: ((this: TcpHandle, ab?: ArrayBuffer) => void) | null;
  onconnection: ((this: TcpHandle, status: number, client?: TcpHandle) => void) | null;
  wire?: TcpWire;
  /** flags: Node >= 22.12 passes them to uv_tcp_bind (UV_TCP_REUSEPORT); older Node ignores a third argument. */
  bind(host: string, port: number, flags?: number): number;
  bind6(host: string, port: number, flags: number): number;
  listen(backlog: number): number;
  getsockname(out: { address?: string; port?: number; family?: string }): number;
  getpeername(out: { address?: string; port?: number; family?: string }): number;
  setNoDelay(on: boolean): number;
  useUserBuffer?(buf: Uint8Array): void;
  readStart(): number;
  readStop(): number;
  writeBuffer(req: WriteReq, b: Uint8Array): number;
  writeUtf8String(req: WriteReq, s: string): number;
  writev(req: WriteReq, chunks: unknown[], allBuffers: boolean): number;
  shutdown(req: ShutdownReq): number;
  close(cb?: () => void): void;
  writeQueueSize: number;
}
interface WriteReq { handle: TcpHandle; oncomplete: (status: number) => void; chunks: Chunk[] | null; wire: TcpWire | null }
interface ShutdownReq { handle: TcpHandle; oncomplete: (status: number) => void; wire: TcpWire }
interface Bindings {
  TCP: new (type: number) => TcpHandle;
  SERVER: number;
  /** UV_TCP_REUSEPORT, or 0 where this Node cannot share a port (node-reuseport.ts). */
  REUSEPORT: number;
  WriteWrap: new () => WriteReq;
  ShutdownWrap: new () => ShutdownReq;
  state: Int32Array;
  kReadBytesOrError: number;
  kArrayBufferOffset: number;
  kLastWriteWasAsync: number;
}

const UV_EOF = -4095;
// libuv's own read size (uv__read asks for 64 KiB), and net's: one buffer for
// every connection, since each read is handled before the next lands.
const READ_BUFFER_SIZE = 64 * 1024;

let bindings: Bindings | null | undefined;

function load(): Bindings | null {
  const pending = process.execArgv.includes('--pending-deprecation') || /--pending-deprecation/.test(process.env.NODE_OPTIONS ?? '') ||
    process.env.NODE_PENDING_DEPRECATION === '1';
  const binding = (process as unknown as { binding?: (name: string) => unknown }).binding;
  if (pending || typeof binding !== 'function') return null;
  try {
    const tcp = binding.call(process, 'tcp_wrap') as { TCP?: Bindings['TCP']; constants?: { SERVER?: number; [k: string]: number | undefined } };
    const sw = binding.call(process, 'stream_wrap') as Record<string, unknown>;
    const TCP = tcp.TCP, proto = TCP?.prototype as Partial<TcpHandle> | undefined;
    if (typeof TCP !== 'function' || typeof tcp.constants?.SERVER !== 'number' || !proto ||
      typeof proto.writeBuffer !== 'function' || typeof proto.writev !== 'function' || typeof proto.readStart !== 'function' ||
      typeof proto.shutdown !== 'function' || typeof sw.WriteWrap !== 'function' || typeof sw.ShutdownWrap !== 'function' ||
      !(sw.streamBaseState instanceof Int32Array) || typeof sw.kReadBytesOrError !== 'number') return null;
    return {
      TCP, SERVER: tcp.constants.SERVER, REUSEPORT: tcpReusePortFlag(tcp.constants as Record<string, number>),
      WriteWrap: sw.WriteWrap as Bindings['WriteWrap'], ShutdownWrap: sw.ShutdownWrap as Bindings['ShutdownWrap'],
      state: sw.streamBaseState, kReadBytesOrError: sw.kReadBytesOrError, kArrayBufferOffset: sw.kArrayBufferOffset as number,
      kLastWriteWasAsync: sw.kLastWriteWasAsync as number,
    };
  } catch {
    return null;
  }
}

/** Whether this Node offers the TCP handle path. */
export function tcpHandlesAvailable(): boolean {
  if (bindings === undefined) bindings = load();
  return bindings !== null;
}

let readBuffer: Uint8Array | null = null;

/** @internal Counts for tests: which path ran, how many writes left (of how many chunks), how many reads went straight into wasm memory. */
export const tcpStats = { accepted: 0, writes: 0, chunks: 0, queuedWrites: 0, directReads: 0 };

class TcpWire extends Wire {
  /** Bytes handed to libuv and not yet written (async writes only). */
  private inFlight = 0;
  /** Our FIN is out: reads are dropped until the peer's FIN, or LINGER_MS (wire.ts). */
  lingering: ReturnType<typeof setTimeout> | null = null;
  /** The peer's FIN came: nothing to linger for once ours is out. */
  peerEnded = false;
  constructor(readonly handle: TcpHandle) { super(); this.corksInPlace = true; }

  bufferedAmount(): number { return this.inFlight + this.queuedBytes(); }

  // A write libuv finishes later keeps its chunks on the WriteWrap, released in onWritten.
  get reusesFrames(): boolean { return true; }

  backpressure(): number { return this.inFlight; }

  remoteAddress(): string {
    const out: { address?: string } = {};
    this.handle.getpeername(out);
    return out.address ?? '';
  }

  // The handle reads into `target` from its next read on (libuv asks for the buffer per read;
  // the target is one area for all sockets, each read handled before the next lands).
  readInto(target: Uint8Array): boolean {
    if (this.closed || typeof this.handle.useUserBuffer !== 'function') return false;
    this.handle.useUserBuffer(target);
    this.readTarget = target;
    return true;
  }

  pause(): void { if (!this.closed) this.handle.readStop(); }
  resume(): void { if (!this.closed) this.handle.readStart(); }

  protected writeOut(chunks: Chunk[]): void {
    const b = bindings!;
    const req = new b.WriteWrap();
    req.handle = this.handle;
    req.oncomplete = onWritten;
    req.wire = this;
    let err: number;
    if (chunks.length === 1) {
      const c = chunks[0];
      err = typeof c === 'string' ? this.handle.writeUtf8String(req, c) : this.handle.writeBuffer(req, c);
    } else if (chunks.every((c) => typeof c !== 'string')) {
      err = this.handle.writev(req, chunks, true);
    } else {
      const pairs: unknown[] = [];
      for (const c of chunks) pairs.push(c, typeof c === 'string' ? 'utf8' : 'buffer');
      err = this.handle.writev(req, pairs, false);
    }
    tcpStats.writes++;
    tcpStats.chunks += chunks.length;
    if (err !== 0) { this.close(); return; }
    if (b.state[b.kLastWriteWasAsync] !== 0) {
      tcpStats.queuedWrites++;
      req.chunks = chunks; // kept alive until libuv is done with them
      this.writeHeld = true;
      this.inFlight = this.handle.writeQueueSize;
    }
  }

  protected shutdown(): void {
    const req = new bindings!.ShutdownWrap();
    req.handle = this.handle;
    req.wire = this;
    req.oncomplete = onShutdown;
    if (this.handle.shutdown(req) !== 0) this.close();
  }

  protected destroy(): void {
    if (this.lingering !== null) { clearTimeout(this.lingering); this.lingering = null; }
    this.handle.readStop();
    this.handle.close(() => {
      const owner = this.owner;
      this.owner = null;
      owner?.onClose();
    });
  }

  /** @internal The read callback's view of the wire. */
  get isClosed(): boolean { return this.closed; }
  /** @internal */
  set written(n: number) { this.inFlight = n; }
}

function onWritten(this: WriteReq, status: number): void {
  const wire = this.wire!;
  if (this.chunks !== null) release(this.chunks);
  this.chunks = null;
  this.wire = null;
  if (status < 0) { wire.close(); return; }
  wire.written = wire.handle.writeQueueSize;
  if (wire.handle.writeQueueSize === 0) wire.owner?.onDrain?.();
}

function onShutdown(this: ShutdownReq): void {
  const wire = this.wire;
  if (wire.isClosed) return;
  if (wire.peerEnded) { wire.close(); return; }
  wire.lingering = setTimeout(() => wire.close(), LINGER_MS);
  (wire.lingering as { unref?: () => void }).unref?.();
}

// One read on a client handle: bytes in the shared buffer (or, without
// useUserBuffer, in an ArrayBuffer libuv allocated), EOF, or an error.
function onRead(this: TcpHandle, ab?: ArrayBuffer): void {
  const b = bindings!;
  const wire = this.wire;
  if (wire === undefined || wire.isClosed) return;
  const n = b.state[b.kReadBytesOrError];
  if (wire.lingering !== null) {
    if (n <= 0) wire.close(); // the peer's FIN (or an error) ends the lingering close
    return;
  }
  if (n > 0) {
    if (wire.readTarget !== null) { tcpStats.directReads++; Wire.readInto(wire, n); }
    else if (ab === undefined) Wire.read(wire, readBuffer!, 0, n);
    else {
      const offset = b.state[b.kArrayBufferOffset];
      Wire.read(wire, new Uint8Array(ab, offset, n), 0, n);
    }
  } else if (n === UV_EOF) {
    wire.peerEnded = true;
    wire.owner?.onEnd();
  } else if (n < 0) {
    wire.close();
  }
}

class TcpAcceptor implements Acceptor {
  constructor(private readonly server: TcpHandle, readonly port: number) {}
  close(): void {
    this.server.onconnection = null;
    this.server.close();
  }
}

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/**
 * Listens on `req.host` (an IP address; all interfaces when absent) and
 * `req.port`. Returns the acceptor, or the error code (negative errno) when
 * bind or listen fails.
 */
export function listenTcp(req: ListenRequest): Acceptor | number {
  const b = bindings ?? (bindings = load());
  if (b === null) throw new Error('TCP handles are not available in this Node');
  if (readBuffer === null) readBuffer = new Uint8Array(READ_BUFFER_SIZE);
  const server = new b.TCP(b.SERVER);
  const flags = req.reusePort ? b.REUSEPORT : 0;
  const host = req.host === undefined || req.host === '' ? undefined : req.host === 'localhost' ? '127.0.0.1' : req.host;
  let err: number;
  if (host === undefined) {
    err = server.bind6('::', req.port, flags);
    if (err !== 0) err = server.bind('0.0.0.0', req.port, flags);
  } else {
    err = IPV4.test(host) ? server.bind(host, req.port, flags) : server.bind6(host, req.port, flags);
  }
  if (err === 0) err = server.listen(req.backlog ?? 511);
  if (err !== 0) {
    server.close();
    return err;
  }
  server.onconnection = function (status, client) {
    if (status !== 0 || client === undefined) return;
    tcpStats.accepted++;
    const wire = new TcpWire(client);
    client.wire = wire;
    client.setNoDelay(true);
    if (typeof client.useUserBuffer === 'function') client.useUserBuffer(readBuffer!);
    client.onread = onRead;
    wire.owner = req.onConnection(wire);
    if (client.readStart() !== 0) wire.close();
  };
  const out: { port?: number } = {};
  server.getsockname(out);
  return new TcpAcceptor(server, out.port ?? req.port);
}
