// One HTTP/1.1 connection of the App until it upgrades: heads found and
// parsed (http-head.ts), each request handed to the routes, its body streamed
// to res.onData, keep-alive and pipelining in order (the next request waits
// for the response before it; reads pause meanwhile), an idle HTTP connection
// closed by the App's one sweep timer. Bounded: a head in progress is kept up
// to maxHeaderSize; bytes of a pipelined request that came with the read
// before its turn, up to one read (64 KiB), while reads are paused.
import {
  BAD_REQUEST, CONN_CLOSE, CONN_KEEP_ALIVE, CONN_UPGRADE, HEADERS_TOO_LARGE, NOT_IMPLEMENTED, PAYLOAD_TOO_LARGE,
  HeadReader, RequestHead, SCAN_MORE, VERSION_NOT_SUPPORTED, parseHead,
} from './http-head.js';
import { HttpRequest, text } from './http-request.js';
import { HttpResponse, type ResponseHost } from './http-response.js';
import type { Wire, WireOwner } from './wire.js';
import { detach } from './lend.js';
import { ChunkedBody } from './chunked.js';

/** What a connection needs from its App. */
export interface HttpApp {
  readonly maxHeaderSize: number;
  readonly maxBodyLength: number;
  /** The head table all connections share (one head is handled at a time). */
  readonly headTable: RequestHead;
  /** Routes a request (a WebSocket upgrade when `upgrade`); false when no route took it. */
  route(res: HttpResponse, req: HttpRequest, upgrade: boolean): boolean;
  /** res.upgrade() on this connection. */
  upgrade(conn: HttpConnection, res: HttpResponse, userData: unknown, key: string, protocol: string, extensions: string, context: unknown): void;
  /** The connection closed or left HTTP (upgraded). */
  forget(conn: HttpConnection): void;
}

const STATUS_TEXT: Record<number, string> = {
  [BAD_REQUEST]: 'Bad Request', [PAYLOAD_TOO_LARGE]: 'Payload Too Large', [HEADERS_TOO_LARGE]: 'Request Header Fields Too Large',
  [NOT_IMPLEMENTED]: 'Not Implemented', [VERSION_NOT_SUPPORTED]: 'HTTP Version Not Supported', 404: 'Not Found',
};

const EMPTY = new Uint8Array(0);

export class HttpConnection extends HeadReader implements WireOwner, ResponseHost {
  /** Body bytes of the current request still to come (Content-Length). */
  private bodyLeft = 0;
  /** The current request's chunked body being decoded, or null. */
  private chunked: ChunkedBody | null = null;
  /** The response of the request being handled, until it is sent and its body read. */
  private current: HttpResponse | null = null;
  /** Sweep ticks without a byte from the peer. */
  idleTicks = 0;
  isHead = false;
  closeAfter = false;
  /** A pipelined request that came before its turn (reads are paused meanwhile), or null. */
  private held: Uint8Array | null = null;
  /** Closing: nothing more is read. */
  private stopped = false;

  constructor(readonly wire: Wire, private readonly app: HttpApp) { super(); }

  remoteAddress(): string { return this.wire.remoteAddress(); }

  onData(b: Uint8Array, start: number, end: number): void {
    // A head under way keeps its clock: it must be whole within the idle timeout of
    // its first byte, so a slowloris trickling a byte at a time is still closed.
    if (this.partial === null) this.idleTicks = 0;
    let p = start;
    while (p < end && !this.stopped) {
      if (this.wire.owner !== this) {
        // Upgraded during this read: the rest is the WebSocket's.
        this.wire.owner?.onData(b, p, end);
        return;
      }
      if (this.chunked !== null) {
        const r = this.chunked.feed(b, p, end, this);
        if (r < 0) { this.refuse(-r); return; }
        p = r;
        if (this.chunked.done) {
          this.chunked = null;
          this.deliverBody(EMPTY, 0, 0, true);
          this.requestRead();
        }
        continue;
      }
      if (this.bodyLeft > 0) {
        const n = Math.min(this.bodyLeft, end - p);
        this.bodyLeft -= n;
        this.deliverBody(b, p, p + n, this.bodyLeft === 0);
        p += n;
        if (this.bodyLeft === 0) this.requestRead();
        continue;
      }
      if (this.current !== null) {
        // A pipelined request before its turn: hold it, and read no more until then.
        this.hold(b, p, end);
        return;
      }
      p = this.readHeadAt(b, p, end);
    }
  }

  // Reads a head starting at or continuing with b[p, end) and handles it; returns where reading goes on.
  private readHeadAt(b: Uint8Array, p: number, end: number): number {
    const r = this.readHead(b, p, end, this.app.maxHeaderSize);
    if (r === SCAN_MORE) return end;
    if (r < 0) { this.refuse(-r); return end; }
    const head = this.headBuffer;
    this.headBuffer = EMPTY; // the read buffer is not ours past this read
    this.handleHead(head, this.headStart, this.headEnd);
    return r;
  }

  private hold(b: Uint8Array, start: number, end: number): void {
    const more = copyOf(b, start, end);
    if (this.held === null) this.held = more;
    else {
      // Already holding (reads are paused): this came with the same read.
      const both = new Uint8Array(this.held.length + more.length);
      both.set(this.held);
      both.set(more, this.held.length);
      this.held = both;
    }
    this.wire.pause();
  }

