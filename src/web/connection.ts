// One WebSocket connection after the handshake, on the codec and a Transport:
// it knows frames (messages, ping/pong, the closing handshake, failing on a
// protocol error with the decoder's close code), not sockets. The byte-stream
// driver (byte-stream.ts) feeds it what it reads and gives it a Transport.
import {
  FrameDecoder, FrameEncoder, OPCODE, ProtocolError, encodeClosePayload, isValidUtf8, type MessageDeflate,
} from '../codec/index.js';

export interface Transport {
  /** Queues bytes for the peer, in order; resolves when the transport took them (rejects if it is gone). */
  write(bytes: Uint8Array): Promise<void>;
  /** FIN after everything queued; the peer's FIN (or `abort` after closeTimeout) follows. */
  end(): void;
  /** Tears the connection down now. */
  abort(): void;
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
}

export const DEFAULT_MAX_PAYLOAD = 100 * 1024 * 1024;
export const DEFAULT_CLOSE_TIMEOUT = 30_000;
const utf8 = new TextEncoder();
const EMPTY = new Uint8Array(0);

export class Connection {
  state: 'open' | 'closing' | 'closed' = 'open';
  private readonly decoder: FrameDecoder;
  private readonly encoder: FrameEncoder;
  private closeSent = false;
  private closeReceived = false;
  private code = 1006;
  private reason = '';
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly closeTimeout: number;
  private readonly deflate: MessageDeflate | null;

  constructor(private readonly transport: Transport, private handler: ConnectionHandler, options: ConnectionOptions) {
    this.closeTimeout = options.closeTimeout ?? DEFAULT_CLOSE_TIMEOUT;
    this.encoder = new FrameEncoder({ mask: !options.isServer });
    this.deflate = options.deflate?.active ? options.deflate : null;
    this.decoder = new FrameDecoder({
      onMessage: (data, isBinary, compressed) => {
        if (this.state !== 'open') return;
        if (compressed) {
          // Inflated in this thread, maxPayload checked while inflating (1009),
          // a corrupt stream is 1007; the decoder leaves text of compressed
          // messages for us to validate.
          try {
            data = (this.deflate as MessageDeflate).decompress(data);
            if (!isBinary && !isValidUtf8(data)) throw new ProtocolError('Invalid WebSocket frame: invalid UTF-8 sequence', 1007, 'WS_ERR_INVALID_UTF8');
          } catch (e) {
            this.fail(e instanceof ProtocolError ? e : new ProtocolError(String(e), 1011, 'ERR_PERMESSAGE_DEFLATE'));
            return;
          }
        }
        this.handler.onMessage(data, isBinary);
      },
      onPing: (data) => { if (!this.closeSent) this.write(this.encoder.frame(OPCODE.pong, data)); },
      onPong: (data) => this.handler.onPong?.(data),
      onClose: (code, reason, payload) => {
        this.closeReceived = true;
        this.code = code;
        this.reason = reason;
        // Echo the peer's code and reason (an empty close is answered empty).
        const reply = code === 1005 ? EMPTY : payload.slice();
        this.afterDelivery(() => {
          if (!this.closeSent) this.sendClose(reply);
          this.finish();
        });
      },
      onError: (err: ProtocolError) => this.fail(err),
    }, { isServer: options.isServer, maxPayload: options.maxPayload ?? DEFAULT_MAX_PAYLOAD, perMessageDeflate: this.deflate !== null });
  }

  // _Fail the WebSocket Connection_ (§7.1.7): our close frame, then TCP.
  private fail(err: ProtocolError): void {
    this.handler.onError?.(err);
    this.afterDelivery(() => {
      if (!this.closeSent) this.sendClose(encodeClosePayload(err.closeCode));
      this.finish();
    });
  }

  /** Bytes read from the transport. */
  receive(chunk: Uint8Array): void {
    if (this.state !== 'closed') this.decoder.push(chunk);
  }

  /** Sends a message; resolves when the transport took its frame. */
  send(data: Uint8Array | string, isBinary = typeof data !== 'string'): Promise<void> {
    // Until our close frame is out (a close reply may wait for the application,
    // see afterDelivery), messages may still go (RFC 6455 §5.5.1).
    if (this.closeSent || this.state === 'closed') return Promise.reject(new Error('WebSocket is not open'));
    const bytes = typeof data === 'string' ? utf8.encode(data) : data;
    const opcode = isBinary ? OPCODE.binary : OPCODE.text;
    if (this.deflate !== null && this.deflate.shouldCompress(bytes.length)) {
      return this.write(this.encoder.frame(opcode, this.deflate.compress(bytes), { rsv1: true }));
    }
    return this.write(this.encoder.frame(opcode, bytes));
  }

  ping(data: Uint8Array = EMPTY): void {
    if (!this.closeSent) this.write(this.encoder.frame(OPCODE.ping, data));
  }

  /** Starts the closing handshake; throws on a code or reason RFC 6455 forbids. */
  close(code?: number, reason?: string): void {
    if (this.closeSent || this.state === 'closed') return;
    this.sendClose(encodeClosePayload(code, reason));
    this.state = 'closing';
    this.arm();
  }

  /** Tears the connection down without a closing handshake. */
  abort(): void {
    this.state = 'closed';
    this.transport.abort();
  }

  /** The transport reports that the peer closed or reset the connection (or our abort took effect). */
  transportClosed(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.state !== 'closed') this.state = 'closed';
    this.decoder.reset();
    this.deflate?.dispose();
    const report = this.handler;
    this.handler = CLOSED_HANDLER;
    report.onClose(this.closeReceived ? this.code : 1006, this.closeReceived ? this.reason : '', this.closeReceived && this.closeSent);
  }

  // The decoder ignores input after a close frame or an error; what the
  // application still does with the messages before it goes out first.
  private afterDelivery(then: () => void): void {
    if (this.state === 'open') this.state = 'closing';
    const wait = this.handler.delivered?.();
    if (!wait) { then(); return; }
    wait.then(then, then);
    this.arm(); // bounded: a reader that never reads does not hold the connection
  }

  private sendClose(payload: Uint8Array): void {
    this.closeSent = true;
    this.write(this.encoder.frame(OPCODE.close, payload)).catch(() => {});
  }

  private write(frame: Uint8Array): Promise<void> {
    const p = this.transport.write(frame);
    p.catch((e) => { if (this.state !== 'closed') { this.handler.onError?.(e instanceof Error ? e : new Error(String(e))); this.abort(); } });
    return p;
  }

  // Our side is done: FIN after what is queued, then wait (bounded) for the peer's.
  private finish(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.transport.end();
    this.arm();
  }

  private arm(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => { this.timer = undefined; this.transport.abort(); }, this.closeTimeout);
  }
}

const CLOSED_HANDLER: ConnectionHandler = { onMessage() {}, onClose() {} };
