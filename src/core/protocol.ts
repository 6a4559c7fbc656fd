// The connection core: one WebSocket connection after the handshake, sans I/O
// (python-websockets' Protocol is the model). Every door runs on it: the
// ws-compatible WebSocket (src/node/ws), the Web Streams door (src/web).
//
//   bytes in      receive(chunk) / receiveRead(n) (a read already in readTarget())
//   events out    host.message/ping/pong/error, in the order the peer sent them
//   frames out    host.sendControl / host.sendClose: the door frames and writes
//                 them in order with its own sends (ws orders a close frame
//                 behind queued sends, so the door's queue decides when)
//   transport     host.pauseReading/resumeReading/endTransport/failTransport/abortTransport
//   timers        host.armCloseTimer(ms); the door's timer calls abortTransport
//
// It owns the states, the closing handshake with one fail path and one
// error -> close-code map (inflateError), message limits (maxPayload on every
// header, in the decoder; the bytes held for the memory budget), control frames
// and automatic pongs, receive order around inflation (inflate is a transform
// the door brings: zlib in Node, the codec's deflate elsewhere) and liveness
// for the idle timeout. No timers, sockets or Node imports: it runs in every
// runtime, like the codec.
//
// Ready for any door: src/node/ws/websocket.ts (Host class) and
// src/web/connection.ts show the two ways to drive it; test/core-protocol.test.ts
// drives it with bytes only.
import { FrameDecoder, type DecoderHandler } from '../codec/decoder.js';
import { ProtocolError } from '../codec/errors.js';
import { encodeClosePayload } from '../codec/close.js';
import { isValidUtf8 } from '../codec/utf8.js';
import type { BudgetMember, MemoryBudget } from './budget.js';

export const CONNECTING = 0, OPEN = 1, CLOSING = 2, CLOSED = 3;
export const OP_PING = 9, OP_PONG = 10;

/** Default close timeout: how long we wait for the peer's close frame / TCP close (ws's 30 s). */
export const DEFAULT_CLOSE_TIMEOUT = 30_000;
/** Largest message accepted by default (ws's 100 MiB). */
export const DEFAULT_MAX_PAYLOAD = 100 * 1024 * 1024;

// Auto-pong stops while this much is queued for the peer: 1 MiB holds ~8,000
// pongs of the largest size, far beyond any peer that reads (broadcast's default
// maxBackpressure is the same figure). RFC 6455 §5.5.3 allows answering only
// the most recent ping, so a peer that pings without reading loses nothing.
export const PONG_BACKLOG_MAX = 1024 * 1024;

const EMPTY = new Uint8Array(0);

/** How a compressed message is inflated: the door brings the engine. */
export interface Inflater {
  /** The message inflated now, or null when it must wait (an async engine); throws on bad data. */
  inflateSync(data: Uint8Array): Uint8Array | null;
  /** Inflates off this turn; reading is paused meanwhile. */
  inflate(data: Uint8Array, done: (err: Error | null, out?: Uint8Array) => void): void;
  /** Output bytes an inflation under way holds (counted by the budget). */
  readonly inflatingBytes: number;
}

/** What the core asks of the door above it and the transport below it. */
export interface ProtocolHost {
  message(data: Uint8Array, isBinary: boolean): void;
  ping(data: Uint8Array): void;
  pong(data: Uint8Array): void;
  /** A protocol error, an inflate failure or a budget close: once per connection, after the close started. */
  error(err: ProtocolError): void;
  /** A control frame (an automatic pong), in order with the door's sends. */
  sendControl(opcode: number, payload: Uint8Array): void;
  /** Our close frame, in order with the door's sends; the door calls closeWritten() once the transport took it. */
  sendClose(payload: Uint8Array): void;
  /** Bytes queued for the peer and not yet taken by the transport. */
  backlog(): number;
  pauseReading(): void;
  /** Reading may go on (an inflation ended); the door keeps it paused if its user paused it. */
  resumeReading(): void;
  /** The closing handshake is done: end our side cleanly. */
  endTransport(): void;
  /** Our close frame for a protocol error went out: end the connection. */
  failTransport(): void;
  /** Tear the connection down now. */
  abortTransport(): void;
  /** Call abortTransport after `ms` unless the transport closed first (transportClosed() clears it). */
  armCloseTimer(ms: number): void;
  /**
   * Optional: the close reply waits for it (the application has dealt with the
   * messages delivered before the close frame; the Web Streams door's readers).
   */
  settled?(): Promise<void> | undefined;
}

