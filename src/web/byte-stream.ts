// WebSocket over any { readable, writable } byte stream pair (a TCP connection
// from Deno.listen/Deno.connect, Bun through ./bun.ts, workerd's connect(), a
// Node socket through Duplex.toWeb): the HTTP/1.1 upgrade read from and written
// to the pair, then a Connection driven by a read loop that stops reading while
// paused (backpressure) and while too much is waiting to be written.
import { MessageDeflate, type MessageDeflateOptions } from '../codec/index.js';
import { Connection, DEFAULT_CLOSE_TIMEOUT, DEFAULT_MAX_PAYLOAD, type ConnectionHandler, type Transport } from './connection.js';
import { channelOf, type ByteChannel, type BytePair, type ChannelSink } from './channel.js';
import {
  HandshakeError, acceptResponse, checkResponse, errorResponse, indexOfHeadEnd, parseUpgrade, upgradeRequest, type UpgradeRequest,
} from './handshake.js';

export type { BytePair };

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

// Where the bytes read go: the HTTP head, held for run(), the connection, or nowhere.
const HOLD = 0, HEAD = 1, RUN = 2, DISCARD = 3;

/**
 * The transport side of a pair: ordered writes, FIN, abort, and pausable
 * reading. It is its channel's sink itself, and keeps no closure or array per
 * idle connection (what Bun's 4 KiB per idle connection leaves room for).
 */
export class StreamTransport implements Transport, ChannelSink {
  private readonly channel: ByteChannel;
  private mode = HOLD;
  private pending = 0;
  private idleWaiters: Array<() => void> | null = null;
  private userPaused = false;
  private channelPaused = false;
  private ended = false;
  private aborted = false;
  private conn: Connection | null = null;
  private held: Uint8Array[] | null = null;
  private readEnd: { error?: unknown } | null = null;
  /** While reading the HTTP head: its bytes so far, its limit and its promise. */
  private head: { buf: Uint8Array; max: number; timer: ReturnType<typeof setTimeout>;
    resolve: (v: { head: string; rest: Uint8Array }) => void; reject: (e: HandshakeError) => void } | null = null;
  /** Told when the reading ended (discardUntilEnd's and run()'s promises). */
  private onEnded: (() => void) | null = null;

  constructor(pair: BytePair, readonly closeTimeout = DEFAULT_CLOSE_TIMEOUT) {
    this.channel = channelOf(pair);
    this.updateFlow();
    this.channel.start(this);
  }

  /** @internal ChannelSink: bytes read. */
  onRead(chunk: Uint8Array): void {
    if (this.mode === RUN) this.conn!.receive(chunk);
    else if (this.mode === HEAD) this.headRead(chunk);
    else if (this.mode === HOLD) (this.held ??= []).push(chunk.slice());
  }

  /** @internal ChannelSink: the reading ended. */
  onReadEnd(error?: unknown): void {
    this.readEnd = { error };
    if (this.mode === HEAD) this.headDone(new HandshakeError(400, CLOSED_EARLY));
    else if (this.mode === RUN) this.runEnded(error);
    else if (this.mode === DISCARD) this.onEnded?.();
  }

