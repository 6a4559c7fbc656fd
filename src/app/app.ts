// uWebSockets.js's TemplatedApp for plain HTTP and the WebSocket upgrade, on
// any runtime's listener (the Platform: Node's TCP handles or net.Server here,
// later Deno.listen / Bun.listen). No Node imports.
import { RequestHead } from './http-head.js';
import { HttpConnection, type HttpApp } from './http-connection.js';
import type { HttpRequest } from './http-request.js';
import type { HttpResponse, RecognizedString } from './http-response.js';
import { Router } from './router.js';
import { handshake, isValidKey } from './upgrade.js';
import { LIBUS_LISTEN_EXCLUSIVE_PORT, type Acceptor, type ListenRequest } from './acceptor.js';
import type { Wire, WireOwner } from './wire.js';
import { WebSocket, DEFAULT_MAX_PAYLOAD_LENGTH, IDLE_TICKS_PER_TIMEOUT, publishTo, type MessageCompressor, type Route, type SocketBehavior } from './websocket.js';
import type { MessageDeflate } from '../codec/permessage-deflate.js';
import { SHARED_COMPRESSOR } from './compression.js';
import { TopicTree } from './topics.js';
import { attachBroker } from './app-broker.js';
import type { Broker } from '../core/broker.js';
import { drainApp, type AppShutdownOptions, type AppShutdownResult } from './shutdown.js';
import { MemoryBudget } from '../core/budget.js';

/** What the App needs from its runtime. */
export interface Platform {
  /** Listens; `cb` gets the acceptor, or an Error. May call back synchronously. */
  listen(req: ListenRequest, cb: (acceptor: Acceptor | Error) => void): void;
  /** base64(SHA-1(key + GUID)), synchronously (RFC 6455 §4.2.2). */
  acceptKey(key: string): string;
  /** A native compressor for a negotiated permessage-deflate (Node's zlib), or null: the codec's is used. */
  compressor?(pmd: MessageDeflate, sharedCompressor: boolean, maxPayload: number): MessageCompressor | null;
}

export interface AppOptions {
  /** Largest request head in bytes (431 past it). Default 16 KiB, Node's http default. */
  maxHeaderSize?: number;
  /** Most header lines in a head (431 past it). Default 100, uWS's UWS_HTTP_MAX_HEADERS_COUNT. */
  maxHeaders?: number;
  /** Largest request body (Content-Length) in bytes (413 past it). Default 16 MiB. */
  maxBodyLength?: number;
  /** Seconds an HTTP connection may wait for the peer's next bytes (uWS's 10 s). */
  httpIdleTimeout?: number;
  /**
   * Bytes all this App's WebSockets may hold together (messages arriving, sends queued); past it the
   * biggest holder is closed (1009, or 1008 for a peer not reading), as the ws door's budget.
   * Default: a quarter of V8's heap limit; 0: none (uWS.js has none: the bound is then per
   * connection, maxPayloadLength + maxBackpressure).
   */
  maxBufferedBytes?: number;
  /** A budget shared with other Apps or servers (overrides maxBufferedBytes). */
  memoryBudget?: MemoryBudget;
}

export type HttpHandler = (res: HttpResponse, req: HttpRequest) => void;

/** uWS.js's WebSocketBehavior: the options and handlers this App reads (README says which are not yet). */
export interface WebSocketBehavior<UserData = unknown> extends SocketBehavior {
  compression?: number;
  upgrade?: (res: HttpResponse, req: HttpRequest, context: WebSocketContext) => void;
  /** @internal */ _userData?: UserData;
}

/** uWS.js's default idleTimeout, in seconds. */
const DEFAULT_IDLE_TIMEOUT_S = 120;

/**
 * The `context` an upgrade handler passes back to res.upgrade(): the route,
 * with its open sockets and the one timer that sweeps their idle timeouts.
 */
export class WebSocketContext implements Route {
  /** @internal */ readonly sockets = new Set<WebSocket>();
  /** @internal The App's byte budget, or null. */ budget: MemoryBudget | null = null;
  private sweep: ReturnType<typeof setInterval> | null = null;

  /** @internal */
  constructor(readonly behavior: WebSocketBehavior) {}

