// WebSocketStream (the WHATWG promise-and-streams WebSocket, as Chromium ships
// it) over any message source: our Node WebSocket (src/node/ws/websocket-stream.ts)
// or a Connection on a byte stream pair (./websocket-stream.ts). Text arrives as
// strings, binary as Uint8Array; writes take strings and BufferSource.
// Backpressure both ways: when the readable's queue is full the source stops
// reading from its socket, and a write resolves once the transport took it.

/** What a WebSocketStream sits on; `listen` wires its events to the stream. */
export interface MessageSource {
  readonly protocol: string;
  readonly extensions: string;
  /** Resolves when the transport took the message. */
  send(data: string | Uint8Array): Promise<void>;
  close(code?: number, reason?: string): void;
  abort(): void;
  pause(): void;
  resume(): void;
}

export interface MessageSink {
  message(data: string | Uint8Array): void;
  /** Once; `clean`: the closing handshake completed. */
  closed(code: number, reason: string, clean: boolean): void;
  /** Resolves when the messages delivered so far were read and the writes so far were sent (see drained below). */
  drained(): Promise<void>;
}

/** Opens a source; it reports to the sink from the moment it resolves. Rejects with signal.reason when the signal aborts first. */
export type SourceOpener = (sink: MessageSink, signal: AbortSignal) => Promise<MessageSource>;

export interface WebSocketStreamOptions {
  protocols?: string | string[];
  signal?: AbortSignal;
}

export interface WebSocketOpenInfo {
  readable: ReadableStream<string | Uint8Array>;
  /** Takes strings (text messages) and BufferSource (binary messages). */
  writable: WritableStream<any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- any: pipeTo from a readable of string | Uint8Array must type-check
  extensions: string;
  protocol: string;
}

export interface WebSocketCloseInfo {
  closeCode?: number;
  reason?: string;
}

/** The error a WebSocketStream's promises and streams reject with (a DOMException, as in the WHATWG spec). */
export class WebSocketError extends DOMException {
  readonly closeCode: number | null;
  readonly reason: string;
  constructor(message = '', init: WebSocketCloseInfo = {}) {
    super(message, 'WebSocketError');
    const { closeCode, reason = '' } = init;
    if (closeCode !== undefined) validateCloseCode(closeCode);
    validateReason(reason);
    this.closeCode = closeCode ?? (reason ? 1000 : null);
    this.reason = reason;
  }
}

const utf8 = new TextEncoder();

/** The WebSocket URL the WHATWG way: http(s) becomes ws(s), no fragment, else a SyntaxError. */
export function webSocketUrl(url: string | URL): URL {
  let u: URL;
  try { u = new URL(String(url)); } catch { throw new DOMException(`The URL '${url}' is invalid.`, 'SyntaxError'); }
  if (u.protocol === 'http:') u.protocol = 'ws:';
  else if (u.protocol === 'https:') u.protocol = 'wss:';
  if (u.protocol !== 'ws:' && u.protocol !== 'wss:') throw new DOMException(`The URL's scheme must be either 'ws' or 'wss'. '${u.protocol.slice(0, -1)}' is not allowed.`, 'SyntaxError');
  if (u.hash) throw new DOMException('The URL contains a fragment identifier', 'SyntaxError');
  return u;
}


/** A WebSocketError for a close that happened: any code a peer may send (or 1006), unvalidated. */
function closeError(message: string, code: number, reason: string): WebSocketError {
  const err = new WebSocketError(message);
  Object.assign(err as { closeCode: number | null; reason: string }, { closeCode: code, reason });
  return err;
}

function validateCloseCode(code: number): void {
  if (code !== 1000 && !(code >= 3000 && code <= 4999)) {
    throw new DOMException(`The close code must be either 1000, or between 3000 and 4999. ${code} is neither.`, 'InvalidAccessError');
  }
}

function validateReason(reason: string): void {
  if (utf8.encode(reason).length > 123) throw new DOMException('The close reason must not be greater than 123 UTF-8 bytes.', 'SyntaxError');
}

// The readable's queue, in bytes (UTF-16 units for text): past it the source
// stops reading. 16 KiB is Node's stream default, the point at which the Duplex
// of createWebSocketStream pauses the same socket.
const READABLE_HIGH_WATER = 16 * 1024;
const chunkSize = (chunk: string | Uint8Array) => (typeof chunk === 'string' ? chunk.length : chunk.byteLength);

/** A copy of what was written, as the message to send: strings stay text, BufferSource becomes binary. */
function toMessage(chunk: unknown): string | Uint8Array {
  if (typeof chunk === 'string') return chunk;
  if (chunk instanceof ArrayBuffer) return new Uint8Array(chunk.slice(0));
  if (ArrayBuffer.isView(chunk)) return new Uint8Array(chunk.buffer.slice(chunk.byteOffset, chunk.byteOffset + chunk.byteLength));
  if (typeof SharedArrayBuffer !== 'undefined' && chunk instanceof SharedArrayBuffer) return new Uint8Array(chunk.slice(0));
  throw new TypeError('A WebSocketStream writes strings and BufferSource (ArrayBuffer, typed arrays, DataView) only');
}

