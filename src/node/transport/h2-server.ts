// WebSockets over HTTP/2 on the server (RFC 8441): the extended CONNECT stream,
// its request object, and how the handshake is answered on a stream. The
// connection itself is the same core as over TCP (websocket.ts) with the
// HTTP/2 stream transport (transport-h2.ts).
import { Buffer } from 'node:buffer';
import type { IncomingHttpHeaders, Http2Server, Http2SecureServer, ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { STATUS_CODES } from 'node:http';

export type AnyHttp2Server = Http2Server | Http2SecureServer;

/** An http2.createServer / createSecureServer server (both have updateSettings; http/https servers don't). */
export function isHttp2Server(server: unknown): server is AnyHttp2Server {
  return typeof (server as { updateSettings?: unknown }).updateSettings === 'function';
}

/** RFC 8441 §4: an extended CONNECT asking for the websocket protocol. */
export function isWebSocketConnect(headers: IncomingHttpHeaders): boolean {
  return headers[':method'] === 'CONNECT' && headers[':protocol'] === 'websocket';
}

type StreamHandler = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => boolean;
type Emit = (event: string | symbol, ...args: unknown[]) => boolean;

/**
 * Advertises SETTINGS_ENABLE_CONNECT_PROTOCOL on `server` and hands WebSocket
 * CONNECT streams to `handle` before any 'stream' listener sees them. Node's
 * compatibility layer ('request' listeners) is itself a 'stream' listener and
 * answers a CONNECT (405, or the user's handler), which would kill the socket
 * (Chromium reports 1006 right after open); so the stream never reaches it.
 * `handle` returns false to pass a stream on (another path). Returns the undo.
 */
export function routeWebSocketStreams(server: AnyHttp2Server, handle: StreamHandler): () => void {
  server.updateSettings({ enableConnectProtocol: true });
  const previous = server.emit as Emit;
  let active = true;
  const routed: Emit = function (this: AnyHttp2Server, event, ...args) {
    if (active && event === 'stream' && isWebSocketConnect(args[1] as IncomingHttpHeaders) &&
      handle(args[0] as ServerHttp2Stream, args[1] as IncomingHttpHeaders)) return true;
    const heard = previous.call(this, event, ...args);
    // A WebSocket CONNECT for another path that nobody else takes would hang.
    if (!heard && event === 'stream' && isWebSocketConnect(args[1] as IncomingHttpHeaders)) respondRefuse(args[0] as Duplex, 400);
    return heard;
  };
  (server as { emit: Emit }).emit = routed;
  return () => {
    active = false;
    if (server.emit === routed) (server as { emit: Emit }).emit = previous;
  };
}

/**
 * The `req` of a WebSocket that arrived as an HTTP/2 stream: the fields ws
 * programs read (url, headers, method, socket, httpVersion), without Node's
 * compatibility request, which would hang six listeners on every stream.
 * `headers` keeps the pseudo-headers (as Node's Http2ServerRequest does) and
 * adds `host` from `:authority` when absent, for code that builds a URL from it.
 */
export class Http2UpgradeRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly httpVersion = '2.0';
  readonly httpVersionMajor = 2;
  readonly httpVersionMinor = 0;
  constructor(readonly stream: ServerHttp2Stream, headers: IncomingHttpHeaders) {
    this.method = headers[':method'] ?? '';
    this.url = headers[':path'] ?? '';
    this.headers = headers;
    if (headers.host === undefined && headers[':authority'] !== undefined) headers.host = headers[':authority'];
  }
  /** The session's TCP/TLS socket (remoteAddress, encrypted). */
  get socket(): Socket { return this.stream.session?.socket as Socket; }
  get connection(): Socket { return this.socket; }
}

/** Answers a WebSocket CONNECT on the stream: 200 and the negotiated headers, stream left open. */
export function respondAccept(stream: ServerHttp2Stream, lines: string[]): void {
  const headers: Record<string, string | string[]> = { ':status': '200' };
  for (const line of lines) {
    const i = line.indexOf(':');
    if (i <= 0) continue;
    const name = line.slice(0, i).trim().toLowerCase();
    const value = line.slice(i + 1).trim();
    const had = headers[name];
    headers[name] = had === undefined ? value : Array.isArray(had) ? [...had, value] : [had, value];
  }
  stream.respond(headers);
}

/** Refuses a WebSocket CONNECT with an HTTP status and a short body, headers as HTTP/1.1's refusals (handshake.ts httpError). */
export function respondRefuse(stream: Duplex, code: number, message?: string, extra: Record<string, string> = {}): void {
  const s = stream as ServerHttp2Stream;
  s.on('error', () => {});
  if (s.destroyed || s.headersSent) { s.destroy(); return; }
  const body = message ?? STATUS_CODES[code] ?? 'Error';
  const headers: Record<string, string | number> = { ':status': code, 'content-type': 'text/html', 'content-length': Buffer.byteLength(body) };
  for (const [k, v] of Object.entries(extra)) headers[k.toLowerCase()] = v;
  s.respond(headers);
  s.end(body);
}