  /** @internal */
  added(ws: WebSocket): void {
    this.sockets.add(ws);
    if (this.sweep !== null) return;
    // One period for both limits: a quarter of the idle timeout, or of maxLifetime if that is shorter.
    const idleMs = (this.behavior.idleTimeout ?? DEFAULT_IDLE_TIMEOUT_S) * 1000, lifeMs = (this.behavior.maxLifetime ?? 0) * 60_000;
    const period = Math.min(idleMs > 0 ? idleMs : Infinity, lifeMs > 0 ? lifeMs : Infinity) / IDLE_TICKS_PER_TIMEOUT;
    if (period === Infinity) return;
    // A silent socket is pinged at half the idle timeout and closed past 1.25x (uWS.js's resolution is 4 s).
    const pingAt = idleMs > 0 ? Math.max(1, Math.round(idleMs / 2 / period)) : 0;
    const closeAfter = idleMs > 0 ? Math.max(2, Math.round((idleMs * 1.25) / period)) : 0;
    this.sweep = setInterval(() => this.tick(pingAt, closeAfter, lifeMs), period);
    (this.sweep as { unref?: () => void }).unref?.();
  }

  /** @internal */
  removed(ws: WebSocket): void { this.sockets.delete(ws); }

  /** @internal app.shutdown() hears each socket's transport close through this. */
  onGone: ((ws: WebSocket) => void) | null = null;
  /** @internal */
  gone(ws: WebSocket): void { this.onGone?.(ws); }

  private tick(pingAt: number, closeAfter: number, lifeMs: number): void {
    const now = Date.now();
    for (const ws of this.sockets) ws._tick(pingAt, closeAfter, now, lifeMs);
    if (this.sockets.size === 0 && this.sweep !== null) { clearInterval(this.sweep); this.sweep = null; }
  }

  /** @internal app.close(): every socket of the route, now. */
  closeAll(): void { for (const ws of [...this.sockets]) ws._wire.close(); }
}

/** What `listen` hands its callback: the listen token (uWS.js's us_listen_socket). */
export class ListenSocket {
  /** @internal */
  constructor(readonly acceptor: Acceptor, private readonly app: TemplatedApp) {}
  /** @internal */
  close(): void { this.app._closed(this); this.acceptor.close(); }
}

const DEFAULT_HTTP_IDLE_S = 10;
// The sweep runs twice per idle timeout and closes on the third silent tick:
// a silent connection goes between 1x and 1.5x the timeout (uWS's resolution is 4 s).
const SWEEP_TICKS = 3;

export class TemplatedApp implements HttpApp {
  readonly maxHeaderSize: number;
  /** The byte budget every WebSocket of this App counts against, or null (maxBufferedBytes: 0). */
  readonly budget: MemoryBudget | null;
  readonly maxBodyLength: number;
  readonly headTable: RequestHead;
  private readonly http = new Router<HttpHandler>();
  private readonly websockets = new Router<WebSocketContext>();
  private readonly listening = new Set<ListenSocket>();
  private readonly connections = new Set<HttpConnection>();
  private readonly idleMs: number;
  private sweep: ReturnType<typeof setInterval> | null = null;
  private readonly topics = new TopicTree();
  private readonly contexts: WebSocketContext[] = [];
  private draining: Promise<AppShutdownResult> | null = null;
  /** Draining: upgrades are answered 503. */
  private refusing = false;
  private broker: Broker | null = null;

  /** @internal */
  constructor(private readonly platform: Platform, options: AppOptions = {}) {
    this.maxHeaderSize = options.maxHeaderSize ?? 16 * 1024;
    this.budget = options.memoryBudget ?? (options.maxBufferedBytes === 0 ? null : new MemoryBudget(options.maxBufferedBytes));
    this.maxBodyLength = options.maxBodyLength ?? 16 * 1024 * 1024;
    this.headTable = new RequestHead(options.maxHeaders ?? 100);
    this.idleMs = (options.httpIdleTimeout ?? DEFAULT_HTTP_IDLE_S) * 1000;
  }

  get(pattern: RecognizedString, handler: HttpHandler): this { return this.add('get', pattern, handler); }
  post(pattern: RecognizedString, handler: HttpHandler): this { return this.add('post', pattern, handler); }
  put(pattern: RecognizedString, handler: HttpHandler): this { return this.add('put', pattern, handler); }
  del(pattern: RecognizedString, handler: HttpHandler): this { return this.add('delete', pattern, handler); }
  patch(pattern: RecognizedString, handler: HttpHandler): this { return this.add('patch', pattern, handler); }
  options(pattern: RecognizedString, handler: HttpHandler): this { return this.add('options', pattern, handler); }
  head(pattern: RecognizedString, handler: HttpHandler): this { return this.add('head', pattern, handler); }
  any(pattern: RecognizedString, handler: HttpHandler): this { return this.add('*', pattern, handler); }

