// WebSocket over any { readable, writable } byte stream pair (a TCP connection
// from Deno.listen/Deno.connect, Bun through ./bun.ts, workerd's connect(), a
// Node socket through Duplex.toWeb): the HTTP/1.1 upgrade read from and written
// to the pair, then a Connection driven by a read loop that stops reading while
// paused (backpressure) and while too much is waiting to be written.
import { MessageDeflate, type MessageDeflateOptions } from '../codec/index.js';
import { Connection, DEFAULT_CLOSE_TIMEOUT, DEFAULT_MAX_PAYLOAD, type ConnectionHandler, type Transport } from './connection.js';
import {
  HandshakeError, acceptResponse, checkResponse, errorResponse, indexOfHeadEnd, parseUpgrade, upgradeRequest, type UpgradeRequest,
} from './handshake.js';

export interface BytePair {
  readable: ReadableStream<Uint8Array>;
  writable: WritableStream<Uint8Array>;
}

/** Node's default cap on an HTTP head (--max-http-header-size), for a request and a response alike. */
export const DEFAULT_MAX_HEADER_BYTES = 16 * 1024;
/** As ws's handshakeTimeout default on clients; the Node server bounds a slow request with http's headersTimeout. */
export const DEFAULT_HANDSHAKE_TIMEOUT = 10_000;
// While more than this waits to be written (pongs and close replies to a peer
// that does not read), the read loop stops reading: the same 1 MiB at which
// the Node WebSocket stops answering pings (src/node/ws/websocket.ts).
const WRITE_HIGH_WATER = 1024 * 1024;

const latin1 = new TextDecoder('latin1');
const CLOSED_EARLY = 'Connection closed during the handshake';

/** The transport side of a pair: ordered writes, FIN, abort, and a pausable read loop. */
export class StreamTransport implements Transport {
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private readonly writer: WritableStreamDefaultWriter<Uint8Array>;
  private pending = 0;
  private idleWaiters: Array<() => void> = [];
  private paused = false;
  private wake: (() => void) | undefined;
  private ended = false;
  private aborted = false;

  constructor(pair: BytePair, readonly closeTimeout = DEFAULT_CLOSE_TIMEOUT) {
    this.reader = pair.readable.getReader();
    this.writer = pair.writable.getWriter();
  }

  /** Reads up to the end of an HTTP head (at most maxBytes); returns the head and what came after it. */
  async readHead(maxBytes: number, timeoutMs: number): Promise<{ head: string; rest: Uint8Array }> {
    let buf = new Uint8Array(0);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new HandshakeError(408, 'Handshake timed out')), timeoutMs);
    });
    try {
      for (;;) {
        const { value, done } = await Promise.race([this.reader.read(), timeout]);
        if (done) throw new HandshakeError(400, CLOSED_EARLY);
        const from = buf.length;
        const next = new Uint8Array(from + value.length);
        next.set(buf);
        next.set(value, from);
        buf = next;
        const end = indexOfHeadEnd(buf, from);
        if (end > maxBytes || (end < 0 && buf.length > maxBytes)) throw new HandshakeError(431, 'Head too large');
        if (end >= 0) return { head: latin1.decode(buf.subarray(0, end)), rest: buf.subarray(end + 4) };
      }
    } finally {
      clearTimeout(timer);
    }
  }

  write(bytes: Uint8Array): Promise<void> {
    if (this.ended || this.aborted) return Promise.reject(new Error('The connection is closed'));
    this.pending += bytes.length;
    const p = this.writer.write(bytes);
    const done = () => {
      this.pending -= bytes.length;
      if (this.pending === 0) for (const w of this.idleWaiters.splice(0)) w();
    };
    p.then(done, done);
    return p;
  }

  end(): void {
    if (this.ended || this.aborted) return;
    this.ended = true;
    this.writer.close().catch(() => {});
  }

  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    this.writer.abort().catch(() => {});
    this.reader.cancel().catch(() => {});
    this.wake?.();
    for (const w of this.idleWaiters.splice(0)) w();
  }

  /**
   * After a refused upgrade: discards what the peer still sends until its FIN,
   * then closes; closeTimeout bounds the wait (no timer outlives the connection).
   */
  async discardUntilEnd(): Promise<void> {
    const timer = setTimeout(() => this.abort(), this.closeTimeout);
    try {
      for (;;) if ((await this.reader.read()).done) break;
    } catch {
      // reset, or cancelled by the abort
    }
    clearTimeout(timer);
    this.abort();
  }

  /** Bytes handed to write() and not yet taken by the writable. */
  get bufferedAmount(): number { return this.pending; }

  pause(): void { this.paused = true; }

  resume(): void {
    this.paused = false;
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  /** Feeds the connection until the peer's FIN, a reset or our abort; then reports the end to it. */
  async run(conn: Connection, rest: Uint8Array): Promise<void> {
    try {
      if (rest.length > 0) conn.receive(rest);
      for (;;) {
        while ((this.paused || this.pending > WRITE_HIGH_WATER) && !this.aborted) {
          if (this.paused) await new Promise<void>((r) => { this.wake = r; });
          else await this.idle();
        }
        if (this.aborted) break;
        const { value, done } = await this.reader.read();
        if (done) break;
        conn.receive(value);
      }
      // The peer's FIN: what we queued (a close reply, say) goes out first, bounded.
      if (!this.aborted) {
        await Promise.race([this.idle(), new Promise((r) => setTimeout(r, this.closeTimeout))]);
        this.end();
      }
    } catch {
      // reset by the peer, or cancelled by our abort
    }
    conn.transportClosed();
  }

  private idle(): Promise<void> {
    return this.pending === 0 || this.aborted ? Promise.resolve() : new Promise((r) => this.idleWaiters.push(r));
  }
}

