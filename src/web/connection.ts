// One WebSocket connection of the Web Streams door, on the connection core
// (src/core/protocol.ts: states, the closing handshake, control frames, limits,
// liveness) and a Transport: this file frames what the core and the application
// send, and reports to the handler. The byte-stream driver (byte-stream.ts)
// feeds it what it reads and gives it a Transport.
import { FrameEncoder, OPCODE, type MessageDeflate, type ProtocolError } from '../codec/index.js';
import {
  CLOSED, CLOSING, DEFAULT_CLOSE_TIMEOUT, DEFAULT_MAX_PAYLOAD, OPEN, Protocol, type Inflater, type ProtocolHost,
} from '../core/protocol.js';
import type { MemoryBudget } from '../core/budget.js';
import type { Heartbeat } from '../core/heartbeat.js';

export { DEFAULT_CLOSE_TIMEOUT, DEFAULT_MAX_PAYLOAD };

export interface Transport {
  /** Queues bytes for the peer, in order; resolves when the transport took them (rejects if it is gone). */
  write(bytes: Uint8Array): Promise<void>;
  /** FIN after everything queued; the peer's FIN (or `abort` after closeTimeout) follows. */
  end(): void;
  /** Tears the connection down now. */
  abort(): void;
  /** Optional: bytes queued and not yet taken by the peer's side (budget, heartbeat, auto-pong limit). */
  backlog?(): number;
}

export interface ConnectionHandler {
  onMessage(data: Uint8Array, isBinary: boolean): void;
  onPong?(data: Uint8Array): void;
  /**
   * Once, when the transport is gone: the peer's close code and reason (1005
   * when its close frame had none, 1006 when none came), and whether both close
   * frames went over the wire.
   */
  onClose(code: number, reason: string, wasClean: boolean): void;
  /** A protocol error from the peer (the connection is failed with its code), or a transport error. */
  onError?(err: Error): void;
  /**
   * When given, the close reply (or the close after a protocol error) waits
   * for it: the application has dealt with the messages delivered before.
   */
  delivered?(): Promise<void> | undefined;
}

export interface ConnectionOptions {
  isServer: boolean;
  /** Largest message accepted (bytes); ws's default is 100 MiB. */
  maxPayload?: number;
  /** Time to wait for the peer's close frame, or for its FIN after ours (ms). ws uses 30 s. */
  closeTimeout?: number;
  /** permessage-deflate as negotiated by the handshake (src/codec/permessage-deflate.ts); absent: none. */
  deflate?: MessageDeflate | null;
  /** The byte budget this connection's held bytes count against (src/core/budget.ts). */
  budget?: MemoryBudget | null;
  /** The idle timeout watching this connection (src/core/heartbeat.ts). */
  heartbeat?: Heartbeat | null;
}

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder();
const EMPTY = new Uint8Array(0);
// Server frames are unmasked: one stateless encoder serves every server connection
// (an object and a closure less per idle connection, bench/edge-idle.mjs).
const SERVER_FRAMES = new FrameEncoder({ mask: false });

// The codec's deflate inflates in this thread, so the core never waits on it.
class SyncInflater implements Inflater {
  readonly inflatingBytes = 0;
  constructor(private readonly deflate: MessageDeflate) {}
  inflateSync(data: Uint8Array): Uint8Array { return this.deflate.decompress(data); }
  inflate(data: Uint8Array, done: (err: Error | null, out?: Uint8Array) => void): void { done(null, this.deflate.decompress(data)); }
}

export class Connection {
  private readonly p = new Protocol();
  private readonly encoder: FrameEncoder;
  private readonly deflate: MessageDeflate | null;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private ended = false;
  /** @internal Incoming bytes charged to the budget (owned by the budget). */ _budgetHeld = 0;

  constructor(private readonly transport: Transport, private handler: ConnectionHandler, options: ConnectionOptions) {
    this.encoder = options.isServer ? SERVER_FRAMES : new FrameEncoder({ mask: true });
    this.deflate = options.deflate?.active ? options.deflate : null;
    this.p.open(new Host(this), {
      isServer: options.isServer, maxPayload: options.maxPayload ?? DEFAULT_MAX_PAYLOAD,
      closeTimeout: options.closeTimeout ?? DEFAULT_CLOSE_TIMEOUT,
      inflater: this.deflate !== null ? new SyncInflater(this.deflate) : null,
      budget: options.budget, budgetMember: this,
    });
    options.heartbeat?.watch(this);
  }

  /** 'closed' once our side is done (FIN sent or the transport gone). */
  get state(): 'open' | 'closing' | 'closed' {
    const s = this.p.state;
    return s === OPEN ? 'open' : s === CLOSING && !this.ended ? 'closing' : 'closed';
  }

  /** The ready state as numbers (1 open, 2 closing, 3 closed), as the budget and heartbeat read it. */
  get readyState(): number { return this.p.state; }

  /** Bytes read from the transport. */
  receive(chunk: Uint8Array): void {
    if (this.p.state !== CLOSED) this.p.receive(chunk);
  }

