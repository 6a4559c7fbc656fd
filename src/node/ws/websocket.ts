// One WebSocket connection, server or client side: ws's Node API and the
// browser's WebSocket API on the same object, a door on the connection core
// (src/core/protocol.ts: states, the closing handshake, limits, control frames,
// receive order around inflation). This file owns ws's events, its send queue
// (Blob reads, compression, fragments) and bufferedAmount, and the socket.
import type { Duplex } from 'node:stream';
import type { ClientRequest, IncomingMessage } from 'node:http';
import { Buffer, isUtf8 } from 'node:buffer';
import process from 'node:process';
import type { ProtocolError } from '../../codec/errors.js';
import { Protocol, CONNECTING, OPEN, CLOSING, CLOSED, type ProtocolHost } from '../../core/protocol.js';
import { Sender, readEnded, readStarted, type WriteCallback } from '../transport/sender.js';
import { WebSocketEventTarget } from './events.js';
import type { PerMessageDeflate } from '../deflate/permessage-deflate.js';
import { connectClient } from './client.js';
import type { ClientOptions as DialOptions } from './client-options.js';
import { CLOSE_TIMEOUT, type ConnectionOptions } from './connection-options.js';
import { abortHandshake } from './dialing.js';
import type { Broadcaster } from '../fanout/broadcast.js';
import type { Transport } from '../transport/transport.js';
import { directReadStats, transportFor } from '../transport/net.js';
import { toBuffer } from '../transport/to-buffer.js';

export type BinaryType = 'nodebuffer' | 'arraybuffer' | 'fragments' | 'blob';
export type Data = Buffer | ArrayBuffer | Buffer[] | Blob;
export type SendData = string | Buffer | ArrayBuffer | ArrayBufferView | Blob | number | readonly Buffer[] | readonly number[];

/** The events and listener signatures of a connection, as in ws (typed for TypeScript users). */
export interface WebSocketEvents {
  open: (this: WebSocket) => void;
  message: (this: WebSocket, data: Data, isBinary: boolean) => void;
  close: (this: WebSocket, code: number, reason: Buffer) => void;
  error: (this: WebSocket, err: Error) => void;
  ping: (this: WebSocket, data: Buffer) => void;
  pong: (this: WebSocket, data: Buffer) => void;
  upgrade: (this: WebSocket, res: IncomingMessage) => void;
  'unexpected-response': (this: WebSocket, req: ClientRequest, res: IncomingMessage) => void;
  redirect: (this: WebSocket, url: string, req: ClientRequest) => void;
}

export interface SendOptions { binary?: boolean; compress?: boolean; fin?: boolean; mask?: boolean }

/** ws's client options, finishRequest called with the WebSocket. */
export type ClientOptions = DialOptions<WebSocket>;

const READY_STATES = ['CONNECTING', 'OPEN', 'CLOSING', 'CLOSED'];
const OP_TEXT = 1, OP_BINARY = 2, OP_CLOSE = 8, OP_PING = 9, OP_PONG = 10;
const EMPTY = Buffer.alloc(0);
const kWs = Symbol('wasmsocket.websocket');
const NOOP = (): void => {};

type SocketWithWs = Duplex & { [kWs]?: WebSocket };

// What the connection core asks of this door and of the socket under it (one
// small object per connection; the core's events arrive here in the peer's order).
// Payloads are Buffers: the decoder allocates with Buffer (bufferAlloc,
// messageAlloc), zlib inflates into Buffers.
class Host implements ProtocolHost {
  constructor(private readonly ws: WebSocket) {}
  message(data: Uint8Array, isBinary: boolean): void { this.ws._deliver(data as Buffer, isBinary); }
  ping(data: Uint8Array): void { this.ws.emit('ping', data); }
  pong(data: Uint8Array): void { this.ws.emit('pong', data); }
  error(err: ProtocolError): void { this.ws._emitError(err); }
  sendControl(_opcode: number, payload: Uint8Array): void { this.ws.pong(payload as Buffer, !this.ws._isServer, NOOP); }
  sendClose(payload: Uint8Array): void { this.ws._sendCloseFrame(payload); }
  backlog(): number { return this.ws._backlog(); }
  pauseReading(): void { this.ws._socket?.pause(); }
  resumeReading(): void { if (!this.ws.isPaused) this.ws._socket?.resume(); }
  endTransport(): void { this.ws._transport!.end(this.ws._socket!); }
  failTransport(): void { this.ws._transport!.fail(this.ws._socket!); }
  abortTransport(): void { this.ws._transport!.abort(this.ws._socket!); }
  armCloseTimer(ms: number): void { this.ws._armCloseTimer(ms); }
}