export interface ProtocolOptions {
  isServer: boolean;
  maxPayload?: number;
  skipUTF8Validation?: boolean;
  /** Answer pings by ourselves (ws's autoPong, default true). */
  autoPong?: boolean;
  closeTimeout?: number;
  /** Present when permessage-deflate was negotiated. */
  inflater?: Inflater | null;
  /** Allocators and the whole-message UTF-8 check handed to the decoder (FrameDecoder's options). */
  alloc?: (n: number) => Uint8Array;
  allocWhole?: (n: number) => Uint8Array;
  isUtf8?: (bytes: Uint8Array) => boolean;
  /** The byte budget this connection counts against, and the member it knows the connection as. */
  budget?: MemoryBudget | null;
  budgetMember?: BudgetMember;
}

/** Corrupt or oversized compressed data as the protocol error it closes with (1007 corrupt, 1009 too big). */
export function inflateError(err: unknown): ProtocolError {
  if (err instanceof ProtocolError) return err;
  const e = err as (Error & { code?: string | number; closeCode?: number; wsCode?: string }) | null;
  const code = typeof e?.closeCode === 'number' ? e.closeCode : typeof e?.code === 'number' ? e.code : 1007;
  // As ws: corrupt data reports zlib's own message, code (Z_DATA_ERROR...) and errno.
  const cause = e?.cause as (Error & { errno?: number }) | undefined;
  const zlibError = code === 1007 && cause instanceof Error;
  const perr = new ProtocolError(zlibError ? cause.message : e?.message ?? 'Inflate failed', code,
    e?.wsCode ?? (code === 1009 ? 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' : 'Z_DATA_ERROR'));
  if (zlibError && cause.errno !== undefined) Object.assign(perr, { errno: cause.errno });
  return perr;
}

const invalidUtf8 = (): ProtocolError => new ProtocolError('Invalid WebSocket frame: invalid UTF-8 sequence', 1007, 'WS_ERR_INVALID_UTF8');

export class Protocol implements DecoderHandler {
  state = CONNECTING;
  /** Set by every read: the idle timeout counts any inbound bytes as life. */
  heard = false;
  /** The peer's close code (1005: its frame had none; 1006: no close frame came) and reason bytes. */
  code = 1006;
  reason: Uint8Array = EMPTY;
  closeSent = false;
  closeReceived = false;
  /** The connection was failed (protocol error, bad data, budget): our close, then the transport ends. */
  failed = false;
  private host!: ProtocolHost;
  private decoder: FrameDecoder | null = null;
  private inflater: Inflater | null = null;
  private autoPong = true;
  private validateUtf8 = true;
  private isUtf8: (bytes: Uint8Array) => boolean = isValidUtf8;
  /** How long the door waits for the peer's close frame, or its FIN after ours (ms). */
  closeTimeout = DEFAULT_CLOSE_TIMEOUT;
  /** Received events waiting behind an inflation, in order. */
  private queue: Array<() => void> | null = null;
  private inflating = false;
  /** Bytes of the compressed message being inflated (held until it ends). */
  private inflatingIn = 0;
  private errorReported = false;
  private transportEnding = false;
  private budget: MemoryBudget | null = null;
  private member: BudgetMember | null = null;

  /** The handshake is done: from here on the connection is OPEN. */
  open(host: ProtocolHost, options: ProtocolOptions): void {
    this.host = host;
    this.inflater = options.inflater ?? null;
    this.autoPong = options.autoPong ?? true;
    this.validateUtf8 = !options.skipUTF8Validation;
    if (options.isUtf8) this.isUtf8 = options.isUtf8;
    this.closeTimeout = options.closeTimeout ?? DEFAULT_CLOSE_TIMEOUT;
    this.decoder = new FrameDecoder(this, {
      isServer: options.isServer, maxPayload: options.maxPayload ?? DEFAULT_MAX_PAYLOAD,
      perMessageDeflate: this.inflater !== null, skipUTF8Validation: options.skipUTF8Validation,
      alloc: options.alloc, allocWhole: options.allocWhole, isUtf8: options.isUtf8,
    });
    this.state = OPEN;
    if (options.budget) {
      this.budget = options.budget;
      this.member = options.budgetMember ?? null;
      if (this.member) options.budget.join(this.member);
    }
  }

  // ---- bytes in ----

  /** Bytes read from the peer. */
  receive(chunk: Uint8Array): void {
    if (this.decoder === null) return;
    this.decoder.push(chunk);
    this.afterRead();
  }

  /** Where a transport may read the next bytes straight into (then receiveRead(n)); see FrameDecoder.readTarget. */
  readTarget(): Uint8Array { return this.decoder!.readTarget(); }

  /** The first `n` bytes of readTarget() are the next bytes read from the peer. */
  receiveRead(n: number): void {
    this.decoder!.pushRead(n);
    this.afterRead();
  }

  // What every read does after the decoder: liveness, and the budget sees what
  // the read left held (one compare when nothing is held).
  private afterRead(): void {
    this.heard = true;
    const budget = this.budget;
    if (budget !== null) {
      const held = this.incomingBytes();
      if (held !== this.member!._budgetHeld) budget.charge(this.member!, held);
    }
  }

  // ---- decoder events (DecoderHandler) ----

  onMessage(data: Uint8Array, isBinary: boolean, compressed: boolean): void {
    if (compressed) { this.enqueue(() => this.inflate(data, isBinary)); return; }
    if (this.queue !== null) { this.queue.push(() => this.deliver(data, isBinary)); return; }
    this.deliver(data, isBinary);
  }

  onPing(data: Uint8Array): void {
    this.enqueue(() => {
      // A peer that pings without reading our pongs would grow our write queue
      // without bound: past PONG_BACKLOG_MAX queued bytes, pings go unanswered.
      if (this.autoPong && this.state === OPEN && this.host.backlog() <= PONG_BACKLOG_MAX) this.host.sendControl(OP_PONG, data);
      this.host.ping(data);
    });
  }

  onPong(data: Uint8Array): void {
    this.enqueue(() => this.host.pong(data));
  }

  onClose(code: number, _reason: string, payload: Uint8Array): void {
    this.enqueue(() => {
      this.closeReceived = true;
      this.code = code;
      this.reason = payload.subarray(2);
      // Echo the peer's code and reason (an empty close is answered empty),
      // once the application dealt with what came before it.
      const reply = code === 1005 ? EMPTY : payload;
      this.afterSettled(() => this.closeWith(reply));
    });
  }

  // Behind any message still inflating: what came before the bad frame is delivered first.
  onError(err: ProtocolError): void {
    this.enqueue(() => this.fail(err));
  }

  // ---- receive order around inflation ----

  private enqueue(task: () => void): void {
    if (this.queue === null && !this.inflating) { task(); return; }
    (this.queue ??= []).push(task);
  }

  private deliver(data: Uint8Array, isBinary: boolean): void {
    if (this.state === CLOSED) return;
    this.host.message(data, isBinary);
  }

  private inflate(data: Uint8Array, isBinary: boolean): void {
    const inflater = this.inflater;
    if (inflater === null || this.state === CLOSED) return;
    let now: Uint8Array | null;
    try {
      now = inflater.inflateSync(data);
    } catch (err) {
      this.inflated(err, undefined, isBinary);
      return;
    }
    if (now !== null) { this.inflated(null, now, isBinary); return; }
    // The engine works off this turn: reading waits, so what queues behind is one read.
    this.inflating = true;
    this.queue ??= [];
    this.host.pauseReading();
    this.inflatingIn = data.length;
    inflater.inflate(data, (err, out) => {
      this.inflating = false;
      this.inflatingIn = 0;
      if (this.budget !== null && this.member !== null) this.budget.charge(this.member, this.incomingBytes());
      if (this.state === CLOSED) return;
      if (this.inflated(err, out, isBinary)) this.drain();
    });
  }

  // Delivers an inflated message, or fails the connection; true if delivered.
  private inflated(err: unknown, out: Uint8Array | undefined, isBinary: boolean): boolean {
    if (err || !out) {
      this.dropQueue();
      this.fail(inflateError(err));
      return false;
    }
    if (!isBinary && this.validateUtf8 && !this.isUtf8(out)) {
      this.dropQueue();
      this.fail(invalidUtf8());
      return false;
    }
    this.deliver(out, isBinary);
    return true;
  }

  // Nothing received after a failed message is delivered (a drain running now stops too).
  private dropQueue(): void {
    if (this.queue !== null) this.queue.length = 0;
    this.queue = null;
  }

  private drain(): void {
    const q = this.queue;
    while (q !== null && q.length > 0 && !this.inflating) q.shift()!();
    if (!this.inflating) {
      this.queue = null;
      if (this.state !== CLOSED) this.host.resumeReading();
    }
  }

  /** True while an inflation holds reading paused. */
  get isInflating(): boolean { return this.inflating; }

  // ---- the closing handshake ----

  /**
   * Starts (or answers) the closing handshake with `payload` (encodeClosePayload's
   * bytes). In CLOSING it only finishes what is due: the transport ends once
   * both close frames went (or ours after a failure).
   */
  closeWith(payload: Uint8Array): void {
    if (this.state === CLOSED || this.state === CONNECTING) return;
    if (this.state === CLOSING) {
      if (this.closeSent && (this.closeReceived || this.failed)) this.endTransport();
      return;
    }
    this.state = CLOSING;
    this.host.sendClose(payload);
    this.host.armCloseTimer(this.closeTimeout);
  }

  /** close(code, reason) as the APIs take it; throws on a code or reason RFC 6455 forbids. */
  close(code?: number, reason?: string | Uint8Array): void {
    if (this.state !== OPEN) { this.closeWith(EMPTY); return; }
    this.closeWith(encodeClosePayload(code, reason));
  }

  /** The door's write path handed our close frame to the transport. */
  closeWritten(): void {
    this.closeSent = true;
    if (this.closeReceived || this.failed) this.endTransport();
  }

  // Once: a close() in CLOSING and the close frame's write can both find the handshake done.
  private endTransport(): void {
    if (this.transportEnding) return;
    this.transportEnding = true;
    if (this.failed) this.host.failTransport(); else this.host.endTransport();
  }

  /**
   * _Fail the WebSocket Connection_ (RFC 6455 §7.1.7), the one path for every
   * error the peer causes: our close frame with the error's code, then the
   * transport ends; the error is reported once. The close event says 1006: no
   * close frame came from the peer.
   */
  fail(err: ProtocolError): void {
    if (this.failed) return;
    this.failed = true;
    this.queue = null;
    this.decoder?.reset(); // nothing the peer sent after the failure is delivered
    this.code = 1006;
    if (this.state === OPEN) {
      const payload = encodeClosePayload(err.closeCode);
      this.afterSettled(() => this.closeWith(payload));
    } else if (this.state === CLOSING) {
      this.host.failTransport();
    }
    this.reportError(err);
  }

  /** Reports an error to the door once per connection. */
  reportError(err: ProtocolError): void {
    if (this.errorReported) return;
    this.errorReported = true;
    this.host.error(err);
  }

  // The close reply waits (bounded by the close timeout) until the door says
  // the messages before it were dealt with, where it asks for that.
  private afterSettled(then: () => void): void {
    const wait = this.host.settled?.();
    if (!wait) { then(); return; }
    this.host.armCloseTimer(this.closeTimeout);
    wait.then(then, then);
  }

  /** terminate(): no handshake, the transport goes now. */
  terminate(): void {
    if (this.state === CLOSED) return;
    this.state = CLOSING;
    this.host.abortTransport();
  }

  // ---- limits ----

  /** Incoming bytes held: a message still arriving, a compressed one inflating. */
  incomingBytes(): number {
    if (this.decoder === null) return 0;
    return this.decoder.bufferedBytes + this.inflatingIn + (this.inflating && this.inflater ? this.inflater.inflatingBytes : 0);
  }

  /**
   * The budget closes us. 1009: what the peer sent is dropped now and the
   * connection fails as on a protocol error. 1008: the peer does not read our
   * sends, so a close frame would sit behind them: the transport goes now.
   */
  budgetClose(code: number, reason: string): void {
    this.budget = null;
    this.decoder?.reset();
    this.queue = null;
    const err = new ProtocolError(reason, code, 'WS_ERR_BUDGET_EXCEEDED');
    if (code === 1008 || this.state !== OPEN) {
      this.code = 1006;
      this.reportError(err);
      this.terminate();
      return;
    }
    this.fail(err);
  }

  /** The transport is gone: the connection is over. Input after it is ignored. */
  transportClosed(): void {
    this.state = CLOSED;
    this.decoder?.reset();
    this.queue = null;
    if (this.budget !== null && this.member !== null) this.budget.leave(this.member);
    this.budget = null;
  }

  /** Both close frames went over the wire (CloseEvent.wasClean). */
  get wasClean(): boolean { return this.closeReceived && this.closeSent; }
}
