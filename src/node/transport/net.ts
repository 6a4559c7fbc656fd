// A TCP or TLS socket (tls.TLSSocket is a net.Socket): no idle timeout, no Nagle
// delay for small frames; a close ends with FIN, a protocol error too (as ws:
// the peer reads our close frame before the FIN), terminate() destroys.
import process from 'node:process';
import { Socket } from 'node:net';
import { getSystemErrorName } from 'node:util';
import type { Duplex } from 'node:stream';
import type { Transport } from './transport.js';
import { duplexTransport } from './duplex.js';

export const netTransport: Transport = {
  open(stream: Duplex): void {
    const socket = stream as Socket;
    socket.setTimeout(0);
    socket.setNoDelay(true);
  },
  end: duplexTransport.end,
  fail: duplexTransport.end,
  abort: duplexTransport.abort,
  readDirect,
  writeDirect,
};

// Reads straight into the caller's memory (the decoder's input area in wasm
// memory) for a socket Node already created (an accepted one). Node offers this
// only at construction (`onread`), so it is switched on the way the constructor
// does: the socket's kBuffer/kBufferCb slots and the handle's useUserBuffer().
// Feature-detected: where any piece is missing (another Node, TLS, bytes
// already buffered in the stream), the caller keeps 'data' events.
// WASMSOCKET_DIRECT_READS=0 turns it off (the tests run both paths).
type OnRead = (this: Duplex, n: number) => void;
interface Slots { buffer: symbol; cb: symbol; gen: symbol }
let slots: Slots | null | undefined;
let enabled = process.env.WASMSOCKET_DIRECT_READS !== '0';

/** @internal Turns direct reads on or off for connections opened from now on (tests of both paths). */
export function setDirectReads(on: boolean): void { enabled = on; }

/** @internal Reads that landed in a caller's buffer, counted by the caller's onRead (tests check the path is used). */
export const directReadStats = { reads: 0 };

/** @internal Whether reads of this socket land in a caller's buffer (readDirect took it). */
export function readsDirect(stream: Duplex): boolean {
  return !!slots && (stream as unknown as Record<symbol, unknown>)[slots.buffer] != null;
}

function findSlots(): Slots | null {
  const probe = new Socket();
  const own = Object.getOwnPropertySymbols(probe);
  const by = (name: string): symbol | undefined => own.find((s) => s.description === name);
  const buffer = by('kBuffer'), cb = by('kBufferCb'), gen = by('kBufferGen');
  return buffer && cb && gen ? { buffer, cb, gen } : null;
}

function readDirect(stream: Duplex, target: Uint8Array, onRead: OnRead): boolean {
  if (!enabled || !(stream instanceof Socket) || (stream as Socket & { encrypted?: boolean }).encrypted) return false;
  const handle = (stream as unknown as { _handle?: { useUserBuffer?: (buf: Uint8Array) => void } | null })._handle;
  if (!handle || typeof handle.useUserBuffer !== 'function' || stream.readableLength > 0 || stream.destroyed) return false;
  if (slots === undefined) slots = findSlots();
  if (slots === null) return false;
  const s = stream as unknown as Record<symbol, unknown>;
  if (s[slots.buffer] !== null || s[slots.gen] !== null) return false;
  s[slots.buffer] = target;
  s[slots.cb] = onRead;
  handle.useUserBuffer(target);
  stream.resume();
  return true;
}