export class WebSocketStreamCore {
  readonly url: string;
  readonly opened: Promise<WebSocketOpenInfo>;
  readonly closed: Promise<WebSocketCloseInfo>;
  private source: MessageSource | undefined;
  /** Until the source opened (then dropped: an AbortController and its signal less per idle connection). */
  private opening: AbortController | null = new AbortController();
  private readableController!: ReadableStreamDefaultController<string | Uint8Array>;
  private writableController!: WritableStreamDefaultController;
  /** Writes accepted by the writable and not yet taken by the transport. */
  private writesPending = 0;
  private drainWaiters: Array<() => void> = [];
  private done = false;

  protected constructor(url: string, open: SourceOpener, signal?: AbortSignal) {
    this.url = url;
    let resolveOpened!: (v: WebSocketOpenInfo) => void;
    let rejectOpened!: (e: unknown) => void;
    let resolveClosed!: (v: WebSocketCloseInfo) => void;
    let rejectClosed!: (e: unknown) => void;
    this.opened = new Promise((res, rej) => { resolveOpened = res; rejectOpened = rej; });
    this.closed = new Promise((res, rej) => { resolveClosed = res; rejectClosed = rej; });
    // Nobody has to await them: an unawaited rejection must not crash a Node process.
    this.opened.catch(() => {});
    this.closed.catch(() => {});

    // The streams exist before the source opens: it may deliver messages (bytes
    // that came with the handshake) as soon as it is up.
    const readable = new ReadableStream<string | Uint8Array>({
      start: (c) => { this.readableController = c; },
      pull: () => { this.source?.resume(); this.notifyDrain(); },
      cancel: (reason) => this.closeWith(reason),
    }, { highWaterMark: READABLE_HIGH_WATER, size: chunkSize });
    const writable = new WritableStream<any>({ // eslint-disable-line @typescript-eslint/no-explicit-any -- strings and BufferSource
      start: (c) => { this.writableController = c; },
      write: (chunk) => {
        const sent = this.source!.send(toMessage(chunk));
        const settle = () => { this.writesPending--; this.notifyDrain(); };
        sent.then(settle, settle);
        return sent;
      },
      close: () => this.closeWith(undefined),
      abort: (reason) => this.closeWith(reason),
    }, { highWaterMark: 1, size: () => { this.writesPending++; return 1; } });

    const fail = (e: unknown) => {
      this.done = true;
      rejectOpened(e);
      rejectClosed(e);
      this.readableController.error(e);
      this.writableController.error(e);
    };
    if (signal?.aborted) { fail(signal.reason); return; }
    const onAbort = () => this.opening?.abort(signal!.reason);
    signal?.addEventListener('abort', onAbort, { once: true });

    const sink: MessageSink = {
      message: (data) => {
        if (this.done) return;
        const c = this.readableController;
        try { c.enqueue(data); } catch { return; } // cancelled
        if ((c.desiredSize ?? 0) <= 0) this.source?.pause();
      },
      closed: (code, reason, clean) => {
        if (this.done) return;
        this.done = true;
        const err = closeError(clean ? 'The WebSocket was closed' : 'The WebSocket closed without a closing handshake', code, reason);
        if (clean) {
          try { this.readableController.close(); } catch { /* cancelled or errored */ }
          this.writableController.error(err);
          resolveClosed({ closeCode: code, reason });
        } else {
          try { this.readableController.error(err); } catch { /* already errored */ }
          this.writableController.error(err);
          rejectClosed(err);
        }
        this.notifyDrain();
      },
      drained: () => this.drained(),
    };

    open(sink, this.opening!.signal).then((source) => {
      signal?.removeEventListener('abort', onAbort);
      this.source = source;
      this.opening = null;
      resolveOpened({ readable, writable, extensions: source.extensions, protocol: source.protocol });
    }, (e) => {
      signal?.removeEventListener('abort', onAbort);
      if (!this.done) fail(e);
    });
  }

  /**
   * Resolves once every message received so far was read and every write
   * accepted so far went to the transport, then one more turn of the event
   * loop, so that what a reader writes back in reaction goes first. The source
   * holds its close reply (or its close on a protocol error) on this, as the
   * Node WebSocket's synchronous 'message' handlers get to answer before it.
   */
  private async drained(): Promise<void> {
    for (;;) {
      while (!this.done && (this.readableController.desiredSize !== READABLE_HIGH_WATER || this.writesPending > 0)) {
        await new Promise<void>((r) => this.drainWaiters.push(r));
      }
      await new Promise((r) => setTimeout(r, 0));
      if (this.done || (this.readableController.desiredSize === READABLE_HIGH_WATER && this.writesPending === 0)) return;
    }
  }

  private notifyDrain(): void {
    for (const w of this.drainWaiters.splice(0)) w();
  }

  /** Starts the closing handshake (before the opening one completed: abandons it). */
  close(closeInfo: WebSocketCloseInfo = {}): void {
    const { closeCode, reason = '' } = closeInfo;
    if (closeCode !== undefined) validateCloseCode(closeCode);
    validateReason(reason);
    if (this.done) return;
    if (!this.source) {
      this.opening?.abort(new WebSocketError('The WebSocket was closed before the opening handshake completed', { closeCode, reason }));
      return;
    }
    this.source.close(closeCode ?? (reason ? 1000 : undefined), reason || undefined);
  }

  // A cancelled readable or an aborted/closed writable closes the WebSocket,
  // with the code and reason of a WebSocketError reason, else without a code.
  private closeWith(reason: unknown): void {
    if (this.done || !this.source) return;
    if (reason instanceof WebSocketError && reason.closeCode !== null) this.source.close(reason.closeCode, reason.reason || undefined);
    else this.source.close();
  }
}
