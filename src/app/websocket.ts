// uWebSockets.js's WebSocket on the shared connection core (src/core/protocol.ts):
// the core owns the frames, the closing handshake, limits and inflate order;
// this file is the door: the behavior's handlers, sends framed into the wire's
// corked writes, send()'s status (1 sent, 0 sent with backpressure, 2 dropped
// past maxBackpressure), end()/close(), and lent messages. No Node imports.
//
// Lent messages: a handler gets an ArrayBuffer that is detached when the read
// that brought it has been dispatched (uWS.js neuters its own when the handler
// returns; detaching a read's messages together costs a third as much, lend.ts),
// so a view kept past the read reads as empty and new views of it throw, and
// never shows another message: each has its own ArrayBuffer (uWS.js issue
// #535). Copy what you keep.
import { Protocol, OPEN, type Inflater, type ProtocolHost } from '../core/protocol.js';
import { headerLength, writeHeader } from '../codec/encoder.js';
import { encodeClosePayload } from '../codec/close.js';
import type { ProtocolError } from '../codec/errors.js';
import { bytesOf, type RecognizedString } from './http-response.js';
import { corkBuffer, type Wire, type WireOwner } from './wire.js';
import type { Subscriber, TopicTree } from './topics.js';
import type { BudgetMember, MemoryBudget } from '../core/budget.js';
import { batchEnd, batchStart, detach, lendEnded, ownedBytes } from './lend.js';
import { addressBytes } from './address.js';
import { takeFrame } from './frame-pool.js';

export const SUCCESS = 1, BACKPRESSURE = 0, DROPPED = 2;
const OP_TEXT = 1, OP_BINARY = 2, OP_CLOSE = 8, OP_PING = 9;

/** uWS.js's defaults: 16 KiB messages, 64 KiB of backpressure. */
export const DEFAULT_MAX_PAYLOAD_LENGTH = 16 * 1024;
export const DEFAULT_MAX_BACKPRESSURE = 64 * 1024;

/**
 * A connection's permessage-deflate after negotiation: the codec's
 * MessageDeflate (every runtime) or Node's zlib (node-deflate.ts).
 * compress() gives a whole message's frame payload (no 00 00 ff ff);
 * decompress() takes one with the tail appended and throws a ProtocolError
 * (1009 past maxPayloadLength, 1007 corrupt).
 */
export interface MessageCompressor {
  compress(data: Uint8Array): Uint8Array;
  decompress(dataWithTail: Uint8Array): Uint8Array;
}

/** The handlers and options of a route, as this door reads them. */
export interface SocketBehavior {
  maxPayloadLength?: number;
  /** Seconds without a byte from the peer before the connection is closed (0: never). uWS.js's default 120. */
  idleTimeout?: number;
  /** Ping a peer silent for half the idle timeout (default true). */
  sendPingsAutomatically?: boolean;
  /** A send counts as activity for the idle timeout (default true). */
  resetIdleTimeoutOnSend?: boolean;
  /** Minutes a socket may stay connected before it is closed (0: no limit, the default). */
  maxLifetime?: number;
  maxBackpressure?: number;
  closeOnBackpressureLimit?: boolean;
  open?: (ws: WebSocket) => void;
  message?: (ws: WebSocket, message: ArrayBuffer, isBinary: boolean) => void;
  drain?: (ws: WebSocket) => void;
  ping?: (ws: WebSocket, message: ArrayBuffer) => void;
  pong?: (ws: WebSocket, message: ArrayBuffer) => void;
  close?: (ws: WebSocket, code: number, message: ArrayBuffer) => void;
  /** A send or publish dropped past maxBackpressure. */
  dropped?: (ws: WebSocket, message: ArrayBuffer, isBinary: boolean) => void;
  /** A subscription changed the topic's count. */
  subscription?: (ws: WebSocket, topic: ArrayBuffer, newCount: number, oldCount: number) => void;
}

/** A route's sockets: the behavior they share and the set of those open (app.close() and the idle sweep walk it). */
export interface Route {
  readonly behavior: SocketBehavior;
  /** Adds an open socket (the route starts its idle sweep with the first). */
  added(ws: WebSocket): void;
  removed(ws: WebSocket): void;
  /** The socket's transport closed (after removed(): the close handler ran at end() or here). */
  gone?(ws: WebSocket): void;
  /** The App's server-wide byte budget (src/core/budget.ts), or null. */
  readonly budget?: MemoryBudget | null;
}

/** Idle timeouts are swept four times per timeout: a silent socket is pinged after 2 ticks and closed after 5 (1x-1.25x the timeout). */
export const IDLE_TICKS_PER_TIMEOUT = 4;

