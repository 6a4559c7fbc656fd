// WebSocketStream for Deno, Bun, workerd and anything with Web Streams: a client
// (`new WebSocketStream(url)`, over the runtime's TCP or options.connect) and
// the server side (`accept(pair)`), both a Connection on a byte stream pair.
import type { MessageDeflate } from '../codec/index.js';
import { Connection, type ConnectionHandler, type ConnectionOptions } from './connection.js';
import { acceptBudget, acceptHeartbeat, type LimitOptions } from './limits.js';
import { clientMemoryBudget, type MemoryBudget } from '../core/budget.js';
import { clientHeartbeat } from '../core/heartbeat.js';
import type { Topics } from './topics.js';
import {
  StreamTransport, clientHandshake, serverHandshake, type AcceptOptions, type BytePair, type DeflateOption,
} from './byte-stream.js';
import { dial, type Dialer } from './dial.js';
import type { UpgradeRequest } from './handshake.js';
import {
  WebSocketError, WebSocketStreamCore, webSocketUrl, type MessageSink, type MessageSource, type SourceOpener, type WebSocketStreamOptions,
} from './stream-core.js';

export interface ClientStreamOptions extends WebSocketStreamOptions, Omit<ConnectionOptions, 'isServer' | 'deflate' | 'budget' | 'heartbeat'> {
  /** The budget this client counts against; default: the one every client of the process shares (clientMemoryBudget()), as the Node client. */
  memoryBudget?: MemoryBudget;
  /** ms; 0 (default) is off: a silent server is pinged, then dropped (one timer per value for every client). */
  idleTimeout?: number;
  /** permessage-deflate: offered by default (as ws's client and browsers); false: not offered. */
  perMessageDeflate?: DeflateOption;
  /** Opens the byte stream pair for a URL; default: the runtime's TCP (Deno.connect, Bun.connect, workerd's connect()). */
  connect?: Dialer;
  /** Time allowed for the opening handshake (ms). */
  handshakeTimeout?: number;
  /** Cap on the server's answer head (bytes). */
  maxHeaderBytes?: number;
}

export interface AcceptStreamOptions extends AcceptOptions, LimitOptions, Omit<ConnectionOptions, 'isServer' | 'deflate' | 'budget' | 'heartbeat'> {
  /** Topics and broadcast for the connections accepted with it (./topics.ts). */
  topics?: Topics;
}

const text = new TextDecoder();
const OPEN = 1;

/** A MessageSource on a Connection whose transport is a pair being read by StreamTransport. */
function connectionSource(transport: StreamTransport, sink: MessageSink, protocol: string, extensions: string, rest: Uint8Array,
  options: ConnectionOptions, opened?: (conn: Connection) => (() => void)): MessageSource {
  let closed: (() => void) | undefined;
  const conn = new Connection(transport, {
    onMessage: (data, isBinary) => sink.message(isBinary ? data : text.decode(data)),
    onClose: (code, reason, clean) => { closed?.(); sink.closed(code, reason, clean); },
    delivered: () => sink.drained(),
  }, options);
  closed = opened?.(conn);
  transport.drive(conn, rest);
  return {
    protocol,
    extensions,
    send: (data) => conn.send(data),
    close: (code, reason) => conn.close(code, reason),
    abort: () => conn.abort(),
    pause: () => transport.pause(),
    resume: () => transport.resume(),
  };
}

const failure = (e: unknown) => {
  const err = new WebSocketError(`WebSocket connection failed: ${(e as Error)?.message ?? e}`);
  Object.assign(err as { closeCode: number | null }, { closeCode: 1006 });
  return err;
};

export class WebSocketStream extends WebSocketStreamCore {
  /** Server side (accept): the upgrade request it answered. */
  readonly request?: UpgradeRequest;