  private add(method: string, pattern: RecognizedString, handler: HttpHandler): this {
    if (typeof handler !== 'function') throw new TypeError('A route handler is a function');
    this.http.add(method, String(pattern), handler);
    return this;
  }

  /** Registers a WebSocket route: upgrade requests matching `pattern` go to `behavior.upgrade` (or are upgraded as they come). */
  ws<UserData = unknown>(pattern: RecognizedString, behavior: WebSocketBehavior<UserData>): this {
    if (typeof behavior !== 'object' || behavior === null) throw new TypeError('A WebSocket behavior is an object');
    const context = new WebSocketContext(behavior as WebSocketBehavior);
    context.budget = this.budget;
    this.contexts.push(context);
    this.websockets.add('get', String(pattern), context);
    return this;
  }

  /**
   * listen([host,] port, cb), or listen(port, options, cb) (uWS.js's listen
   * options): cb gets the listen token, or false when the port could not be
   * taken. As in uWS.js, the port is shared with the Apps of other threads
   * (and this user's other processes) where the platform has SO_REUSEPORT,
   * unless options is LIBUS_LISTEN_EXCLUSIVE_PORT; within one thread a port
   * is never listened on twice.
   */
  listen(hostOrPort: RecognizedString | number, portOrCb: number | ((token: ListenSocket | false) => void),
    maybeCb?: (token: ListenSocket | false) => void): this {
    let host: string | undefined, port: number, cb: (token: ListenSocket | false) => void, exclusive = false;
    if (typeof portOrCb === 'function') { port = Number(hostOrPort); cb = portOrCb; }
    else if (typeof hostOrPort === 'number') { port = hostOrPort; cb = maybeCb!; exclusive = (portOrCb & LIBUS_LISTEN_EXCLUSIVE_PORT) !== 0; }
    else { host = typeof hostOrPort === 'string' ? hostOrPort : new TextDecoder().decode(hostOrPort as ArrayBuffer); port = portOrCb; cb = maybeCb!; }
    if (typeof cb !== 'function') throw new TypeError('listen() needs a callback');
    this.platform.listen({ host, port, reusePort: !exclusive, onConnection: (wire) => this.accept(wire) }, (a) => {
      if (a instanceof Error) { cb(false); return; }
      const token = new ListenSocket(a, this);
      this.listening.add(token);
      cb(token);
    });
    return this;
  }

  /** Publishes to every subscriber of `topic` on this App (the message framed once). */
  publish(topic: RecognizedString, message: RecognizedString, isBinary = false, compress = false): boolean {
    return publishTo(this.topics, typeof topic === 'string' ? topic : new TextDecoder().decode(topic as ArrayBuffer), message, isBinary, compress, null);
  }

  /** How many sockets are subscribed to `topic`. */
  numSubscribers(topic: RecognizedString): number {
    return this.topics.count(typeof topic === 'string' ? topic : new TextDecoder().decode(topic as ArrayBuffer));
  }

  /**
   * Carries this App's publishes to the Apps of other threads or processes and
   * theirs to its subscribers: a ThreadBroker (worker threads of one process),
   * wasmsocket/redis's RedisBroker (other processes). Once per App; close() closes it.
   */
  useBroker(broker: Broker): this {
    if (this.broker !== null) throw new Error('This App has a broker already');
    this.broker = broker;
    attachBroker(this.topics, broker);
    return this;
  }

  /** Stops listening and closes every connection (uWS.js's app.close()). */
  close(): this {
    const broker = this.broker;
    this.broker = null;
    broker?.close().catch(() => { /* the broker reports its own errors */ });
    for (const token of [...this.listening]) token.close();
    for (const conn of [...this.connections]) conn.wire.close();
    for (const context of this.contexts) context.closeAll();
    return this;
  }

  /**
   * Graceful drain (README "Graceful shutdown", as wss.shutdown): stops listening,
   * answers upgrades 503, tells every WebSocket `code` (1001) spread over `spread`
   * ms, terminates those still open at `timeout`, then closes as close() does.
   * A second call returns the same promise.
   */
  shutdown(options: AppShutdownOptions = {}): Promise<AppShutdownResult> {
    if (this.draining !== null) return this.draining;
    const sockets = this.contexts.flatMap((c) => [...c.sockets]);
    try {
      this.draining = drainApp(sockets, options, {
        stopAccepting: () => { this.refusing = true; for (const token of [...this.listening]) token.close(); },
        onGone: (listener) => { for (const c of this.contexts) c.onGone = listener; },
        // The broker stops last (what the sockets published meanwhile goes out), awaited as wss.shutdown's.
        finish: () => {
          const broker = this.broker;
          this.broker = null;
          this.close();
          return broker === null ? Promise.resolve() : broker.close().catch(() => { /* the broker reports its own errors */ });
        },
      });
    } catch (err) {
      return Promise.reject(err);
    }
    return this.draining;
  }