  /** Sends a message; resolves when the transport took its frame. */
  send(data: Uint8Array | string, isBinary = typeof data !== 'string'): Promise<void> {
    // Until our close frame is out (a close reply may wait for the application,
    // see ConnectionHandler.delivered), messages may still go (RFC 6455 §5.5.1).
    if (this.p.closeSent || this.p.state === CLOSED) return Promise.reject(new Error('WebSocket is not open'));
    const bytes = typeof data === 'string' ? utf8.encode(data) : data;
    const opcode = isBinary ? OPCODE.binary : OPCODE.text;
    if (this.deflate !== null && this.deflate.shouldCompress(bytes.length)) {
      return this.write(this.encoder.frame(opcode, this.deflate.compress(bytes), { rsv1: true }));
    }
    return this.write(this.encoder.frame(opcode, bytes));
  }

  ping(data: Uint8Array = EMPTY): void {
    if (!this.p.closeSent && this.p.state !== CLOSED) this.write(this.encoder.frame(OPCODE.ping, data)).catch(() => {});
  }

  /** Starts the closing handshake; throws on a code or reason RFC 6455 forbids. */
  close(code?: number, reason?: string): void {
    if (this.p.closeSent || this.p.state === CLOSED) return;
    if (this.p.state === OPEN) this.p.close(code, reason);
  }

  /** Tears the connection down without a closing handshake. */
  abort(): void { this.p.terminate(); }

  /** The transport reports that the peer closed or reset the connection (or our abort took effect). */
  transportClosed(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const p = this.p;
    p.transportClosed();
    this.deflate?.dispose();
    const report = this.handler;
    this.handler = CLOSED_HANDLER;
    report.onClose(p.closeReceived ? p.code : 1006, p.closeReceived ? utf8Decoder.decode(p.reason) : '', p.wasClean);
  }

  // ---- what the budget and the heartbeat ask of a connection ----

  /** @internal */ _incomingBytes(): number { return this.p.incomingBytes(); }
  /** @internal */ _backlog(): number { return this.transport.backlog?.() ?? 0; }
  /** @internal */ _budgetClose(code: number, reason: string): void { this.p.budgetClose(code, reason); }
  /** @internal Set by every read: the heartbeat counts any inbound bytes as life. */
  get _heard(): boolean { return this.p.heard; }
  set _heard(heard: boolean) { this.p.heard = heard; }
  /** @internal The heartbeat's terminate(). */
  terminate(): void { this.abort(); }

  // ---- what the core asks of the door (through Host) ----

  /** @internal */ _report(): ConnectionHandler { return this.handler; }

  /** @internal Writes a frame the core asked for (a pong, our close frame). */
  _sendFrame(opcode: number, payload: Uint8Array): void {
    this.write(this.encoder.frame(opcode, payload)).catch(() => {});
  }

  /** @internal Our side is done: FIN after what is queued, then wait (bounded) for the peer's. */
  _end(): void {
    if (this.ended) return;
    this.ended = true;
    this.transport.end();
    this._arm(this.p.closeTimeout);
  }

  /** @internal */ _abortTransport(): void { this.transport.abort(); }

  /** @internal */ _closeWritten(): void { this.p.closeWritten(); }

  /** @internal */
  _arm(ms: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => { this.timer = undefined; this.transport.abort(); }, ms);
  }

  private write(frame: Uint8Array): Promise<void> {
    const p = this.transport.write(frame);
    p.catch((e) => {
      if (this.p.state !== CLOSED && !this.ended) {
        this.handler.onError?.(e instanceof Error ? e : new Error(String(e)));
        this.abort();
      }
    });
    return p;
  }
}

// The core's view of a Connection (a separate object: the core's ping/pong
// events would clash with Connection.ping()).
class Host implements ProtocolHost {
  constructor(private readonly c: Connection) {}
  message(data: Uint8Array, isBinary: boolean): void { this.c._report().onMessage(data, isBinary); }
  ping(): void {}
  pong(data: Uint8Array): void { this.c._report().onPong?.(data); }
  error(err: ProtocolError): void { this.c._report().onError?.(err); }
  sendControl(opcode: number, payload: Uint8Array): void { this.c._sendFrame(opcode, payload); }
  sendClose(payload: Uint8Array): void {
    this.c._sendFrame(OPCODE.close, payload);
    // The transport writes in order and ends after what is queued: the frame is as good as sent.
    this.c._closeWritten();
  }
  backlog(): number { return this.c._backlog(); }
  // Inflation is synchronous here: the core never pauses reading.
  pauseReading(): void {}
  resumeReading(): void {}
  endTransport(): void { this.c._end(); }
  failTransport(): void { this.c._end(); }
  abortTransport(): void { this.c._abortTransport(); }
  armCloseTimer(ms: number): void { this.c._arm(ms); }
  settled(): Promise<void> | undefined { return this.c._report().delivered?.(); }
}

const CLOSED_HANDLER: ConnectionHandler = { onMessage() {}, onClose() {} };