// Writes straight to the TCP handle, as net's own writeGeneric does, without
// Writable's bookkeeping around it (state, a WriteWrap through four functions,
// an afterWrite nextTick): 4-5% of a 1 KiB echo and of a broadcast to 256
// (`node bench/run.mjs --impl ours --only echo-1k,broadcast`, alternated runs).
// Only while neither the stream nor the handle holds anything, so bytes keep
// their order; what the kernel does not take at once stays queued in libuv,
// counted in the owner's directQueued until written. The handle counts the bytes itself
// (socket.bytesWritten stays true). WriteWrap comes from process.binding, which
// Node keeps for this module but deprecates: feature-detected, skipped under
// --pending-deprecation (no warning for our sake); WASMSOCKET_DIRECT_WRITES=0
// turns it off (the tests run both paths).
interface StreamWrapBinding { WriteWrap: new () => WriteReq; streamBaseState: Int32Array; kLastWriteWasAsync: number }
interface WriteReq { handle: unknown; oncomplete: (status: number) => void; buffer: Uint8Array | null; owner: { directQueued: number }; socket: Socket }
interface TcpHandle { writeBuffer(req: WriteReq, bytes: Uint8Array): number; writeQueueSize: number }
let streamWrap: StreamWrapBinding | null | undefined;
// A write the kernel took whole never reaches the request object's native
// side (Node's StreamBase attaches a WriteWrap only to a write that goes async),
// so that object serves the next write too: one fewer native-backed object per
// write (a broadcast writes once per recipient).
let spareReq: WriteReq | null = null;
// A socket whose write() was replaced (a wire tap, a metrics wrapper) keeps
// getting every byte through it, as with ws.
const streamWrite = Socket.prototype.write;
let directWrites = process.env.WASMSOCKET_DIRECT_WRITES !== '0';

/** @internal How many writes took the direct path (tests check which path ran). */
export const directWriteStats = { writes: 0, queued: 0 };

/** @internal Turns direct writes on or off (tests of both paths). */
export function setDirectWrites(on: boolean): void { directWrites = on; }

function findStreamWrap(): StreamWrapBinding | null {
  const pending = process.execArgv.includes('--pending-deprecation') || /--pending-deprecation/.test(process.env.NODE_OPTIONS ?? '') ||
    process.env.NODE_PENDING_DEPRECATION === '1';
  const binding = (process as unknown as { binding?: (name: string) => unknown }).binding;
  if (pending || typeof binding !== 'function') return null;
  try {
    const b = binding.call(process, 'stream_wrap') as Partial<StreamWrapBinding>;
    return typeof b.WriteWrap === 'function' && b.streamBaseState instanceof Int32Array && typeof b.kLastWriteWasAsync === 'number'
      ? b as StreamWrapBinding : null;
  } catch {
    return null;
  }
}

function writeDirect(stream: Duplex, bytes: Uint8Array, owner: { directQueued: number }): number {
  if (!directWrites) return -1;
  if (streamWrap === undefined) streamWrap = findStreamWrap();
  const socket = stream as Socket & { encrypted?: boolean; _unrefTimer?: () => void };
  const handle = (socket as unknown as { _handle?: TcpHandle | null })._handle;
  if (streamWrap === null || !handle || typeof handle.writeBuffer !== 'function' || socket.encrypted ||
    socket.writableLength !== 0 || handle.writeQueueSize !== 0 || socket.writableCorked !== 0 || socket.writableEnded || socket.destroyed ||
    socket.write !== streamWrite) {
    return -1;
  }
  const req = spareReq ?? new streamWrap.WriteWrap();
  spareReq = null;
  req.handle = handle;
  req.oncomplete = onDirectWritten;
  req.owner = owner;
  req.socket = socket;
  // An error (the peer reset) is left to stream.write, which meets it again and reports it as usual.
  if (handle.writeBuffer(req, bytes) !== 0) return -1;
  socket._unrefTimer?.();
  directWriteStats.writes++;
  if (streamWrap.streamBaseState[streamWrap.kLastWriteWasAsync] === 0) {
    spareReq = req;
    return 0;
  }
  directWriteStats.queued++;
  req.buffer = bytes;
  return Math.max(1, handle.writeQueueSize);
}

// A write that went async finished (status < 0: it failed; the stream is torn down as net does).
function onDirectWritten(this: WriteReq, status: number): void {
  this.buffer = null;
  const socket = this.socket;
  if (status < 0 && !socket.destroyed) {
    const err = new Error(`write ${getSystemErrorName(status)}`) as NodeJS.ErrnoException;
    err.errno = status;
    err.code = getSystemErrorName(status);
    err.syscall = 'write';
    socket.destroy(err);
  }
  this.owner.directQueued = 0;
}

/** The transport for a duplex handed to the connection without one. */
export function transportFor(stream: Duplex): Transport {
  return stream instanceof Socket ? netTransport : duplexTransport;
}