export interface AcceptOptions {
  /** Cap on the HTTP request head (bytes); Node's default max header size. */
  maxHeaderBytes?: number;
  /** Time allowed for the upgrade request to arrive (ms). */
  handshakeTimeout?: number;
  /** Picks a subprotocol from those offered; the default picks the first, as ws does. false: none. */
  handleProtocols?: (protocols: string[], request: UpgradeRequest) => string | false;
  /** permessage-deflate (RFC 7692): true or options to accept a client's offer; off by default, as ws's server. */
  perMessageDeflate?: DeflateOption;
  /** Largest message accepted (bytes), inflated messages included. */
  maxPayload?: number;
}

/** permessage-deflate settings of the web endpoint: true (defaults), false, or the codec's options. */
export type DeflateOption = boolean | Omit<MessageDeflateOptions, 'isServer' | 'maxPayload'>;

function makeDeflate(option: DeflateOption | undefined, isServer: boolean, maxPayload: number | undefined): MessageDeflate | null {
  if (!option) return null;
  return new MessageDeflate({ ...(option === true ? {} : option), isServer, maxPayload: maxPayload ?? DEFAULT_MAX_PAYLOAD });
}

/**
 * Reads an upgrade request from the pair and answers it: the 101 (resolves) or
 * an HTTP error, after which the pair is closed (rejects with HandshakeError).
 */
export async function serverHandshake(transport: StreamTransport, options: AcceptOptions = {}):
  Promise<{ request: UpgradeRequest; protocol: string; rest: Uint8Array; extensions: string; deflate: MessageDeflate | null }> {
  let request: UpgradeRequest;
  let rest: Uint8Array;
  try {
    const got = await transport.readHead(options.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES, options.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT);
    request = parseUpgrade(got.head);
    rest = got.rest;
  } catch (e) {
    const err = e instanceof HandshakeError ? e : new HandshakeError(400, 'Bad request');
    if (err.status === 408 || err.message === CLOSED_EARLY) {
      transport.abort(); // nobody to answer, or a peer too slow to deserve it (as the Node server)
    } else {
      // The answer, FIN, and a bounded wait for the peer's FIN.
      transport.write(errorResponse(err)).catch(() => {});
      transport.end();
      void transport.discardUntilEnd();
    }
    throw err;
  }
  const picked = request.protocols.length === 0 ? false
    : options.handleProtocols ? options.handleProtocols(request.protocols, request) : request.protocols[0];
  const protocol = picked === false ? '' : picked;
  const deflate = makeDeflate(options.perMessageDeflate, true, options.maxPayload);
  const extensions = deflate?.acceptOffers(request.headers.get('sec-websocket-extensions')) ?? '';
  await transport.write(await acceptResponse(request, protocol || undefined, extensions));
  return { request, protocol, rest, extensions, deflate: extensions ? deflate : null };
}

/** Sends an upgrade request for `url` over the pair and checks the answer (rejects on refusal). */
export async function clientHandshake(transport: StreamTransport, url: URL, protocols: readonly string[],
  options: { maxHeaderBytes?: number; handshakeTimeout?: number; perMessageDeflate?: DeflateOption; maxPayload?: number } = {}):
  Promise<{ protocol: string; extensions: string; rest: Uint8Array; deflate: MessageDeflate | null }> {
  // Offered by default, as ws's client and browsers do.
  const deflate = makeDeflate(options.perMessageDeflate ?? true, false, options.maxPayload);
  const { bytes, key } = upgradeRequest(url, protocols, deflate?.offer());
  try {
    await transport.write(bytes);
    const { head, rest } = await transport.readHead(options.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES, options.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT);
    const checked = await checkResponse(head, key, protocols, deflate);
    return { ...checked, rest, deflate: deflate?.active ? deflate : null };
  } catch (e) {
    transport.abort();
    throw e instanceof HandshakeError ? new Error(`Opening handshake failed: ${e.message}`) : e;
  }
}

export type { ConnectionHandler };
