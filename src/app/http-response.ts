// uWebSockets.js's HttpResponse: the status line and headers accumulate in one
// string and go out with the body in one write (the connection's writes are
// corked per turn); end() adds Content-Length, write() switches to chunked
// encoding. Valid until end() or the abort: any use after that throws, as in
// uWS.js. Users may attach their own fields (uWS.js allows it).
import type { Wire } from './wire.js';
import { addressBytes } from './address.js';

/** What a response needs from its connection. */
export interface ResponseHost {
  readonly wire: Wire;
  /** HEAD: Content-Length without the body. */
  readonly isHead: boolean;
  /** The connection closes after this response (HTTP/1.0, Connection: close). */
  closeAfter: boolean;
  /** The response is complete (sent). */
  responded(res: HttpResponse): void;
  /** res.upgrade(): hand the connection to the WebSocket side. */
  upgrade(res: HttpResponse, userData: unknown, key: string, protocol: string, extensions: string, context: unknown): void;
  /** The peer's address (binary, 4 or 16 bytes) and as text. */
  remoteAddress(): string;
}

export type RecognizedString = string | ArrayBuffer | ArrayBufferView;

// The head is not sent (OPEN), or sent for chunked write()s (CHUNKED) or a tryEnd() body of known size (SIZED).
const OPEN = 0, CHUNKED = 1, SIZED = 2, DONE = 3, ABORTED = 4;
const DISCARDED = 'Invalid access of discarded or aborted uWS.HttpResponse';
const utf8 = new TextEncoder();

/** The bytes of a RecognizedString: a view (not a copy) for binary, UTF-8 for strings. */
export function bytesOf(s: RecognizedString): Uint8Array {
  if (typeof s === 'string') return utf8.encode(s);
  if (s instanceof ArrayBuffer) return new Uint8Array(s);
  if (ArrayBuffer.isView(s)) return new Uint8Array(s.buffer, s.byteOffset, s.byteLength);
  throw new TypeError('Expected a string, an ArrayBuffer or a typed array');
}

function textOf(s: RecognizedString): string {
  return typeof s === 'string' ? s : new TextDecoder().decode(bytesOf(s));
}

/** UTF-8 length of a string without encoding it. */
function utf8Length(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) n += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) { n += 2; i++; } // a pair: 4 bytes for 2 units
    else n += 2;
  }
  return n;
}

// HTTP dates (RFC 9110 §5.6.7) change once a second: computed once per second.
let dateSecond = 0, dateLine = '';
function dateHeader(): string {
  const now = Date.now(), s = Math.floor(now / 1000);
  if (s !== dateSecond) { dateSecond = s; dateLine = `Date: ${new Date(now).toUTCString()}\r\n`; }
  return dateLine;
}

const HEADER_TEXT = /[\r\n]/;

// Past this much queued in the turn's cork, a streamed body (write(), tryEnd())
// goes out now, so a big body meets the kernel's backpressure instead of piling
// up in memory (uWS.js's cork buffer is 16 KiB; 64 KiB is one libuv read).
const STREAM_FLUSH_BYTES = 64 * 1024;

// Flushes a streaming body's queue when large; whether the connection has no backpressure.
function streamed(wire: { bufferedAmount(): number; flush(): void; backpressure(): number }): boolean {
  if (wire.bufferedAmount() > STREAM_FLUSH_BYTES) wire.flush();
  return wire.backpressure() === 0;
}

export class HttpResponse {
  [key: string]: unknown;
  /** @internal */ _state = OPEN;
  /** @internal Status line and headers so far. */ _head = '';
  /** @internal */ _onAborted: (() => void) | null = null;
  /** @internal */ _onData: ((chunk: ArrayBuffer, isLast: boolean) => void) | null = null;
  /** @internal */ _onWritable: ((offset: number) => boolean) | null = null;
  /** Body bytes written (tryEnd(), write()). */
  private offset = 0;