const bufferAlloc = (n: number): Uint8Array => Buffer.allocUnsafe(n);

// Whole received messages of 512 B-4 KiB are carved from a 64 KiB slab, as
// Node's Buffer pool does with 8 KiB: one backing store per ~64 1 KiB messages
// instead of per 8 (1 KiB echo: 0.81-0.87M msgs per server CPU-second before,
// 0.83-0.95M after). Below 512 B Node's pool already holds 16+ per store and
// its allocation is cheaper than Buffer.from(slab) (32 B echo was 3% slower).
// A kept message pins its slab, as a ws message pins the 64 KiB read it is a
// view of. Messages still arriving use bufferAlloc (their bytes are counted).
const SLAB_SIZE = 64 * 1024;
const SLAB_MIN = 512;
const SLAB_MAX = 4 * 1024;
let slab: ArrayBuffer | null = null;
let slabOff = 0;
function messageAlloc(n: number): Uint8Array {
  if (n < SLAB_MIN || n > SLAB_MAX) return Buffer.allocUnsafe(n);
  if (slab === null || slabOff + n > SLAB_SIZE) {
    slab = Buffer.allocUnsafeSlow(SLAB_SIZE).buffer as ArrayBuffer;
    slabOff = 0;
  }
  const out = Buffer.from(slab, slabOff, n);
  slabOff = (slabOff + n + 7) & ~7; // 8-byte aligned, as Node's pool
  return out;
}

const NO_OPTIONS: SendOptions = Object.freeze({});

/** A send waiting in the queue; `cb` hears of it if the connection ends first. */
interface QueuedSend { run: () => void; cb?: WriteCallback }
/** The async step of the send at the head of the queue (ws's wording when the socket goes away meanwhile). */
interface InFlight { kind: 'blob' | 'deflate'; cb?: WriteCallback }
const CUT_SHORT = {
  blob: 'The socket was closed while the blob was being read',
  deflate: 'The socket was closed while data was being compressed',
};

export class WebSocket extends WebSocketEventTarget {
  // The ready-state constants live on the class and the prototype, enumerable and
  // read-only, as in ws and the browser (defined below the class).
  declare static readonly CONNECTING: 0;
  declare static readonly OPEN: 1;
  declare static readonly CLOSING: 2;
  declare static readonly CLOSED: 3;
  declare readonly CONNECTING: 0;
  declare readonly OPEN: 1;
  declare readonly CLOSING: 2;
  declare readonly CLOSED: 3;

  /** @internal The connection core: state, closing handshake, limits, receive order. */ _p = new Protocol();
  /** @internal */ _isServer: boolean;
  /** @internal The byte duplex under the connection (a net.Socket, an HTTP/2 stream, any Duplex). */ _socket: Duplex | null = null;
  /** @internal How that duplex is ended and torn down (transport.ts). */ _transport: Transport | null = null;
  /** @internal */ _req: ClientRequest | null = null;
  /** @internal */ _protocol = '';
  /** @internal */ _extensions = '';
  /** @internal */ _pmd: PerMessageDeflate | null = null;
  /** @internal */ _url = '';
  /** @internal The server's fan-out, for subscribe()/publish(). */ _broadcaster: Broadcaster<WebSocket> | null = null;
  private _topics: Set<string> | null = null;
  private _binaryType: BinaryType = 'nodebuffer';
  private _sender: Sender | null = null;
  private _opts: ConnectionOptions = { maxPayload: 100 * 1024 * 1024, skipUTF8Validation: false, autoPong: true, closeTimeout: CLOSE_TIMEOUT };
  private _closeTimer: NodeJS.Timeout | null = null;
  private _errorEmitted = false;
  private _paused = false;
  /** Opcode of a fragmented send in progress (send with fin: false), 0 when none. */
  private _fragmentOpcode = 0;
  private _fragmentCompressed = false;
  /** Sends waiting behind async work (a Blob being read, a message being deflated), in order. */
  private _sendQueue: QueuedSend[] | null = null;
  /** The queued send whose async step (Blob read, deflate) is under way; null when none. */
  private _inflight: InFlight | null = null;
  /** close() was called while sends were queued: the close frame waits behind them (as in ws). */
  private _closeQueued = false;
  private _queuedBytes = 0;
  /** _nextSend is running the queue; `_sendMore`: a task finished and the next should run. */
  private _sending = false;
  private _sendMore = false;
  /** Bytes of sends attempted in CLOSING/CLOSED: ws keeps counting them in bufferedAmount. */
  private _afterCloseBytes = 0;
  /** Broadcast frames waiting for a fragmented send to finish. */
  private _heldFrames: Array<{ frame: Buffer; compressed: boolean }> | null = null;
  /** @internal Incoming bytes charged to the budget (owned by the budget). */ _budgetHeld = 0;