/** A server frame (unmasked): header and payload in one array from `alloc`. */
export function frameOf(opcode: number, payload: Uint8Array, rsv1: boolean, alloc: (n: number) => Uint8Array = ownedBytes): Uint8Array {
  const n = payload.byteLength, h = headerLength(n, false);
  // Not zeroed first where the platform can (lend.ts): every byte is written here. Zeroing was
  // half of this function's 35% of the App's samples at echo 1 MiB (bench/profile.mjs, Node 24).
  const frame = alloc(h + n);
  writeHeader(frame, 0, opcode, n, true, rsv1, -1);
  frame.set(payload, h);
  return frame;
}

const utf8 = new TextEncoder();
// After this turn's I/O (setImmediate where the runtime has it).
const afterTurn: (fn: () => void) => void = (globalThis as { setImmediate?: (fn: () => void) => void }).setImmediate ??
  ((fn) => { setTimeout(fn, 0); });
const topicName = (t: RecognizedString): string => typeof t === 'string' ? t : new TextDecoder().decode(bytesOf(t));

const CLOSED_ACCESS = 'Invalid access of closed uWS.WebSocket/SSLWebSocket.';
const EMPTY = new Uint8Array(0);

// The ArrayBuffer to lend for `data`: its own when `owned` (the decoder copies
// each whole message into fresh bytes of its exact size) and it spans it;
// else a copy (a shared empty array, an inflater's output, a close reason).
function lendable(data: Uint8Array, owned: boolean): ArrayBuffer {
  if (data.byteLength === 0) return new ArrayBuffer(0);
  return owned && data.byteOffset === 0 && data.byteLength === data.buffer.byteLength && data.buffer instanceof ArrayBuffer
    ? data.buffer : copyOf(data);
}

// A copy in an ArrayBuffer of its own (a Node Buffer's slice() would be a view of its pool).
function copyOf(data: Uint8Array): ArrayBuffer {
  const out = ownedBytes(data.byteLength);
  out.set(data);
  return out.buffer as ArrayBuffer;
}

export class WebSocket implements WireOwner, Subscriber, BudgetMember {
  [key: string]: unknown;
  /** @internal */ readonly _protocol = new Protocol();
  /** @internal The close handler ran: every method throws from here on. */ _closed = false;
  private closeTimer: ReturnType<typeof setTimeout> | null = null;
  /** @internal Subscribed topics (null: none yet). */ _topics: Set<string> | null = null;
  /** @internal Sweep ticks since the peer last sent a byte (or we sent, with resetIdleTimeoutOnSend). */ _idleTicks = 0;
  /** @internal */ readonly _behavior: SocketBehavior;
  /** @internal When the socket opened (ms), for maxLifetime. */ _openedAt = 0;
  /** The application saw backpressure: tell it when it is gone. */
  private wantsDrain = false;

  /** @internal */
  constructor(readonly _wire: Wire, private readonly route: Route, private userData: unknown,
    private readonly deflate: MessageCompressor | null, private readonly tree: TopicTree) {
    this._behavior = route.behavior;
  }

  /** @internal After the 101 is queued: the socket takes the wire and opens. */
  _open(first: Uint8Array | null): void {
    const inflater: Inflater | null = this.deflate === null ? null : {
      inflateSync: (data) => this.deflate!.decompress(data),
      inflate: (data, done) => { try { done(null, this.deflate!.decompress(data)); } catch (e) { done(e as Error); } },
      inflatingBytes: 0,
    };
    this._protocol.open(new Host(this), {
      isServer: true,
      maxPayload: this._behavior.maxPayloadLength ?? DEFAULT_MAX_PAYLOAD_LENGTH,
      inflater, alloc: ownedBytes,
      budget: this.route.budget ?? null, budgetMember: this,
    });
    this._wire.owner = this;
    // Only for maxLifetime: a time in ms is past V8's small integers, 16 B more per socket.
    if ((this._behavior.maxLifetime ?? 0) > 0) this._openedAt = Date.now();
    // Reads from here on land in the codec's input area in wasm memory, parsed where the kernel put them.
    this._wire.readInto(this._protocol.readTarget());
    this.route.added(this);
    // uWS.js's older examples read userData's fields on the socket itself (ws.url); getUserData() is the current way.
    if (typeof this.userData === 'object' && this.userData !== null) Object.assign(this, this.userData);
    this._behavior.open?.(this);
    if (first !== null && first.length > 0 && !this._closed) this.onData(first, 0, first.length);
  }

  private check(): void { if (this._closed) throw new Error(CLOSED_ACCESS); }

  // ---- the API ----