  /** @internal */
  constructor(private readonly host: ResponseHost) {}

  private check(): void { if (this._state >= DONE) throw new Error(DISCARDED); }

  /** "200 OK", "404 Not Found"...: first, or "200 OK" is written for you. */
  writeStatus(status: RecognizedString): this {
    this.check();
    if (this._state !== OPEN) throw new Error('writeStatus() after write() or tryEnd(): the head is sent');
    const s = textOf(status);
    if (HEADER_TEXT.test(s)) throw new TypeError('A status must not contain CR or LF');
    this._head = `HTTP/1.1 ${s}\r\n` + (this._head.startsWith('HTTP/1.1 ') ? this._head.slice(this._head.indexOf('\r\n') + 2) : this._head);
    return this;
  }

  writeHeader(key: RecognizedString, value: RecognizedString): this {
    this.check();
    if (this._state !== OPEN) throw new Error('writeHeader() after write() or tryEnd(): the head is sent');
    const k = textOf(key), v = textOf(value);
    if (HEADER_TEXT.test(k) || HEADER_TEXT.test(v)) throw new TypeError('A header must not contain CR or LF');
    this._head += `${k}: ${v}\r\n`;
    return this;
  }

  private statusLine(): string {
    return this._head.startsWith('HTTP/1.1 ') ? '' : 'HTTP/1.1 200 OK\r\n';
  }

  private closing(): string { return this.host.closeAfter ? 'Connection: close\r\n' : ''; }

  /** Writes a part of the body in chunked encoding (the head goes first). False when the connection has backpressure (wait for onWritable). */
  write(chunk: RecognizedString): boolean {
    this.check();
    if (this._state === SIZED) throw new Error('write() after tryEnd(): the body has a Content-Length');
    const wire = this.host.wire;
    if (this._state === OPEN) {
      wire.write(this.statusLine() + this._head + dateHeader() + this.closing() + 'Transfer-Encoding: chunked\r\n\r\n');
      this._state = CHUNKED;
    }
    const b = bytesOf(chunk);
    if (b.byteLength > 0 && !this.host.isHead) {
      wire.write(`${b.byteLength.toString(16)}\r\n`);
      wire.write(b.slice()); // a copy: the caller may reuse its buffer before the turn's write
      wire.write('\r\n');
    }
    this.offset += b.byteLength;
    return streamed(wire);
  }

  /**
   * Writes a part of a body of `totalSize` bytes (Content-Length; the head goes
   * first) and ends the response once that many were written. Returns [ok,
   * hasResponded]: ok is false while the connection has backpressure (the chunk
   * is taken whole anyway: getWriteOffset() counts it, so what onWritable's
   * handler re-sends from its offset is empty).
   */
  tryEnd(fullBodyOrChunk: RecognizedString, totalSize: number): [boolean, boolean] {
    this.check();
    if (this._state === CHUNKED) throw new Error('tryEnd() after write()');
    const wire = this.host.wire;
    if (this._state === OPEN) {
      wire.write(this.statusLine() + this._head + dateHeader() + this.closing() + `Content-Length: ${totalSize}\r\n\r\n`);
      this._state = SIZED;
    }
    let b = bytesOf(fullBodyOrChunk);
    if (b.byteLength > totalSize - this.offset) b = b.subarray(0, totalSize - this.offset);
    if (b.byteLength > 0 && !this.host.isHead) wire.write(b.slice());
    this.offset += b.byteLength;
    const ok = streamed(wire);
    if (this.offset < totalSize) return [ok, false];
    this._state = DONE;
    this._onData = null;
    this._onWritable = null;
    this.host.responded(this);
    return [ok, true];
  }

  /** Body bytes written so far (tryEnd(), write()). */
  getWriteOffset(): number { this.check(); return this.offset; }