  constructor(address: string | URL | null, protocols?: string | string[] | ClientOptions, options?: ClientOptions) {
    super();
    if (address === null) {
      this._isServer = true;
      return;
    }
    this._isServer = false;
    let list: string[];
    if (protocols === undefined) list = [];
    else if (Array.isArray(protocols)) list = protocols;
    else if (typeof protocols === 'object' && protocols !== null) { options = protocols; list = []; }
    else list = [protocols]; // null or '' included: rejected as invalid subprotocols, as in ws
    connectClient(this, address, list, options ?? {});
  }

  // Typed listener registration (the same EventEmitter methods, ws's event signatures).
  on<E extends keyof WebSocketEvents>(event: E, listener: WebSocketEvents[E]): this;
  on(event: string | symbol, listener: (this: WebSocket, ...args: any[]) => void): this;
  on(event: string | symbol, listener: (...args: any[]) => void): this { return super.on(event, listener); }
  once<E extends keyof WebSocketEvents>(event: E, listener: WebSocketEvents[E]): this;
  once(event: string | symbol, listener: (this: WebSocket, ...args: any[]) => void): this;
  once(event: string | symbol, listener: (...args: any[]) => void): this { return super.once(event, listener); }
  off<E extends keyof WebSocketEvents>(event: E, listener: WebSocketEvents[E]): this;
  off(event: string | symbol, listener: (this: WebSocket, ...args: any[]) => void): this;
  off(event: string | symbol, listener: (...args: any[]) => void): this { return super.off(event, listener); }
  addListener<E extends keyof WebSocketEvents>(event: E, listener: WebSocketEvents[E]): this;
  addListener(event: string | symbol, listener: (this: WebSocket, ...args: any[]) => void): this;
  addListener(event: string | symbol, listener: (...args: any[]) => void): this { return super.addListener(event, listener); }

  get readyState(): number { return this._p.state; }
  /** @internal The core's state, for the handshake code (CONNECTING until the socket is set). */
  get _readyState(): number { return this._p.state; }
  set _readyState(state: number) { this._p.state = state; }
  /** @internal Set by every read (by the core): the heartbeat counts any inbound bytes as life. */
  get _heard(): boolean { return this._p.heard; }
  set _heard(heard: boolean) { this._p.heard = heard; }
  get protocol(): string { return this._protocol; }
  get extensions(): string { return this._extensions; }
  get url(): string { return this._url; }
  get isPaused(): boolean { return this._paused; }
  get binaryType(): BinaryType { return this._binaryType; }
  set binaryType(type: BinaryType) {
    if (type === 'nodebuffer' || type === 'arraybuffer' || type === 'fragments' || type === 'blob') this._binaryType = type;
  }

  /** CloseEvent.wasClean: both close frames went over the wire. */
  protected _wasClean(): boolean { return this._p.wasClean; }

  /**
   * Bytes queued by send() and not yet handed to the kernel, as ws counts them:
   * the socket's write queue, sends waiting on async work, and sends attempted
   * after close. This tick's batch is handed to the socket first, so the figure
   * is the socket's own (ws writes every frame straight to the socket).
   */
  get bufferedAmount(): number {
    this._sender?.flush(true);
    return this._backlog() + this._afterCloseBytes;
  }

  // ---- connection set-up ----