  /** Sends a message: 1 sent, 0 sent but queued behind backpressure, 2 dropped (past maxBackpressure). */
  send(message: RecognizedString, isBinary = false, compress = false): number {
    this.check();
    return this.sendFrame(isBinary ? OP_BINARY : OP_TEXT, bytesOf(message), compress);
  }

  /** Sends a ping; the status as send()'s. */
  ping(message: RecognizedString = EMPTY): number {
    this.check();
    const b = bytesOf(message);
    if (b.byteLength > 125) throw new RangeError('A ping carries at most 125 bytes');
    return this.sendFrame(OP_PING, b, false);
  }

  /** Starts the closing handshake with `code` and `shortMessage` (none: an empty close frame); the close handler runs now. */
  end(code?: number, shortMessage?: RecognizedString): void {
    this.check();
    let reason = shortMessage === undefined ? EMPTY : bytesOf(shortMessage);
    if (reason.byteLength > 123) reason = reason.subarray(0, 123);
    this._protocol.closeWith(code === undefined || code === 0 ? EMPTY : encodeClosePayload(code, reason));
    this.closed(code === undefined || code === 0 ? 1005 : code, reason);
  }

  /** Closes the connection now, without a close frame; the close handler runs now (code 1006). */
  close(): void {
    this.check();
    this._protocol.terminate();
    this.closed(1006, EMPTY);
  }

  /** Runs `cb` with this socket's writes corked (they leave in one write when it returns). */
  cork(cb: () => void): this {
    this.check();
    this._wire.cork(cb);
    return this;
  }

  /** Bytes sent and not yet taken by the kernel (this turn's corked writes included). */
  getBufferedAmount(): number {
    this.check();
    const n = this._wire.bufferedAmount();
    if (n > 0) this.wantsDrain = true;
    return n;
  }

  /** The userData given to res.upgrade(). */
  getUserData(): unknown { this.check(); return this.userData ??= {}; }

  /** The peer's IP address as text, in an ArrayBuffer (uWS.js's type). */
  getRemoteAddressAsText(): ArrayBuffer {
    this.check();
    return new TextEncoder().encode(this._wire.remoteAddress()).buffer as ArrayBuffer;
  }

  /** Subscribes to `topic`; false if subscribed already. */
  subscribe(topic: RecognizedString): boolean {
    this.check();
    const name = topicName(topic), n = this.tree.subscribe(this, name);
    if (n < 0) return false;
    this.subscription(name, n, n - 1);
    return true;
  }

  /** Unsubscribes from `topic`; false if it was not subscribed. */
  unsubscribe(topic: RecognizedString): boolean {
    this.check();
    const name = topicName(topic), n = this.tree.unsubscribe(this, name);
    if (n < 0) return false;
    this.subscription(name, n, n + 1);
    return true;
  }

  isSubscribed(topic: RecognizedString): boolean { this.check(); return this._topics?.has(topicName(topic)) ?? false; }

  getTopics(): string[] { this.check(); return this._topics === null ? [] : [...this._topics]; }

  /** Publishes to every subscriber of `topic` but this socket (the message framed once). */
  publish(topic: RecognizedString, message: RecognizedString, isBinary = false, compress = false): boolean {
    this.check();
    return publishTo(this.tree, topicName(topic), message, isBinary, compress, this);
  }

  private subscription(topic: string, newCount: number, oldCount: number): void {
    const handler = this._behavior.subscription;
    if (handler) this.lend(utf8.encode(topic), (ab) => handler(this, ab, newCount, oldCount));
  }

  /** @internal A published frame (shared by every subscriber: never modified). */
  _sendShared(frame: Uint8Array, payload: Uint8Array, opcode: number, compress: boolean): void {
    if (this._closed || this.overLimit(payload, opcode)) return;
    if (compress && this.deflate !== null) this._writeFrame(opcode, this.deflate.compress(payload), true);
    else this._wire.write(frame);
  }

  // Past maxBackpressure: dropped (the dropped handler hears of it), or the socket closed if asked.
  private overLimit(payload: Uint8Array, opcode: number): boolean {
    const max = this._behavior.maxBackpressure ?? DEFAULT_MAX_BACKPRESSURE;
    if (max <= 0 || this._wire.bufferedAmount() <= max) return false;
    // Over the limit with some of it only this turn's cork: write that out now and
    // count what the kernel did not take, as uWS.js does (it writes as its 16 KiB
    // cork buffer fills), so a burst in one turn is not dropped for a peer that reads.
    // Only at the limit: the common case keeps one write per turn.
    if (this._wire.backpressure() < this._wire.bufferedAmount()) {
      this._wire.flush();
      if (this._wire.bufferedAmount() <= max) return false;
    }
    const dropped = this._behavior.dropped;
    if (dropped && opcode !== OP_PING) this.lend(payload, (ab) => dropped(this, ab, opcode === OP_BINARY));
    if (this._behavior.closeOnBackpressureLimit && !this._closed) this.close();
    return true;
  }