  /** @internal */
  _closed(token: ListenSocket): void { this.listening.delete(token); }

  private accept(wire: Wire): WireOwner {
    const conn = new HttpConnection(wire, this);
    this.connections.add(conn);
    if (this.sweep === null) {
      this.sweep = setInterval(() => this.tick(), this.idleMs / (SWEEP_TICKS - 1));
      (this.sweep as { unref?: () => void }).unref?.();
    }
    return conn;
  }

  private tick(): void {
    for (const conn of this.connections) conn.tick(SWEEP_TICKS);
    if (this.connections.size === 0 && this.sweep !== null) { clearInterval(this.sweep); this.sweep = null; }
  }

  /** HttpApp: the routes, most specific first; a handler's setYield(true) passes the request on. */
  route(res: HttpResponse, req: HttpRequest, upgrade: boolean): boolean {
    const path = req.getUrl();
    if (upgrade && this.websockets.find('get', path, (route, params) => {
      req._params = params;
      req._names = route.names;
      this.upgradeRequest(res, req, route.handler);
      return true;
    })) return true;
    return this.http.find(req.getMethod(), path, (route, params) => {
      req._params = params;
      req._names = route.names;
      req._yield = false;
      route.handler(res, req);
      return !req._yield || res._done;
    });
  }

  private upgradeRequest(res: HttpResponse, req: HttpRequest, context: WebSocketContext): void {
    if (this.refusing) {
      res.writeStatus('503 Service Unavailable').end('503 Service Unavailable', true);
      return;
    }
    if (req.getHeader('sec-websocket-version') !== '13') {
      res.writeStatus('426 Upgrade Required').writeHeader('Sec-WebSocket-Version', '13').end('426 Upgrade Required', true);
      return;
    }
    // A handshake lacks Host or a valid key: 400 (RFC 6455 §4.2.1 items 2 and 5; RFC 9112 §3.2).
    if (req.getHeader('host') === '' || !isValidKey(req.getHeader('sec-websocket-key').trim())) {
      res.writeStatus('400 Bad Request').end('400 Bad Request', true);
      return;
    }
    const upgrade = context.behavior.upgrade;
    if (typeof upgrade === 'function') upgrade(res, req, context);
    // No userData yet: getUserData() makes the empty object uWS.js gives, on first use (56 B an idle socket).
    else res.upgrade(undefined, req.getHeader('sec-websocket-key'), req.getHeader('sec-websocket-protocol'), req.getHeader('sec-websocket-extensions'), context);
  }

  /** HttpApp: res.upgrade() writes the 101 and hands the connection to the WebSocket side. */
  upgrade(conn: HttpConnection, res: HttpResponse, userData: unknown, key: string, protocol: string, extensions: string, context: unknown): void {
    if (!(context instanceof WebSocketContext)) throw new TypeError('res.upgrade() needs the context the upgrade handler was given');
    // Headers the handler wrote after writeStatus('101 Switching Protocols') go into the 101.
    const extra = res._head.startsWith('HTTP/1.1 ') ? res._head.slice(res._head.indexOf('\r\n') + 2) : res._head;
    const behavior = context.behavior;
    const hs = handshake((k) => this.platform.acceptKey(k), key, protocol, extensions, behavior.compression ?? 0,
      behavior.maxPayloadLength ?? DEFAULT_MAX_PAYLOAD_LENGTH, extra);
    const wire = conn.wire;
    wire.write(hs.head);
    this.connections.delete(conn);
    const maxPayload = behavior.maxPayloadLength ?? DEFAULT_MAX_PAYLOAD_LENGTH;
    const deflate = hs.deflate === null ? null
      : this.platform.compressor?.(hs.deflate, ((behavior.compression ?? 0) & 0xff) === SHARED_COMPRESSOR, maxPayload) ?? hs.deflate;
    new WebSocket(wire, context, userData, deflate, this.topics)._open(conn.takeHeld());
  }

  /** HttpApp: a connection closed or upgraded. */
  forget(conn: HttpConnection): void { this.connections.delete(conn); }
}