  /** @internal Takes over an upgraded socket: from here on the connection is OPEN. */
  _setSocket(socket: Duplex, head: Buffer, opts: ConnectionOptions, pmd: PerMessageDeflate | null,
    transport: Transport = transportFor(socket)): void {
    this._opts = opts;
    this._pmd = pmd;
    this._socket = socket;
    this._transport = transport;
    (socket as SocketWithWs)[kWs] = this;
    const p = this._p;
    p.open(new Host(this), {
      isServer: this._isServer, maxPayload: opts.maxPayload, skipUTF8Validation: opts.skipUTF8Validation,
      autoPong: opts.autoPong, closeTimeout: opts.closeTimeout, inflater: pmd,
      alloc: bufferAlloc, allocWhole: messageAlloc, isUtf8, budget: opts.budget, budgetMember: this,
    });
    this._sender = new Sender(socket, !this._isServer, opts.generateMask, transport.writeDirect);
    transport.open(socket);
    // Reads straight into the decoder's wasm input area where the transport can
    // (no Buffer per read, no copy in); bytes that came with the upgrade go the
    // 'data' way.
    if (head.length > 0 || !transport.readDirect?.(socket, p.readTarget(), socketOnRead)) {
      if (head.length > 0) socket.unshift(head);
    }
    // 'data' is listened to on the direct path too: bytes a program pushes into
    // the socket itself (socket.push/unshift, as ws users and tests do) still
    // reach the decoder.
    socket.on('data', socketOnData);
    socket.on('close', socketOnClose);
    socket.on('end', socketOnEnd);
    socket.on('error', socketOnError);
    opts.heartbeat?.watch(this);
    this.emit('open');
  }

  // ---- memory budget (src/core/budget.ts; the core counts and closes) ----

  /** @internal Incoming bytes held: a message still arriving, a compressed one inflating. */
  _incomingBytes(): number { return this._p.incomingBytes(); }

  /** @internal The budget closes us (1009: incoming, 1008: a peer not reading our sends). */
  _budgetClose(code: number, reason: string): void { this._p.budgetClose(code, reason); }

  // ---- receiving (the core delivers, in the peer's order) ----

  /** @internal */
  _deliver(data: Buffer, isBinary: boolean): void {
    this.emit('message', isBinary ? this._asBinaryType(data) : data, isBinary);
  }

  private _asBinaryType(data: Buffer): Data {
    switch (this._binaryType) {
      case 'nodebuffer': return data;
      case 'arraybuffer': return data.buffer.slice(data.byteOffset, data.byteOffset + data.length) as ArrayBuffer;
      case 'fragments': return [data];
      case 'blob': return new Blob([data as Uint8Array<ArrayBuffer>]);
    }
  }

  /** @internal Emits 'error' where someone listens: a peer's bad input must not crash the process. */
  _emitError(err: Error): void {
    if (this._errorEmitted) return;
    this._errorEmitted = true;
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }

  // ---- sending ----

  send(data: SendData, options?: SendOptions | WriteCallback, cb?: WriteCallback): void {
    // The common case straight to the sender: a whole message of bytes on an
    // open connection with no compression and nothing queued (what the general
    // path below does for it, without its checks and one call).
    if (data instanceof Uint8Array && this._p.state === OPEN && this._pmd === null && this._sendQueue === null &&
      this._fragmentOpcode === 0 && typeof options !== 'function') {
      const opts = options ?? NO_OPTIONS;
      if (opts.fin !== false) {
        this._sender!.frame((opts.binary ?? true) ? OP_BINARY : OP_TEXT, data, true, false, cb, opts.mask);
        return;
      }
    }
    if (typeof options === 'function') { cb = options; options = {}; }
    if (this._p.state === CONNECTING) throw new Error('WebSocket is not open: readyState 0 (CONNECTING)');
    if (typeof data === 'number') data = data.toString();
    else if (Array.isArray(data)) data = toBuffer(data);
    else if (data === undefined) data = EMPTY; // ws: send() with no data sends an empty binary message
    if (this._p.state !== OPEN) { this._sendAfterClose(data, cb); return; }
    const opts = options ?? {};
    const binary = opts.binary ?? typeof data !== 'string';
    const fin = opts.fin !== false;
    const compress = this._pmd !== null && opts.compress !== false;
    const mask = opts.mask;
    const blob = !(data instanceof Uint8Array) && data instanceof Blob;
    const deflate = compress && !blob && this._shouldCompress(data);
    if (this._sendQueue !== null || blob || deflate) {
      this._queueSend(data, binary, fin, compress, cb, mask, deflate);
      return;
    }
    this._sendNow(data as string | Buffer | ArrayBuffer | ArrayBufferView, binary, fin, false, cb, mask);
  }

  private _shouldCompress(data: SendData): boolean {
    if (this._fragmentOpcode !== 0) return this._fragmentCompressed;
    const len = typeof data === 'string' ? Buffer.byteLength(data) : data instanceof Blob ? data.size
      : (data as ArrayBufferView | ArrayBuffer).byteLength;
    return len >= this._pmd!.sendThreshold;
  }