  /** `handler(offset)` runs when the connection can take more after backpressure; it returns true when it wrote what it wanted. */
  onWritable(handler: (offset: number) => boolean): this {
    this.check();
    this._onWritable = handler;
    return this;
  }

  /** @internal The connection drained. */
  _writable(): void {
    const handler = this._onWritable;
    if (handler === null || this._state >= DONE) return;
    if (handler(this.offset) && this._onWritable === handler) this._onWritable = null;
  }

  /** Ends the response with `body` (Content-Length set), or ends chunked encoding. */
  end(body?: RecognizedString, closeConnection?: boolean): this {
    this.check();
    if (closeConnection) this.host.closeAfter = true;
    const wire = this.host.wire;
    if (this._state === CHUNKED) {
      if (body !== undefined) this.write(body);
      if (!this.host.isHead) wire.write('0\r\n\r\n');
    } else if (this._state === SIZED) {
      // The rest of a tryEnd() body.
      if (body !== undefined && !this.host.isHead) wire.write(bytesOf(body).slice());
    } else if (typeof body === 'string' || body === undefined) {
      const s = body ?? '';
      const head = this.statusLine() + this._head + dateHeader() + this.closing() + `Content-Length: ${utf8Length(s)}\r\n\r\n`;
      wire.write(this.host.isHead ? head : head + s);
    } else {
      const b = bytesOf(body);
      wire.write(this.statusLine() + this._head + dateHeader() + this.closing() + `Content-Length: ${b.byteLength}\r\n\r\n`);
      if (!this.host.isHead && b.byteLength > 0) wire.write(b.slice());
    }
    this._state = DONE;
    this._onData = null;
    this._onWritable = null;
    this.host.responded(this);
    return this;
  }

  /** Closes the connection now; onAborted's handler runs. */
  close(): this {
    this.check();
    this.host.wire.close();
    return this;
  }

  /** Called if the connection closes before the response ended. */
  onAborted(handler: () => void): this {
    this._onAborted = handler;
    return this;
  }

  /**
   * The request body, a chunk at a time; isLast on the last (a request without
   * a body gets one empty last chunk). Each chunk is detached when the handler
   * returns (uWS.js neuters it too): copy what you keep.
   */
  onData(handler: (chunk: ArrayBuffer, isLast: boolean) => void): this {
    this.check();
    this._onData = handler;
    return this;
  }

  /** Runs `cb` with this connection's writes corked: they leave in one write when it returns. */
  cork(cb: () => void): this {
    this.host.wire.cork(cb);
    return this;
  }

  /** Upgrades this request to a WebSocket on the route `context` (from the upgrade handler). */
  upgrade(userData: unknown, secWebSocketKey: RecognizedString, secWebSocketProtocol: RecognizedString,
    secWebSocketExtensions: RecognizedString, context: unknown): void {
    this.check();
    if (this._state !== OPEN) throw new Error('upgrade() after write() or tryEnd()');
    this._state = DONE;
    this.host.upgrade(this, userData, textOf(secWebSocketKey), textOf(secWebSocketProtocol), textOf(secWebSocketExtensions), context);
  }

  /** The peer's IP address as text, in an ArrayBuffer (uWS.js's type). */
  getRemoteAddressAsText(): ArrayBuffer {
    return utf8.encode(this.host.remoteAddress()).buffer as ArrayBuffer;
  }

  /** The peer's IP address in binary (4 bytes IPv4, 16 IPv6), as uWS.js gives it. */
  getRemoteAddress(): ArrayBuffer {
    return addressBytes(this.host.remoteAddress()).buffer as ArrayBuffer;
  }

  /** @internal The connection closed first. */
  _abort(): void {
    if (this._state >= DONE) return;
    this._state = ABORTED;
    this._onData = null;
    this._onWritable = null;
    const h = this._onAborted;
    this._onAborted = null;
    h?.();
  }

  /** @internal Whether the response ended (or was aborted). */
  get _done(): boolean { return this._state >= DONE; }
}