  private handleHead(b: Uint8Array, start: number, end: number): void {
    const h = this.app.headTable;
    const status = parseHead(b, start, end, h, this.app.maxBodyLength);
    if (status !== 0) { this.refuse(status); return; }
    this.isHead = h.method === 'HEAD';
    // HTTP/1.1 keeps the connection unless told otherwise; HTTP/1.0 closes unless asked to keep it.
    this.closeAfter = (h.connection & CONN_CLOSE) !== 0 || (h.minor === 0 && (h.connection & CONN_KEEP_ALIVE) === 0);
    const upgrade = h.upgradeWebsocket && (h.connection & CONN_UPGRADE) !== 0 && h.method === 'GET';
    this.bodyLeft = upgrade ? 0 : Math.max(h.contentLength, 0);
    this.chunked = h.chunked && !upgrade ? new ChunkedBody(this.app.maxBodyLength) : null;
    if (h.expectContinue && (this.bodyLeft > 0 || this.chunked !== null)) this.wire.write('HTTP/1.1 100 Continue\r\n\r\n');
    let path = text(b, h.targetStart, h.targetEnd);
    const q = path.indexOf('?');
    if (q !== -1) path = path.slice(0, q);
    const res = new HttpResponse(this);
    const req = new HttpRequest(b, h, path);
    this.current = res;
    let routed: boolean;
    try {
      routed = this.app.route(res, req, upgrade);
    } finally {
      req._valid = false;
    }
    if (!routed && !res._done) {
      res.writeStatus('404 Not Found').end('404 Not Found');
      return;
    }
    if (this.current !== res) return; // ended (and finished) or upgraded already
    if (!res._done && res._onAborted === null && res._onData === null) {
      // uWS.js stops the process here; we close this connection and say why.
      console.error('wasmsocket/app: a route handler returned without responding or attaching onAborted; closing the connection');
      this.stopped = true;
      this.wire.close();
      return;
    }
    if (this.bodyLeft === 0 && this.chunked === null) {
      // No body: its one empty last chunk.
      if (!res._done && res._onData !== null) this.deliverBody(new Uint8Array(0), 0, 0, true);
      this.requestRead();
    }
  }

  // The request (head and body) is read: on to the next once the response is out too.
  private requestRead(): void {
    if (this.current?._done) this.finish();
  }

  private deliverBody(b: Uint8Array, start: number, end: number, last: boolean): void {
    const handler = this.current?._onData;
    if (!handler) return;
    // A copy the handler owns for its duration, detached when it returns (uWS.js neuters its chunk).
    const chunk = copyOf(b, start, end).buffer as ArrayBuffer;
    try {
      handler(chunk, last);
    } finally {
      detach(chunk);
    }
  }

  /** ResponseHost: the response is out. */
  responded(res: HttpResponse): void {
    if (res === this.current && this.bodyLeft === 0 && this.chunked === null) this.finish();
  }

  // Response sent and body read: close, or go on with the next request.
  private finish(): void {
    this.current = null;
    if (this.closeAfter) { this.stop(); return; }
    const held = this.held;
    if (held !== null) {
      this.held = null;
      this.wire.resume();
      this.onData(held, 0, held.length);
    }
  }

  /** ResponseHost: res.upgrade(). */
  upgrade(res: HttpResponse, userData: unknown, key: string, protocol: string, extensions: string, context: unknown): void {
    this.current = null;
    this.app.upgrade(this, res, userData, key, protocol, extensions, context);
  }

  /** The bytes that came after the upgrade request's head (the first frames), handed to the WebSocket side. */
  takeHeld(): Uint8Array | null {
    const b = this.held;
    this.held = null;
    if (b !== null) this.wire.resume();
    return b;
  }

  // Answers with an error status and closes (the stream cannot be trusted past a bad head).
  private refuse(status: number): void {
    this.current = null;
    this.answer(status, true);
  }

  private answer(status: number, close: boolean): void {
    const body = `${status} ${STATUS_TEXT[status] ?? ''}`;
    this.wire.write(`HTTP/1.1 ${body}\r\n${close ? 'Connection: close\r\n' : ''}Content-Length: ${body.length}\r\n\r\n${body}`);
    if (close) this.stop();
  }

  // Sends what is queued, then FIN; nothing more is read.
  private stop(): void {
    this.stopped = true;
    this.dropHead();
    this.held = null;
    this.bodyLeft = 0;
    this.chunked = null;
    this.wire.end();
  }

  /** The App's sweep: closes a connection silent for `limit` ticks while it waits for the peer (not for a handler). */
  tick(limit: number): void {
    if (++this.idleTicks >= limit && (this.current === null || this.bodyLeft > 0 || this.chunked !== null)) {
      this.stopped = true;
      this.wire.close();
    }
  }

  onEnd(): void {
    // Half-closed by the peer: what it sent is handled. Answers already written
    // still go out (end() waits for them); a response under way is aborted, as in uWS.js.
    this.stopped = true;
    if (this.current === null) this.wire.end();
    else this.wire.close();
  }

  /** ChunkSink: decoded bytes of a chunked body. */
  chunk(b: Uint8Array, start: number, end: number): void { this.deliverBody(b, start, end, false); }

  /** The wire drained: a response streaming with tryEnd()/write() may go on. */
  onDrain(): void { this.current?._writable(); }

  onClose(): void {
    const res = this.current;
    this.current = null;
    this.dropHead();
    this.held = null;
    this.app.forget(this);
    res?._abort();
  }
}

// A copy of b[start, end) in its own ArrayBuffer (a Buffer's slice() would be a view of its pool).
function copyOf(b: Uint8Array, start: number, end: number): Uint8Array {
  return Uint8Array.prototype.slice.call(b, start, end);
}