  // Compresses in this thread (permessage-deflate.ts compressSync) and sends;
  // false when that cannot be done now (the message then takes the queue).
  private _sendCompressedNow(data: string | Buffer | ArrayBuffer | ArrayBufferView, binary: boolean, fin: boolean, cb?: WriteCallback,
    mask?: boolean): boolean {
    let out: Buffer | null;
    try {
      out = this._pmd!.compressSync(typeof data === 'string' ? Buffer.from(data) : toBuffer(data), fin);
    } catch (err) {
      if (cb) process.nextTick(cb, err);
      return true;
    }
    if (out === null) return false;
    this._sendNow(out, binary, fin, this._fragmentOpcode === 0, cb, mask);
    return true;
  }

  private _sendNow(data: string | Buffer | ArrayBuffer | ArrayBufferView, binary: boolean, fin: boolean, rsv1: boolean, cb?: WriteCallback,
    mask?: boolean): void {
    let opcode: number;
    if (this._fragmentOpcode === 0) {
      opcode = binary ? OP_BINARY : OP_TEXT;
      if (!fin) { this._fragmentOpcode = opcode; this._fragmentCompressed = rsv1; }
    } else {
      opcode = 0;
      rsv1 = false;
      if (fin) this._fragmentOpcode = 0;
    }
    // Any Uint8Array (a Buffer is one) goes to the sender as it is: toBuffer's
    // Buffer.isBuffer alone was ~15 ns a message.
    const payload = typeof data === 'string' || data instanceof Uint8Array ? data : toBuffer(data);
    this._sender!.frame(opcode, payload, fin, rsv1, cb, mask);
    if (fin && opcode === 0) this._releaseHeldFrames();
  }

  // Sends that need work first (Blob, deflate) go through one ordered queue.
  // A message to compress is compressed at this tick's flush, not inside
  // send(): as with ws's deflate, bufferedAmount counts it and a close() or
  // terminate() in the same tick finds it still queued.
  private _queueSend(data: SendData, binary: boolean, fin: boolean, compress: boolean, cb?: WriteCallback, mask?: boolean,
    defer = false): void {
    const size = typeof data === 'string' ? Buffer.byteLength(data) : data instanceof Blob ? data.size
      : (data as ArrayBufferView).byteLength;
    this._queuedBytes += size;
    const run = (): void => {
      const next = (bytes: Buffer | string): void => {
        this._queuedBytes -= size;
        if (!this._canSendQueued()) { this._sendAfterClose(bytes, cb); this._nextSend(); return; }
        const wantCompress = compress && (this._fragmentOpcode !== 0 ? this._fragmentCompressed
          : (typeof bytes === 'string' ? Buffer.byteLength(bytes) : bytes.length) >= this._pmd!.sendThreshold);
        if (!wantCompress) { this._sendNow(bytes, binary, fin, false, cb, mask); this._nextSend(); return; }
        if (this._sendCompressedNow(bytes, binary, fin, cb, mask)) { this._nextSend(); return; }
        const buf = typeof bytes === 'string' ? Buffer.from(bytes) : bytes;
        const flight: InFlight = this._inflight = { kind: 'deflate', cb };
        this._pmd!.compress(buf, fin, (err, out) => {
          if (this._inflight !== flight) return; // the socket closed meanwhile: its callback has run
          this._inflight = null;
          if (err || !out) {
            cb?.(err ?? new Error('Compression failed'));
            this._nextSend();
            return;
          }
          if (this._canSendQueued()) this._sendNow(out, binary, fin, this._fragmentOpcode === 0, cb, mask);
          else this._sendAfterClose(buf, cb);
          this._nextSend();
        });
      };
      if (data instanceof Blob) this._readBlob(data, cb, next);
      else next(typeof data === 'string' ? data : toBuffer(data as Buffer));
    };
    this._enqueue({ run, cb }, defer);
  }

  private _enqueue(task: QueuedSend, defer = false): void {
    if (this._sendQueue !== null) this._sendQueue.push(task);
    else if (defer) { this._sendQueue = [task]; this._sender!.defer(this._runDeferred); }
    else { this._sendQueue = []; task.run(); }
  }

  // The tick's flush reached sends deferred to it. A socket destroyed meanwhile
  // (terminate) fails them in order with ws's wording, state still CLOSING.
  private readonly _runDeferred = (): void => {
    if (this._sendQueue === null) return;
    if (this._socket === null || this._socket.destroyed) {
      this._cutShort(new Error(CUT_SHORT.deflate), undefined);
      return;
    }
    this._nextSend();
  };