  constructor(url: string | URL, options: ClientStreamOptions = {}) {
    const u = webSocketUrl(url);
    const protocols = options.protocols === undefined ? [] : typeof options.protocols === 'string' ? [options.protocols] : [...options.protocols];
    if (new Set(protocols).size !== protocols.length) throw new DOMException('Duplicate subprotocols', 'SyntaxError');
    const opener: SourceOpener = async (sink, signal) => {
      const aborted = new Promise<never>((_, reject) => {
        if (signal.aborted) reject(signal.reason);
        signal.addEventListener('abort', () => reject(signal.reason), { once: true });
      });
      aborted.catch(() => {});
      let transport: StreamTransport | undefined;
      try {
        const pairP = Promise.resolve().then(() => (options.connect ?? dial)(u));
        pairP.then((p) => { if (signal.aborted) abortPair(p); }, () => {});
        const pair = await Promise.race([pairP, aborted]);
        transport = new StreamTransport(pair, options.closeTimeout);
        const hs = await Promise.race([clientHandshake(transport, u, protocols, options), aborted]);
        return connectionSource(transport, sink, hs.protocol, hs.extensions, hs.rest, {
          isServer: false, maxPayload: options.maxPayload, closeTimeout: options.closeTimeout, deflate: hs.deflate,
          budget: options.memoryBudget ?? clientMemoryBudget(),
          heartbeat: options.idleTimeout && options.idleTimeout > 0 ? clientHeartbeat(options.idleTimeout) : null,
        });
      } catch (e) {
        transport?.abort();
        throw signal.aborted ? signal.reason : failure(e);
      }
    };
    super(u.href, opener, options.signal);
  }
}

function abortPair(pair: BytePair): void {
  pair.readable.cancel().catch(() => {});
  pair.writable.abort().catch(() => {});
}

/**
 * Answers a WebSocket upgrade read from a byte stream pair (a TCP connection
 * just accepted): resolves with the open WebSocketStream, or rejects with a
 * HandshakeError once the HTTP error answer is on its way.
 */
export async function accept(pair: BytePair, options: AcceptStreamOptions = {}): Promise<WebSocketStream> {
  const transport = new StreamTransport(pair, options.closeTimeout);
  const { request, protocol, rest, extensions, deflate } = await serverHandshake(transport, options);
  const topics = options.topics;
  let ws: WebSocketStream | undefined;
  // The opener runs inside the constructor below; ws is known once it returns.
  const joined = topics ? (conn: Connection) => {
    queueMicrotask(() => { if (conn.readyState === OPEN) topics._add(ws!, { conn, write: (f) => transport.write(f), deflate }); });
    return () => topics._remove(ws!);
  } : undefined;
  const opener: SourceOpener = async (sink) => connectionSource(transport, sink, protocol, extensions, rest, serverOptions(options, deflate), joined);
  // The core's constructor with WebSocketStream's prototype: no URL to dial.
  ws = Reflect.construct(WebSocketStreamCore, [request.path, opener], WebSocketStream) as WebSocketStream;
  Object.defineProperty(ws, 'request', { value: request, enumerable: true });
  return ws;
}

/** A connection accepted by acceptConnection(), not yet reading: start() gives it its handler. */
export interface PendingConnection {
  readonly request: UpgradeRequest;
  readonly protocol: string;
  readonly extensions: string;
  /**
   * The Connection, with `handler` told of its messages and close from the
   * next microtask on (so `const conn = pending.start({ onMessage: (d, b) => conn.send(d, b), ... })` works).
   */
  start(handler: ConnectionHandler): Connection;
}

/**
 * Answers a WebSocket upgrade like accept(), without the WebSocketStream: the
 * Connection reports to a handler (as Bun.serve's and Deno's own servers
 * report to theirs), with no stream, reader or promise per idle connection.
 * Idle, 10,000 connections: Deno 15 KiB each against 25 through a
 * WebSocketStream piped to itself; Bun 4.5 against 11 (bench/edge-idle.mjs).
 */
export async function acceptConnection(pair: BytePair, options: AcceptStreamOptions = {}): Promise<PendingConnection> {
  const transport = new StreamTransport(pair, options.closeTimeout);
  const { request, protocol, rest, extensions, deflate } = await serverHandshake(transport, options);
  let started = false;
  return {
    request, protocol, extensions,
    start(handler: ConnectionHandler): Connection {
      if (started) throw new Error('start() was called already');
      started = true;
      const topics = options.topics;
      let conn: Connection | undefined;
      const h = topics ? { ...handler, onClose: (code: number, reason: string, clean: boolean) => { topics._remove(conn!); handler.onClose(code, reason, clean); } } : handler;
      conn = new Connection(transport, h, serverOptions(options, deflate));
      topics?._add(conn, { conn, write: (f) => transport.write(f), deflate });
      const c = conn;
      queueMicrotask(() => transport.drive(c, rest));
      return c;
    },
  };
}

function serverOptions(options: AcceptStreamOptions, deflate: MessageDeflate | null): ConnectionOptions {
  return {
    isServer: true, maxPayload: options.maxPayload, closeTimeout: options.closeTimeout, deflate,
    budget: acceptBudget(options), heartbeat: acceptHeartbeat(options),
  };
}
