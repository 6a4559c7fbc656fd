// A TCP or TLS socket (tls.TLSSocket is a net.Socket): no idle timeout, no Nagle
// delay for small frames; a close ends with FIN, a protocol error too (as ws:
// the peer reads our close frame before the FIN), terminate() destroys.
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Transport } from './transport.js';
import { duplexTransport } from './transport-duplex.js';

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

/** The transport for a duplex handed to the connection without one. */
export function transportFor(stream: Duplex): Transport {
  return stream instanceof Socket ? netTransport : duplexTransport;
}