  // Reads a Blob for the send at the head of the queue. A Blob that cannot be
  // read fails the connection as in ws: callbacks hear the error, 'error' is
  // emitted once, the socket is ended.
  private _readBlob(blob: Blob, cb: WriteCallback | undefined, then: (bytes: Buffer) => void): void {
    // As in ws, a Blob read outlives the socket: its callback (and those queued
    // behind it) hear how it ended once the read is done, even after 'close'.
    const flight: InFlight = this._inflight = { kind: 'blob', cb };
    blob.arrayBuffer().then((ab) => {
      if (this._inflight !== flight) return;
      this._inflight = null;
      if (this._socket === null || this._socket.destroyed) { this._cutShort(new Error(CUT_SHORT.blob), cb); return; }
      then(Buffer.from(ab));
    }, (err: Error) => {
      if (this._inflight !== flight) return;
      this._inflight = null;
      this._cutShort(err, cb);
      if (this._p.state === CLOSED) return; // no 'error' after 'close'
      if (this._p.state === OPEN) {
        this._p.state = CLOSING;
        this._armCloseTimer(this._opts.closeTimeout);
      }
      this._socket?.end();
      this._emitError(err);
    });
  }

  // A queued send still goes out while its close() waits behind it in the queue.
  private _canSendQueued(): boolean {
    return this._p.state === OPEN || (this._closeQueued && this._p.state === CLOSING);
  }

  // Runs the queue on. Tasks that finish synchronously (a message compressed in
  // this thread) call back here: a loop, not recursion, so a tick with
  // thousands of queued sends does not grow the stack.
  private _nextSend(): void {
    if (this._sending) { this._sendMore = true; return; }
    this._sending = true;
    try {
      do {
        this._sendMore = false;
        const q = this._sendQueue;
        if (q === null) break;
        const next = q.shift();
        if (next) next.run(); else this._sendQueue = null;
      } while (this._sendMore);
    } finally {
      this._sending = false;
    }
  }

  private _sendAfterClose(data: SendData | undefined, cb?: WriteCallback): void {
    if (data !== undefined) {
      this._afterCloseBytes += typeof data === 'string' ? Buffer.byteLength(data) : data instanceof Blob ? data.size
        : typeof data === 'number' ? String(data).length : toBuffer(data).length;
    }
    if (cb) {
      const err = new Error(`WebSocket is not open: readyState ${this._p.state} (${READY_STATES[this._p.state]})`);
      process.nextTick(cb, err);
    }
  }

  ping(data?: SendData, mask?: boolean | WriteCallback, cb?: WriteCallback): void {
    this._control(OP_PING, data, mask, cb);
  }

  pong(data?: SendData, mask?: boolean | WriteCallback, cb?: WriteCallback): void {
    this._control(OP_PONG, data, mask, cb);
  }

  private _control(opcode: number, data: SendData | undefined, mask: boolean | WriteCallback | undefined, cb?: WriteCallback): void {
    if (this._p.state === CONNECTING) throw new Error('WebSocket is not open: readyState 0 (CONNECTING)');
    if (typeof data === 'function') { cb = data as unknown as WriteCallback; data = undefined; }
    else if (typeof mask === 'function') { cb = mask; }
    if (typeof data === 'number') data = data.toString();
    const payload = data === undefined ? EMPTY : typeof data === 'string' ? Buffer.from(data)
      : data instanceof Blob ? data : toBuffer(data);
    const size = payload instanceof Blob ? payload.size : payload.length;
    if (size > 125) throw new RangeError('The data size must not be greater than 125 bytes');
    if (this._p.state !== OPEN) { this._sendAfterClose(payload, cb); return; }
    const masked = typeof mask === 'boolean' ? mask : undefined;
    if (payload instanceof Blob) {
      // A Blob is read first; the control frame keeps its place among queued sends.
      this._enqueue({ cb, run: () => this._readBlob(payload, cb, (bytes) => {
        if (this._p.state === OPEN) this._sender!.frame(opcode, bytes, true, false, cb, masked);
        else this._sendAfterClose(bytes, cb);
        this._nextSend();
      }) });
      return;
    }
    if (this._sendQueue !== null) {
      // Behind queued sends (ws orders control frames behind a compressing message too).
      this._queuedBytes += size;
      this._sendQueue.push({ cb, run: () => {
        this._queuedBytes -= size;
        if (this._canSendQueued()) this._sender!.frame(opcode, payload, true, false, cb, masked);
        else this._sendAfterClose(payload, cb);
        this._nextSend();
      } });
      return;
    }
    this._sender!.frame(opcode, payload, true, false, cb, masked);
  }