  /** The peer's IP address in binary (4 bytes IPv4, 16 IPv6), as uWS.js gives it. */
  getRemoteAddress(): ArrayBuffer {
    this.check();
    return addressBytes(this._wire.remoteAddress()).buffer as ArrayBuffer;
  }

  private sendFrame(opcode: number, payload: Uint8Array, compress: boolean): number {
    if (this._protocol.state !== OPEN) return DROPPED;
    if (this.overLimit(payload, opcode)) { this.wantsDrain = true; return DROPPED; }
    let rsv1 = false;
    if (compress && this.deflate !== null && opcode !== OP_PING && payload.byteLength > 0) {
      payload = this.deflate.compress(payload);
      rsv1 = true;
    }
    this._writeFrame(opcode, payload, rsv1);
    if (this._behavior.resetIdleTimeoutOnSend !== false && opcode !== OP_PING) this._idleTicks = 0;
    if (this._wire.backpressure() === 0) return SUCCESS;
    this.wantsDrain = true;
    return BACKPRESSURE;
  }

  /** @internal One copy: header and payload in one chunk of this turn's write (the payload may be a lent message). */
  _writeFrame(opcode: number, payload: Uint8Array, rsv1: boolean): void {
    const n = payload.byteLength, h = headerLength(n, false), wire = this._wire;
    const offset = wire.reserve(h + n);
    if (offset < 0) {
      // Past the cork buffer: where the carrier says when it is done with it, a buffer used again (frame-pool.ts).
      wire.write(frameOf(opcode, payload, rsv1, wire.reusesFrames ? takeFrame : ownedBytes));
      return;
    }
    // Straight into the turn's cork buffer (wire.ts): no array per frame.
    const cork = corkBuffer();
    writeHeader(cork, offset, opcode, n, true, rsv1, -1);
    cork.set(payload, offset + h);
  }

  // The close handler, once; the socket is unusable from here on.
  private closed(code: number, reason: Uint8Array): void {
    if (this._closed) return;
    this._closed = true;
    this.tree.leaveAll(this);
    this.route.removed(this);
    const handler = this._behavior.close;
    if (handler) this.lend(reason, (ab) => handler(this, code, ab));
  }

  // Lends `data` to `fn` as an ArrayBuffer detached when `fn` returns.
  private lend(data: Uint8Array, fn: (ab: ArrayBuffer) => void, owned = false): void {
    const ab = lendable(data, owned);
    try { fn(ab); } finally { detach(ab); }
  }

  // ---- BudgetMember: what the App's memory budget asks (the core charges each read) ----

  /** @internal Incoming bytes charged to the budget (owned by the budget). */ _budgetHeld = 0;
  /** @internal */ _incomingBytes(): number { return this._protocol.incomingBytes(); }
  /** @internal */ _backlog(): number { return this._wire.bufferedAmount(); }
  /** @internal 1009 (incoming) closes with a close frame; 1008 (a peer not reading) terminates. */
  _budgetClose(code: number, reason: string): void { this._protocol.budgetClose(code, reason); }

  // ---- WireOwner: bytes from the transport ----

  /** @internal */
  onData(b: Uint8Array, start: number, end: number): void {
    this._idleTicks = 0;
    batchStart();
    try { this._protocol.receive(b.subarray(start, end)); } finally { batchEnd(); }
  }

  /** @internal `n` bytes read straight into the decoder's input area. */
  onReadInto(n: number): void {
    this._idleTicks = 0;
    const wire = this._wire, target = this._protocol.readTarget();
    if (wire.readTarget === target) {
      // Messages lent during this read are detached together at its end (lend.ts).
      batchStart();
      try { this._protocol.receiveRead(n); } finally { batchEnd(); }
      return;
    }
    // The codec was swapped since (tests force the scalar build): take this read by copy, the next into the new area.
    this._protocol.receive(wire.readTarget!.slice(0, n));
    wire.readInto(target);
  }