  /** Reads up to the end of an HTTP head (at most maxBytes); returns the head and what came after it. */
  readHead(maxBytes: number, timeoutMs: number): Promise<{ head: string; rest: Uint8Array }> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.headDone(new HandshakeError(408, 'Handshake timed out')), timeoutMs);
      this.head = { buf: new Uint8Array(0), max: maxBytes, timer, resolve, reject };
      this.mode = HEAD;
      const held = this.held;
      this.held = null;
      if (held) for (const c of held) if (this.mode === HEAD) this.headRead(c);
      if (this.readEnd && this.mode === HEAD) this.headDone(new HandshakeError(400, CLOSED_EARLY));
      this.updateFlow();
    });
  }

  private headRead(value: Uint8Array): void {
    const h = this.head!;
    const from = h.buf.length;
    const buf = new Uint8Array(from + value.length);
    buf.set(h.buf);
    buf.set(value, from);
    h.buf = buf;
    const end = indexOfHeadEnd(buf, from);
    if (end > h.max || (end < 0 && buf.length > h.max)) this.headDone(new HandshakeError(431, 'Head too large'));
    else if (end >= 0) this.headDone(null, { head: latin1.decode(buf.subarray(0, end)), rest: buf.subarray(end + 4) });
  }

  // What comes after the head is held (reading paused) until run() or discardUntilEnd().
  private headDone(e: HandshakeError | null, got?: { head: string; rest: Uint8Array }): void {
    const h = this.head;
    if (!h) return;
    this.head = null;
    clearTimeout(h.timer);
    this.mode = HOLD;
    this.updateFlow();
    if (e) h.reject(e); else h.resolve(got!);
  }

  write(bytes: Uint8Array): Promise<void> {
    if (this.ended || this.aborted) return Promise.reject(new Error('The connection is closed'));
    this.pending += bytes.length;
    if (this.pending > WRITE_HIGH_WATER) this.updateFlow();
    const p = this.channel.write(bytes);
    const done = () => {
      this.pending -= bytes.length;
      if (this.pending === 0) {
        this.wakeIdle();
        this.updateFlow();
      }
    };
    p.then(done, done);
    return p;
  }

  end(): void {
    if (this.ended || this.aborted) return;
    this.ended = true;
    this.channel.close();
  }

  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    this.channel.abort();
    this.wakeIdle();
  }

  /**
   * After a refused upgrade: discards what the peer still sends until its FIN,
   * then closes; closeTimeout bounds the wait (no timer outlives the connection).
   */
  discardUntilEnd(): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.abort(), this.closeTimeout);
      this.onEnded = () => { clearTimeout(timer); this.abort(); resolve(); };
      this.held = null;
      this.mode = DISCARD;
      if (this.readEnd) this.onEnded();
      else this.updateFlow();
    });
  }

  /** Bytes handed to write() and not yet taken by the connection. */
  get bufferedAmount(): number { return this.pending; }

  /** The same, as the Connection asks it (the memory budget and heartbeat count it). */
  backlog(): number { return this.pending; }

  pause(): void { this.userPaused = true; this.updateFlow(); }

  resume(): void { this.userPaused = false; this.updateFlow(); }

  // Reading stops while the application is not reading, between the head and
  // run(), and while more than WRITE_HIGH_WATER waits to be written.
  private updateFlow(): void {
    const pause = this.userPaused || this.mode === HOLD || this.pending > WRITE_HIGH_WATER;
    if (pause === this.channelPaused || this.aborted) return;
    this.channelPaused = pause;
    if (pause) this.channel.pause(); else this.channel.resume();
  }

  /** Feeds the connection until the peer's FIN, a reset or our abort; resolves once it was told of the end. */
  run(conn: Connection, rest: Uint8Array): Promise<void> {
    return new Promise((resolve) => { this.onEnded = resolve; this.drive(conn, rest); });
  }

  /** run() without a promise: the connection hears of the end through transportClosed(). */
  drive(conn: Connection, rest: Uint8Array): void {
    this.conn = conn;
    this.mode = RUN;
    if (rest.length > 0) conn.receive(rest);
    const held = this.held;
    this.held = null;
    if (held) for (const c of held) conn.receive(c);
    if (this.readEnd) this.runEnded(this.readEnd.error);
    else this.updateFlow();
  }

  private runEnded(error: unknown): void {
    const closed = () => {
      this.conn!.transportClosed();
      this.onEnded?.();
      this.onEnded = null;
    };
    if (error !== undefined || this.aborted) { closed(); return; }
    // The peer's FIN: what we queued (a close reply, say) goes out first, bounded.
    let timer: ReturnType<typeof setTimeout> | undefined;
    Promise.race([this.idle(), new Promise((r) => { timer = setTimeout(r, this.closeTimeout); })]).then(() => {
      clearTimeout(timer);
      this.end();
      closed();
    });
  }

  private wakeIdle(): void {
    const w = this.idleWaiters;
    this.idleWaiters = null;
    if (w) for (const f of w) f();
  }

  private idle(): Promise<void> {
    return this.pending === 0 || this.aborted ? Promise.resolve() : new Promise((r) => (this.idleWaiters ??= []).push(r));
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
  const offers = request.headers.get('sec-websocket-extensions');
  const deflate = offers ? makeDeflate(options.perMessageDeflate, true, options.maxPayload) : null;
  const extensions = deflate?.acceptOffers(offers) ?? '';
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
