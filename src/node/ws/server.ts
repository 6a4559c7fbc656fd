// WebSocketServer: ws's upgrade path on Node's http server (RFC 6455 §4.2).
import { Buffer } from 'node:buffer';
import process from 'node:process';
import { EventEmitter } from 'node:events';
import http, { type IncomingMessage, type Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import type { IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import type { Socket, AddressInfo } from 'node:net';
import { acceptKey, httpError, isValidKey, parseSubprotocols, tokens } from './handshake.js';
import { parseExtensions, formatExtensions } from '../../codec/extension.js';
import { PerMessageDeflate, type PerMessageDeflateOptions } from '../deflate/permessage-deflate.js';
import { WebSocket } from './websocket.js';
import { CLOSE_TIMEOUT } from './connection-options.js';
import { Broadcaster, toPayload, type BroadcastOptions, type BackpressurePolicy } from '../fanout/broadcast.js';
import { MemoryBudget, type BudgetEvent } from '../../core/budget.js';
import { Heartbeat } from '../../core/heartbeat.js';
import type { Transport } from '../transport/transport.js';
import { closeOnGoaway, h2StreamTransport } from '../transport/h2.js';
import {
  Http2UpgradeRequest, isHttp2Server, isWebSocketConnect, respondAccept, respondRefuse, routeWebSocketStreams, type AnyHttp2Server,
} from '../transport/h2-server.js';
import type { Broker } from '../../core/broker.js';
import { drain, type ShutdownOptions, type ShutdownResult } from './shutdown.js';
import { Admission, type AdmissionOptions, type RefusalCounts } from './admission.js';
import { LIMIT_OPTION, handshakeRefused, idleTimeout, limitHit, serverClose, serverOpen } from './diagnostics.js';

export interface VerifyClientInfo { origin: string | undefined; secure: boolean; req: IncomingMessage }
export type VerifyClientSync = (info: VerifyClientInfo) => boolean;
export type VerifyClientAsync = (info: VerifyClientInfo, cb: (result: boolean, code?: number, message?: string, headers?: Record<string, string>) => void) => void;

/** ws's options, and the admission checks (admission.ts: allowedOrigins, connection limits, handshake rate, trustProxy). */
export interface ServerOptions extends AdmissionOptions {
  host?: string;
  port?: number;
  backlog?: number;
  /** An http/https server, or an http2 one (HTTP/2 extended CONNECT, RFC 8441, and with allowHTTP1 the HTTP/1.1 Upgrade too). */
  server?: HttpServer | HttpsServer | AnyHttp2Server;
  noServer?: boolean;
  path?: string;
  maxPayload?: number;
  clientTracking?: boolean;
  verifyClient?: VerifyClientSync | VerifyClientAsync;
  handleProtocols?: (protocols: Set<string>, req: IncomingMessage) => string | false;
  perMessageDeflate?: boolean | PerMessageDeflateOptions;
  skipUTF8Validation?: boolean;
  autoPong?: boolean;
  closeTimeout?: number;
  allowSynchronousEvents?: boolean;
  /** Time allowed for a request's headers on the server we create (ms); then the socket is closed. */
  handshakeTimeout?: number;
  /** Cap on the upgrade request's header section on the server we create (bytes; 431 beyond). */
  maxHeaderSize?: number;
  /** Bytes a socket may have queued before broadcast/publish applies `backpressurePolicy`. */
  maxBackpressure?: number;
  backpressurePolicy?: BackpressurePolicy;
  /**
   * Bytes all connections together may hold for the peers: messages still
   * arriving, inflation in progress, queued sends. Past it the biggest holder is
   * closed (1009, or 1008 for a peer not reading). Default: a quarter of V8's
   * heap limit; 0 counts without enforcing.
   */
  maxBufferedBytes?: number;
  /** A budget shared with other servers (overrides maxBufferedBytes). */
  memoryBudget?: MemoryBudget;
  /**
   * Milliseconds a peer may stay silent: silent peers are pinged, and terminated
   * when nothing (a pong or anything else) arrives within this time; a peer that
   * takes none of our queued bytes for this long is terminated too. 0 (default): off.
   */
  idleTimeout?: number;
  WebSocket?: typeof WebSocket;
}

/** Counters of what the server's limits did (wss.stats). */
export interface ServerStats {
  /** Bytes held for peers now (incoming exact, queued sends as of the last sweep). */
  bufferedBytes: number;
  /** The budget's limit in bytes (Infinity: counting only). */
  maxBufferedBytes: number;
  /** Connections closed by the memory budget. */
  budgetCloses: number;
  /** Peers terminated for silence past idleTimeout. */
  idleTimeouts: number;
  /** Peers terminated for not reading for idleTimeout. */
  stalledSends: number;
  /** Connections open or in handshake (with admission limits set: those holding a slot; else the tracked clients). */
  connections: number;
  /** Handshakes refused by allowedOrigins and the connection limits, by reason. */
  refused: RefusalCounts;
}

/** The server's events and listener signatures, as in ws. */
export interface ServerEvents {
  connection: (this: WebSocketServer, ws: WebSocket, req: IncomingMessage) => void;
  error: (this: WebSocketServer, err: Error) => void;
  headers: (this: WebSocketServer, headers: string[], req: IncomingMessage) => void;
  close: (this: WebSocketServer) => void;
  listening: (this: WebSocketServer) => void;
  wsClientError: (this: WebSocketServer, err: Error, socket: Duplex, req: IncomingMessage) => void;
  /** A connection was closed by the memory budget. */
  budgetExceeded: (this: WebSocketServer, ws: WebSocket, event: BudgetEvent) => void;
  /** A peer was terminated by the idle timeout ('idle': silent; 'stalled': not reading). */
  timeout: (this: WebSocketServer, ws: WebSocket, why: 'idle' | 'stalled') => void;
}

/** How a handshake is answered: an HTTP/1.1 101 on a socket, or a :status 200 on an HTTP/2 stream. */
interface HandshakeForm {
  /** Bytes read past the request (HTTP/1.1 only). */
  head: Buffer;
  transport?: Transport;
  /** The response's first lines, before the negotiated headers. */
  lines: string[];
  accept(lines: string[]): void;
  /** A bad request (HTTP/1.1: the wsClientError hook may answer it). */
  refuse(code: number, message?: string, headers?: Record<string, string>): void;
  /** A request refused by verifyClient or not ours by path: answered directly, as ws. */
  abort(code: number, message?: string, headers?: Record<string, string>): void;
}

const RUNNING = 0, CLOSING = 1, CLOSED = 2;
const NO_CLIENTS: ReadonlySet<WebSocket> = new Set();
const EMPTY = Buffer.alloc(0);
const kHandled = Symbol('wasmsocket.upgradeHandled');
const NO_REFUSALS: RefusalCounts = { origin: 0, noOrigin: 0, maxConnections: 0, maxConnectionsPerAddress: 0, handshakeRate: 0 };

export class WebSocketServer extends EventEmitter {
  readonly options: Required<Pick<ServerOptions, 'maxPayload' | 'skipUTF8Validation' | 'autoPong' | 'closeTimeout' | 'clientTracking'>> & ServerOptions;
  /** The open connections; undefined with `clientTracking: false` (as in ws). */
  readonly clients: Set<WebSocket>;
  private _server: HttpServer | HttpsServer | AnyHttp2Server | null = null;
  private _state = RUNNING;
  private _removeListeners: (() => void) | null = null;
  private _shouldEmitClose = false;
  /** @internal */ readonly _broadcaster: Broadcaster<WebSocket>;
  /** @internal */ readonly _budget: MemoryBudget;
  /** @internal */ readonly _heartbeat: Heartbeat | null;
  private _broker: Broker | null = null;
  private _brokerClosed: Promise<void> | null = null;
  private _shutdown: Promise<ShutdownResult> | null = null;
  private readonly _admission: Admission | null;

  constructor(options: ServerOptions, callback?: () => void) {
    super();
    const opts = {
      maxPayload: 100 * 1024 * 1024, skipUTF8Validation: false, perMessageDeflate: false as boolean | PerMessageDeflateOptions,
      handleProtocols: undefined, clientTracking: true, verifyClient: undefined, noServer: false, backlog: undefined,
      server: undefined, host: undefined, path: undefined, port: undefined, autoPong: true, closeTimeout: CLOSE_TIMEOUT,
      WebSocket, ...options,
    };
    if ((opts.port == null && !opts.server && !opts.noServer) ||
      (opts.port != null && (opts.server || opts.noServer)) || (opts.server && opts.noServer)) {
      throw new TypeError('One and only one of the "port", "server", or "noServer" options must be specified');
    }
    this.options = opts;
    // As ws: no set at all without tracking (typed as ws's @types declare it).
    this.clients = opts.clientTracking ? new Set() : undefined as unknown as Set<WebSocket>;
    this._broadcaster = new Broadcaster<WebSocket>(opts.maxBackpressure, opts.backpressurePolicy);
    this._budget = opts.memoryBudget ?? new MemoryBudget(opts.maxBufferedBytes);
    if (!opts.memoryBudget) this._budget.onExceeded = (ws, event) => this.emit('budgetExceeded', ws, event);
    this._heartbeat = opts.idleTimeout ? new Heartbeat(opts.idleTimeout) : null;
    if (this._heartbeat) {
      this._heartbeat.onTimeout = (ws, why) => {
        if (idleTimeout.hasSubscribers) idleTimeout.publish({ server: this, websocket: ws, why });
        this.emit('timeout', ws, why);
      };
    }
    this._admission = Admission.needed(opts) ? new Admission(opts) : null;

    if (opts.port != null) {
      const server = http.createServer({
        // A truncated handshake is dropped after handshakeTimeout; Node checks
        // every connectionsCheckingInterval, so keep that well below it.
        headersTimeout: opts.handshakeTimeout ?? 10_000,
        requestTimeout: opts.handshakeTimeout ?? 10_000,
        connectionsCheckingInterval: Math.min(1000, opts.handshakeTimeout ?? 10_000),
        maxHeaderSize: opts.maxHeaderSize ?? 16 * 1024,
      }, (_req, res) => {
        const body = http.STATUS_CODES[426]!;
        res.writeHead(426, { 'Content-Length': body.length, 'Content-Type': 'text/plain' });
        res.end(body);
      });
      server.listen(opts.port, opts.host, opts.backlog, callback);
      this._server = server;
    } else if (opts.server) {
      this._server = opts.server;
    }
    if (this._server) {
      const server = this._server;
      const onListening = (): void => { this.emit('listening'); };
      const onError = (err: Error): void => { this.emit('error', err); };
      const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
        this.handleUpgrade(req, socket, head, (ws) => this.emit('connection', ws, req));
      };
      server.on('listening', onListening);
      server.on('error', onError);
      server.on('upgrade', onUpgrade);
      // HTTP/2: WebSocket CONNECT streams are taken before any 'stream' or
      // 'request' listener; a stream for another path is passed on.
      const unroute = isHttp2Server(server) ? routeWebSocketStreams(server, (stream, headers) => {
        if (!this._pathMatches(headers[':path'])) return false;
        this.handleStream(stream, headers, (ws, req) => this.emit('connection', ws, req));
        return true;
      }) : null;
      this._removeListeners = () => {
        server.removeListener('listening', onListening);
        server.removeListener('error', onError);
        server.removeListener('upgrade', onUpgrade);
        unroute?.();
      };
    }
  }

  on<E extends keyof ServerEvents>(event: E, listener: ServerEvents[E]): this;
  on(event: string | symbol, listener: (this: WebSocketServer, ...args: any[]) => void): this;
  on(event: string | symbol, listener: (...args: any[]) => void): this { return super.on(event, listener); }
  once<E extends keyof ServerEvents>(event: E, listener: ServerEvents[E]): this;
  once(event: string | symbol, listener: (this: WebSocketServer, ...args: any[]) => void): this;
  once(event: string | symbol, listener: (...args: any[]) => void): this { return super.once(event, listener); }

  /** What the memory budget and idle timeout did so far. */
  get stats(): ServerStats {
    const b = this._budget, h = this._heartbeat;
    return {
      bufferedBytes: b.total, maxBufferedBytes: b.limit, budgetCloses: b.closes,
      idleTimeouts: h ? h.stats.idleTimeouts : 0, stalledSends: h ? h.stats.stalledSends : 0,
      connections: this._admission ? this._admission.connections : this.clients?.size ?? 0,
      refused: { ...(this._admission?.refused ?? NO_REFUSALS) },
    };
  }

  address(): AddressInfo | string | null {
    if (this.options.noServer) throw new Error('The server is operating in "noServer" mode');
    if (!this._server) return null;
    return this._server.address();
  }

  /** Stops accepting connections; 'close' follows once every tracked client has closed. */
  close(cb?: (err?: Error) => void): void {
    if (this._state === CLOSED) {
      if (cb) this.once('close', () => cb(new Error('The server is not running')));
      process.nextTick(() => this.emit('close'));
      return;
    }
    if (cb) this.once('close', cb);
    if (this._state === CLOSING) return;
    this._state = CLOSING;
    if (this._broker) {
      const broker = this._broker;
      this._broker = null;
      this._broadcaster.onTopic = null;
      this._brokerClosed = broker.close().catch((err: Error) => { this.emit('error', err); });
    }
    if (this.options.noServer || this.options.server) {
      this._removeListeners?.();
      this._removeListeners = null;
      this._server = null;
      this._emitCloseWhenEmpty();
      return;
    }
    const server = this._server!;
    this._removeListeners?.();
    this._removeListeners = null;
    this._server = null;
    server.close(() => this._emitCloseWhenEmpty());
  }

  /**
   * The graceful drain for deploys (shutdown.ts, README "Graceful shutdown"):
   * new handshakes get 503 and a server we created stops listening; every
   * connection gets a close frame (1001), spread over `spread` ms if asked;
   * HTTP/2 sessions carrying them get GOAWAY; those still open after `timeout`
   * ms are terminated; then the server closes as by close() and the broker
   * stops. A second call returns the same promise.
   */
  shutdown(options: ShutdownOptions = {}): Promise<ShutdownResult> {
    try {
      this._shutdown ??= drain(this.clients ?? NO_CLIENTS, options, {
        // The upgrade listeners stay until the drain ends, answering 503.
        stopAccepting: () => { if (this.options.port != null) (this._server as HttpServer | null)?.close(); },
        finish: () => { this.close(); return this._brokerClosed ?? Promise.resolve(); },
      });
    } catch (err) {
      return Promise.reject(err);
    }
    return this._shutdown;
  }

  private _emitCloseWhenEmpty(): void {
    if (this.options.clientTracking && this.clients.size > 0) {
      this._shouldEmitClose = true;
      return;
    }
    this._state = CLOSED;
    process.nextTick(() => this.emit('close'));
  }

  /** Whether the request's path matches the `path` option. */
  shouldHandle(req: IncomingMessage): boolean {
    return this._pathMatches(req.url);
  }

  private _pathMatches(url: string | undefined): boolean {
    if (this.options.path) {
      const index = url!.indexOf('?');
      const pathname = index !== -1 ? url!.slice(0, index) : url;
      if (pathname !== this.options.path) return false;
    }
    return true;
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, cb: (ws: WebSocket, req: IncomingMessage) => void): void {
    socket.on('error', socketOnError);
    const key = req.headers['sec-websocket-key'];
    const upgrade = req.headers.upgrade;
    const version = Number(req.headers['sec-websocket-version']);
    if (req.method !== 'GET') return this._refuse(socket, req, 405, 'Invalid HTTP method');
    if (upgrade === undefined || upgrade.toLowerCase() !== 'websocket') return this._refuse(socket, req, 400, 'Invalid Upgrade header');
    if (!tokens(req.headers.connection).some((t) => t.toLowerCase() === 'upgrade')) return this._refuse(socket, req, 400, 'Invalid Connection header');
    if (!isValidKey(key)) return this._refuse(socket, req, 400, 'Missing or invalid Sec-WebSocket-Key header');
    // ws accepts 8 (the hybi-08 draft, same framing) and 13. For any other
    // version we answer 426 with the versions we speak (RFC 6455 §4.4), where ws
    // answers 400: one of our listed differences.
    if (version !== 13 && version !== 8) {
      return this._refuse(socket, req, 426, 'Missing or invalid Sec-WebSocket-Version header', { 'Sec-WebSocket-Version': '13, 8' });
    }
    if (!req.headers.host) return this._refuse(socket, req, 400, 'Missing Host header'); // RFC 6455 §4.2.1
    this._negotiate(req, socket, {
      head,
      lines: ['HTTP/1.1 101 Switching Protocols', 'Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Accept: ${acceptKey(key.trim())}`],
      accept: (lines) => { socket.write(lines.concat('\r\n').join('\r\n')); },
      refuse: (code, message, headers) => this._refuse(socket, req, code, message, headers),
      abort: (code, message, headers) => abortUpgrade(socket, code, message, headers),
    }, cb);
  }

  /**
   * Takes a WebSocket that arrived as an HTTP/2 extended CONNECT (RFC 8441):
   * the `'stream'` event's stream and headers, for `noServer` setups (with
   * `server`, WebSocket streams are routed here already). The server must
   * advertise the protocol: `http2.createSecureServer({ settings: { enableConnectProtocol: true } })`.
   * `req` in the callback and in 'connection' is an Http2UpgradeRequest
   * (method 'CONNECT', url, headers with pseudo-headers, socket).
   */
  handleStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, cb: (ws: WebSocket, req: IncomingMessage) => void): void {
    stream.on('error', socketOnError);
    const req = new Http2UpgradeRequest(stream, headers) as unknown as IncomingMessage;
    // Bad requests go through the wsClientError hook as over HTTP/1.1 (the
    // hook's `socket` is the stream: answer with stream.respond()); verifyClient
    // refusals are answered directly, as ws does.
    const refuse = (code: number, message?: string, extra?: Record<string, string>): void =>
      this._refuse(stream, req, code, message, extra, refuseStream);
    if (!isWebSocketConnect(headers)) return refuse(400, 'Not a WebSocket CONNECT (RFC 8441)');
    // RFC 8441 §5: the version goes in Sec-WebSocket-Version as over HTTP/1.1,
    // and is checked the same way (8 and 13 accepted, else 426 listing both).
    const version = Number(headers['sec-websocket-version']);
    if (version !== 13 && version !== 8) {
      return refuse(426, 'Missing or invalid Sec-WebSocket-Version header', { 'Sec-WebSocket-Version': '13, 8' });
    }
    if (!headers[':authority']) return refuse(400, 'Missing :authority');
    this._negotiate(req, stream, {
      head: EMPTY,
      transport: h2StreamTransport,
      lines: [],
      accept: (lines) => respondAccept(stream, lines),
      refuse,
      abort: (code, message, extra) => refuseStream(stream, code, message, extra),
    }, cb);
  }

  // What HTTP/1.1 and HTTP/2 share: path, subprotocols, permessage-deflate, verifyClient.
  private _negotiate(req: IncomingMessage, socket: Duplex, form: HandshakeForm, cb: (ws: WebSocket, req: IncomingMessage) => void): void {
    // Not ours (path): a plain 400 that skips the wsClientError hook, as in ws.
    if (!this.shouldHandle(req)) return form.abort(400);
    const origin = Number(req.headers['sec-websocket-version']) === 8 ? req.headers['sec-websocket-origin'] as string | undefined : req.headers.origin;
    if (this._admission !== null && !this._admit(req, socket, form, origin)) return;

    const protocolHeader = req.headers['sec-websocket-protocol'];
    let protocols = new Set<string>();
    if (protocolHeader !== undefined) {
      const parsed = parseSubprotocols(protocolHeader);
      if (parsed === null) return form.refuse(400, 'Invalid Sec-WebSocket-Protocol header');
      protocols = parsed;
    }

    let pmd: PerMessageDeflate | null = null;
    const extHeader = req.headers['sec-websocket-extensions'];
    if (this.options.perMessageDeflate && extHeader !== undefined) {
      const candidate = new PerMessageDeflate(this.options.perMessageDeflate === true ? {} : this.options.perMessageDeflate,
        true, this.options.maxPayload);
      let offers;
      try {
        offers = parseExtensions(extHeader);
      } catch {
        candidate.cleanup();
        return form.refuse(400, 'Invalid or unacceptable Sec-WebSocket-Extensions header');
      }
      const deflateOffers = offers[PerMessageDeflate.extensionName];
      try {
        if (deflateOffers) {
          candidate.accept(deflateOffers);
          pmd = candidate;
        }
      } catch {
        // No offer we can honour: carry on without the extension (RFC 7692 §5).
      }
      if (pmd === null) candidate.cleanup();
    }

    const verify = this.options.verifyClient;
    if (verify) {
      const info: VerifyClientInfo = {
        origin,
        secure: !!((req.socket as Socket & { authorized?: boolean; encrypted?: boolean }).authorized ||
          (req.socket as Socket & { encrypted?: boolean }).encrypted),
        req,
      };
      if (verify.length === 2) {
        (verify as VerifyClientAsync)(info, (ok, code, message, headers) => {
          if (!ok) {
            pmd?.cleanup();
            this._refused(req, code || 401, 'verify-client');
            return form.abort(code || 401, message, headers);
          }
          this._complete(pmd, protocols, req, socket, form, cb);
        });
        return;
      }
      if (!(verify as VerifyClientSync)(info)) {
        pmd?.cleanup();
        this._refused(req, 401, 'verify-client');
        return form.abort(401);
      }
    }
    this._complete(pmd, protocols, req, socket, form, cb);
  }

  private _complete(pmd: PerMessageDeflate | null, protocols: Set<string>, req: IncomingMessage,
    socket: Duplex, form: HandshakeForm, cb: (ws: WebSocket, req: IncomingMessage) => void): void {
    if (!socket.readable || !socket.writable) { pmd?.cleanup(); socket.destroy(); return; }
    const s = socket as Duplex & { [kHandled]?: boolean };
    if (s[kHandled]) {
      throw new Error('server.handleUpgrade() was called more than once with the same socket, possibly due to a misconfiguration');
    }
    if (this._state > RUNNING || this._shutdown !== null) { // closing or draining
      pmd?.cleanup();
      this._refused(req, 503, 'shutting-down');
      return form.abort(503);
    }
    s[kHandled] = true;
    const headers = form.lines;
    const WS = this.options.WebSocket ?? WebSocket;
    const ws = new WS(null);
    ws._broadcaster = this._broadcaster;
    if (protocols.size) {
      const chosen = this.options.handleProtocols ? this.options.handleProtocols(protocols, req) : protocols.values().next().value;
      if (chosen) {
        headers.push(`Sec-WebSocket-Protocol: ${chosen}`);
        ws._protocol = chosen;
      }
    }
    if (pmd) {
      const value = formatExtensions({ [PerMessageDeflate.extensionName]: [pmd.params!] });
      headers.push(`Sec-WebSocket-Extensions: ${value}`);
      ws._extensions = value;
    }
    this.emit('headers', headers, req);
    form.accept(headers);
    socket.removeListener('error', socketOnError);
    ws._setSocket(socket, form.head, {
      maxPayload: this.options.maxPayload, skipUTF8Validation: this.options.skipUTF8Validation,
      autoPong: this.options.autoPong, closeTimeout: this.options.closeTimeout,
      budget: this._budget, heartbeat: this._heartbeat,
    }, pmd, form.transport);
    if (form.transport === h2StreamTransport) closeOnGoaway((socket as ServerHttp2Stream).session!, ws);
    if (serverOpen.hasSubscribers) serverOpen.publish({ server: this, websocket: ws, request: req, address: this._addressOf(req) });
    const tracking = this.options.clientTracking;
    if (tracking) this.clients.add(ws);
    ws.on('close', (code: number, reason: Buffer) => {
      if (serverClose.hasSubscribers) serverClose.publish({ server: this, websocket: ws, code, reason });
      if (tracking) {
        this.clients.delete(ws);
        if (this._shouldEmitClose && !this.clients.size) {
          this._shouldEmitClose = false;
          this._state = CLOSED;
          process.nextTick(() => this.emit('close'));
        }
      }
    });
    cb(ws, req);
  }

  // ws's `wsClientError` hook: the user may answer a bad request themselves.
  private _refuse(socket: Duplex, req: IncomingMessage, code: number, message?: string, headers?: Record<string, string>,
    answer: typeof abortUpgrade = abortUpgrade): void {
    this._refused(req, code, 'invalid-handshake', message);
    if (this.listenerCount('wsClientError')) {
      const err = Object.assign(new Error(message ?? http.STATUS_CODES[code]), { code: 'WS_ERR_HANDSHAKE', statusCode: code });
      this.emit('wsClientError', err, socket, req);
      return;
    }
    answer(socket, code, message, headers);
  }

  /**
   * The admission checks (admission.ts), before any negotiation: refused, the
   * answer is sent (403, or 503 with Retry-After) and false returned; admitted,
   * the handshake holds a connection slot until its socket closes or is refused.
   */
  private _admit(req: IncomingMessage, socket: Duplex, form: HandshakeForm, origin: string | undefined): boolean {
    const admission = this._admission!;
    const result = admission.admit(req as Parameters<Admission['admit']>[0], origin);
    if (typeof result !== 'function') {
      if (result.status === 503 && limitHit.hasSubscribers) {
        const limit = LIMIT_OPTION[result.reason as keyof typeof LIMIT_OPTION];
        limitHit.publish({ server: this, request: req, limit, value: admission.limitOf(result.reason), address: result.address });
      }
      this._refused(req, result.status, result.reason, undefined, result.address);
      form.abort(result.status, undefined, result.headers);
      return false;
    }
    socket.once('close', result);
    const { abort, refuse } = form;
    form.abort = (code, message, headers) => { result(); abort(code, message, headers); };
    form.refuse = (code, message, headers) => { result(); refuse(code, message, headers); };
    return true;
  }

  /**
   * The client's address for a request (in verifyClient or 'connection'): the
   * socket's peer, or behind a `trustProxy` proxy the client it forwards.
   */
  clientAddress(req: IncomingMessage): string | undefined {
    return this._addressOf(req);
  }

  private _addressOf(req: IncomingMessage): string | undefined {
    return this._admission ? this._admission.addressOf(req as Parameters<Admission['admit']>[0]) : req.socket?.remoteAddress;
  }

  private _refused(req: IncomingMessage, status: number, reason: string, message?: string, address?: string): void {
    if (!handshakeRefused.hasSubscribers) return;
    handshakeRefused.publish({ server: this, request: req, status, reason, address: address ?? this._addressOf(req), message });
  }

  /**
   * Sends one message to every open client, framed once, and for permessage-deflate
   * peers compressed once (per window size). Returns the number of recipients.
   */
  broadcast(data: string | Buffer | ArrayBuffer | ArrayBufferView, options: BroadcastOptions<WebSocket> = {}): number {
    if (this._broker === null) return this._broadcaster.broadcast(this.clients ?? NO_CLIENTS, data, options);
    return this._brokered(null, data, options);
  }

  /**
   * Sends one message to every subscriber of `topic`, framed once. With a broker
   * it also reaches the subscribers on every other process sharing the broker.
   */
  publish(topic: string, data: string | Buffer | ArrayBuffer | ArrayBufferView, options: BroadcastOptions<WebSocket> = {}): number {
    if (this._broker === null) return this._broadcaster.publish(topic, data, options);
    return this._brokered(topic, data, options);
  }

  /**
   * Carries broadcast() and publish() to other processes through `broker`
   * (e.g. wasmsocket/redis). Local sockets are still served here first, with no
   * round trip; `filter` and `except` apply to local sockets only. The broker is
   * closed by wss.close().
   */
  useBroker(broker: Broker): this {
    if (this._broker !== null) throw new Error('A broker is already in use');
    if (this._state !== RUNNING) throw new Error('The server is not running');
    this._broker = broker;
    const broadcaster = this._broadcaster;
    broadcaster.onTopic = (topic, active) => { if (active) broker.topicAdded(topic); else broker.topicRemoved(topic); };
    broker.attach({
      deliver: (topic, payload, binary, compress) => topic === null
        ? broadcaster.broadcast(this.clients ?? NO_CLIENTS, payload, { binary, compress })
        : broadcaster.publish(topic, payload, { binary, compress }),
      topics: () => broadcaster.topicNames(),
    });
    return this;
  }

  private _brokered(topic: string | null, data: string | Buffer | ArrayBuffer | ArrayBufferView, options: BroadcastOptions<WebSocket>): number {
    const payload = toPayload(data);
    const binary = options.binary ?? typeof data !== 'string';
    const local = { ...options, binary };
    const sent = topic === null ? this._broadcaster.broadcast(this.clients ?? NO_CLIENTS, payload, local) : this._broadcaster.publish(topic, payload, local);
    this._broker!.publish(topic, payload, binary, options.compress !== false);
    return sent;
  }
}

function socketOnError(this: Duplex): void {
  this.destroy();
}

/** A refusal on an HTTP/2 stream: :status `code`, the message as body, `headers` added. */
function refuseStream(stream: Duplex, code: number, message?: string, headers?: Record<string, string>): void {
  stream.removeListener('error', socketOnError);
  respondRefuse(stream, code, message, headers);
}

function abortUpgrade(socket: Duplex, code: number, message?: string, headers?: Record<string, string>): void {
  socket.removeListener('error', socketOnError);
  socket.on('error', () => {});
  if (socket.writable) socket.end(httpError(code, message, headers));
  else socket.destroy();
}