  /**
   * @internal The route's sweep, every tick: with an idle timeout, a ping after
   * `pingAt` silent ticks and the connection closed after `closeAfter`; past
   * maxLifetime (`now` against the time it opened), closed.
   */
  _tick(pingAt: number, closeAfter: number, now: number, lifetimeMs: number): void {
    if (lifetimeMs > 0 && now - this._openedAt >= lifetimeMs) { this.expire(); return; }
    if (closeAfter <= 0) return;
    const ticks = ++this._idleTicks;
    if (ticks === pingAt && this._behavior.sendPingsAutomatically !== false && this._protocol.state === OPEN) {
      this._writeFrame(OP_PING, EMPTY, false);
    } else if (ticks >= closeAfter) {
      this.expire();
    }
  }

  private expire(): void {
    if (!this._closed) this.close();
    else this._wire.close(); // closing already, and the peer went silent
  }

  /** @internal The peer sent FIN: without a close frame first, the connection is lost (1006). */
  onEnd(): void { this._wire.end(); }

  /** @internal */
  onClose(): void {
    if (this.closeTimer !== null) { clearTimeout(this.closeTimer); this.closeTimer = null; }
    this._protocol.transportClosed();
    this.closed(this._protocol.code, this._protocol.reason);
    this.route.gone?.(this);
  }

  /** @internal Everything written reached the kernel. */
  onDrain(): void {
    this.wantsDrain = false;
    if (!this._closed) this._behavior.drain?.(this);
  }

  /**
   * @internal A flush went out whole. If the application saw backpressure
   * (getBufferedAmount() counts this turn's queue, send() said 0 or 2), that is
   * a drain too: uWS.js's Backpressure example sends in drain until
   * getBufferedAmount() passes its mark. After this turn, so a drain handler
   * that sends again runs once per turn, not in a loop.
   */
  onFlushed(): void {
    if (!this.wantsDrain || this._closed || this._behavior.drain === undefined) return;
    this.wantsDrain = false;
    afterTurn(() => { if (!this._closed && this._wire.backpressure() === 0) this._behavior.drain?.(this); });
  }

  /** @internal A message, ping or pong from the peer, lent to its handler. */
  _received(handler: ((ws: WebSocket, m: ArrayBuffer, isBinary: boolean) => void) | undefined, data: Uint8Array, isBinary: boolean,
    isMessage: boolean): void {
    // A message straight from the decoder is ours to detach (fresh bytes of its size); what an
    // inflater returned may be its own buffer, and a control payload (<= 125 B) is copied anyway.
    if (!handler || this._closed) return;
    const ab = lendable(data, isMessage && this.deflate === null);
    try { handler(this, ab, isBinary); } finally { lendEnded(ab); }
  }

  /** @internal */
  _armCloseTimer(ms: number): void {
    if (this.closeTimer !== null) clearTimeout(this.closeTimer);
    this.closeTimer = setTimeout(() => this._wire.close(), ms);
    (this.closeTimer as { unref?: () => void }).unref?.();
  }
}

// What the core asks of the door (a separate object: ProtocolHost's ping/pong
// hear the peer's, the API's ping() sends one).
class Host implements ProtocolHost {
  constructor(private readonly ws: WebSocket) {}
  message(data: Uint8Array, isBinary: boolean): void { this.ws._received(this.ws._behavior.message, data, isBinary, true); }
  ping(data: Uint8Array): void { this.ws._received(this.ws._behavior.ping, data, false, false); }
  pong(data: Uint8Array): void { this.ws._received(this.ws._behavior.pong, data, false, false); }
  /** A protocol error: the core closes with its code; the close handler follows when the transport goes (uWS.js reports no error). */
  error(_err: ProtocolError): void { /* nothing more to say */ }
  sendControl(opcode: number, payload: Uint8Array): void { this.ws._writeFrame(opcode, payload, false); }
  sendClose(payload: Uint8Array): void {
    this.ws._writeFrame(OP_CLOSE, payload, false);
    this.ws._protocol.closeWritten(); // queued ahead of the FIN that end() sends after it
  }
  backlog(): number { return this.ws._wire.bufferedAmount(); }
  pauseReading(): void { this.ws._wire.pause(); }
  resumeReading(): void { this.ws._wire.resume(); }
  endTransport(): void { this.ws._wire.end(); }
  failTransport(): void { this.ws._wire.end(); }
  abortTransport(): void { this.ws._wire.close(); }
  armCloseTimer(ms: number): void { this.ws._armCloseTimer(ms); }
}

/** Publishes `message` to `topic`'s subscribers but `except`: framed once, compressed per subscriber only where asked and negotiated. */
export function publishTo(tree: TopicTree, topic: string, message: RecognizedString, isBinary: boolean, compress: boolean,
  except: WebSocket | null): boolean {
  const payload = bytesOf(message), opcode = isBinary ? OP_BINARY : OP_TEXT;
  return tree.publish(topic, frameOf(opcode, payload, false), payload, opcode, compress, except);
}