  // ---- closing ----

  close(code?: number, reason?: string | Buffer): void {
    const state = this._p.state;
    if (state === CLOSED) return;
    if (state === CONNECTING) {
      abortHandshake(this, 'WebSocket was closed before the connection was established');
      return;
    }
    this._p.close(code, reason);
  }

  /**
   * @internal The core's close frame goes out behind sends waiting on async
   * work (a Blob being read, a message being deflated): ws queues it behind them too.
   */
  _sendCloseFrame(payload: Uint8Array): void {
    const writeClose = (): void => {
      this._closeQueued = false;
      this._sender!.frame(OP_CLOSE, payload, true, false, (err) => { if (!err) this._p.closeWritten(); });
      this._sender!.flush();
    };
    if (this._sendQueue !== null) {
      this._closeQueued = true;
      this._sendQueue.push({ run: () => { writeClose(); this._nextSend(); } });
    } else {
      writeClose();
    }
  }

  /** @internal The socket is torn down after `ms` unless it closes first. */
  _armCloseTimer(ms: number): void {
    if (this._closeTimer) clearTimeout(this._closeTimer);
    const transport = this._transport!, socket = this._socket!;
    this._closeTimer = setTimeout(() => transport.abort(socket), ms);
  }

  terminate(): void {
    if (this._p.state === CLOSED) return;
    if (this._p.state === CONNECTING) {
      abortHandshake(this, 'WebSocket was closed before the connection was established');
      return;
    }
    if (this._socket) this._p.terminate();
  }

  pause(): void {
    if (this._p.state === CONNECTING || this._p.state === CLOSED) return;
    this._paused = true;
    this._socket!.pause();
  }

  resume(): void {
    if (this._p.state === CONNECTING || this._p.state === CLOSED) return;
    this._paused = false;
    if (!this._p.isInflating) this._socket!.resume();
  }

  /**
   * @internal Writes a frame framed elsewhere (broadcast), in order with send().
   * While a fragmented send is open (send with fin: false) it waits for the last
   * fragment: a data frame may not land inside another message. `compressed`:
   * the frame was deflated by someone else's stream, so ours restarts after it.
   */
  _sendRaw(frame: Buffer, compressed = false): boolean {
    if (this._p.state !== OPEN) return false;
    if (this._sendQueue !== null) {
      this._sendQueue.push({ run: () => { this._writeRaw(frame, compressed); this._nextSend(); } });
      return true;
    }
    this._writeRaw(frame, compressed);
    return true;
  }

  private _writeRaw(frame: Buffer, compressed: boolean): void {
    if (this._fragmentOpcode !== 0) {
      this._queuedBytes += frame.length;
      (this._heldFrames ??= []).push({ frame, compressed });
      return;
    }
    this._putRaw(frame, compressed);
  }

  private _putRaw(frame: Buffer, compressed: boolean): void {
    this._sender!.raw(frame);
    if (compressed) this._pmd?.forgetDeflateContext();
  }

  private _releaseHeldFrames(): void {
    const held = this._heldFrames;
    if (held === null) return;
    this._heldFrames = null;
    for (const { frame, compressed } of held) {
      this._queuedBytes -= frame.length;
      this._putRaw(frame, compressed);
    }
  }

  /** @internal Bytes queued for the kernel, not counting this tick's unflushed batch (bounded by the sender). */
  _backlog(): number {
    const s = this._sender;
    return this._queuedBytes + (s !== null ? s.queuedBytes : 0);
  }

  // ---- topics (uWebSockets-style pub/sub, served by the WebSocketServer) ----

  /** Subscribes this connection to `topic`; `wss.publish(topic, data)` reaches it. */
  subscribe(topic: string): boolean {
    if (!this._broadcaster || this._p.state !== OPEN) return false;
    (this._topics ??= new Set()).add(topic);
    this._broadcaster.subscribe(this, topic);
    return true;
  }

  unsubscribe(topic: string): boolean {
    if (!this._broadcaster || !this._topics?.delete(topic)) return false;
    return this._broadcaster.unsubscribe(this, topic);
  }

  isSubscribed(topic: string): boolean { return this._topics?.has(topic) ?? false; }

  getTopics(): string[] { return this._topics ? [...this._topics] : []; }

  /** @internal The socket closed: the connection is over. */
  _onSocketClose(): void {
    const p = this._p;
    p.state = CLOSING; // queued sends' callbacks below hear CLOSING, as in ws
    if (this._closeTimer) clearTimeout(this._closeTimer);
    this._sender?.discard();
    this._heldFrames = null;
    this._failQueuedSends();
    this._pmd?.cleanup();
    this._closeQueued = false;
    if (this._topics && this._broadcaster) for (const t of this._topics) this._broadcaster.unsubscribe(this, t);
    this._topics = null;
    p.transportClosed(); // CLOSED; the decoder and the budget let go
    this.emit('close', p.code, p.closeReceived && p.reason.length > 0 ? Buffer.from(p.reason) : EMPTY);
  }

  // Sends still queued behind async work when the socket goes away: each callback
  // hears it once, in order, while the state is CLOSING (ws's wording and order).
  // A Blob being read finishes first (_readBlob reports to the queue then).
  private _failQueuedSends(): void {
    const flight = this._inflight;
    if (flight?.kind === 'blob') return;
    this._inflight = null;
    if (this._sendQueue === null) return;
    this._cutShort(new Error(CUT_SHORT.deflate), flight?.cb);
  }

  // Fails the send in flight (`cb`) and every send queued behind it with `err`, in order.
  private _cutShort(err: Error, cb: WriteCallback | undefined): void {
    const q = this._sendQueue;
    this._sendQueue = null;
    cb?.(err);
    if (q) for (const t of q) t.cb?.(err);
  }

  /** @internal Ends a connection that never opened (handshake failure). */
  _emitClose(): void {
    this._p.state = CLOSED;
    this.emit('close', 1006, EMPTY);
  }
}

// ws's object shape, which libraries introspect, spread and proxy: the ready-state
// constants are enumerable, read-only, non-configurable on the class and the
// prototype; the attributes and onX handlers are enumerable, configurable
// accessors on the prototype (class syntax makes accessors non-enumerable).
READY_STATES.forEach((name, value) => {
  const desc = { value, enumerable: true, writable: false, configurable: false };
  Object.defineProperty(WebSocket, name, desc);
  Object.defineProperty(WebSocket.prototype, name, desc);
});
for (const name of ['binaryType', 'bufferedAmount', 'extensions', 'isPaused', 'protocol', 'readyState', 'url']) {
  Object.defineProperty(WebSocket.prototype, name, { enumerable: true });
}
for (const name of ['onclose', 'onerror', 'onmessage', 'onopen']) {
  const desc = Object.getOwnPropertyDescriptor(WebSocketEventTarget.prototype, name)!;
  Object.defineProperty(WebSocket.prototype, name, { ...desc, enumerable: true, configurable: true });
}

// Set while a direct read is shown to wire taps as a 'data' event: our own
// 'data' listener must not decode those bytes a second time.
let tapping = false;

function socketOnData(this: SocketWithWs, chunk: Buffer): void {
  if (tapping) return;
  const ws = this[kWs]!;
  readStarted();
  try {
    ws._p.receive(chunk);
  } finally {
    readEnded();
  }
}

// A read that landed in the decoder's input area (transport.readDirect).
function socketOnRead(this: SocketWithWs, n: number): void {
  const ws = this[kWs]!;
  const p = ws._p;
  directReadStats.reads++;
  // Someone else listens to the raw socket (a wire tap, as with 'data' reads;
  // socketOnData is ours): they get a copy of each read, before the decoder has
  // it, as a prepended 'data' listener would with ws.
  if (this.listenerCount('data') > 1) {
    const tap = Buffer.from(p.readTarget().subarray(0, n));
    tapping = true;
    try { this.emit('data', tap); } finally { tapping = false; }
  }
  readStarted();
  try {
    p.receiveRead(n);
  } finally {
    readEnded();
  }
}

function socketOnEnd(this: SocketWithWs): void {
  const ws = this[kWs]!;
  ws._p.state = CLOSING;
  // Our side is usually ended already (after the close handshake): ending it
  // again builds an ERR_STREAM_ALREADY_FINISHED error, 2.6% of the setup
  // benchmark's server time in a profile.
  if (!this.writableEnded) this.end();
}

function socketOnClose(this: SocketWithWs): void {
  const ws = this[kWs]!;
  this.removeListener('data', socketOnData);
  this.removeListener('end', socketOnEnd);
  ws._onSocketClose();
}

function socketOnError(this: SocketWithWs): void {
  const ws = this[kWs]!;
  this.removeListener('error', socketOnError);
  this.on('error', NOOP);
  ws._p.state = CLOSING;
  ws._transport!.abort(this);
}
