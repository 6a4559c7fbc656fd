// The client side of the opening handshake (RFC 6455 §4.1), on Node's http/https.
import http, { type ClientRequest, type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import { acceptKey, isToken, newKey } from './handshake.js';
import { formatExtensions } from '../../codec/extension.js';
import { negotiateResponse } from './client-negotiation.js';
import { connectHttp2 } from './client-h2.js';
import { PerMessageDeflate, type PerMessageDeflateOptions } from '../deflate/permessage-deflate.js';
import { CLOSE_TIMEOUT } from './connection-options.js';
import { connectionOptions, type ClientOptions } from './client-options.js';
import { abortHandshake, type Dialing } from './dialing.js';

// Protocol versions a client may ask for, as in ws (8: the hybi-08 draft, same framing).
const PROTOCOL_VERSIONS = [8, 13];

export function connectClient<W extends Dialing>(ws: W, address: string | URL, protocols: string[], options: ClientOptions<W>, redirects = 0,
  original?: { host: string; secure: boolean }): void {
  const opts = {
    protocolVersion: 13, maxPayload: 100 * 1024 * 1024, skipUTF8Validation: false, perMessageDeflate: true as boolean | PerMessageDeflateOptions,
    followRedirects: false, maxRedirects: 10, autoPong: true, closeTimeout: CLOSE_TIMEOUT, ...options,
  };
  if (!PROTOCOL_VERSIONS.includes(opts.protocolVersion)) {
    throw new RangeError(`Unsupported protocol version: ${opts.protocolVersion} (supported versions: ${PROTOCOL_VERSIONS.join(', ')})`);
  }
  let url: URL;
  try {
    url = address instanceof URL ? address : new URL(address);
  } catch {
    throw new SyntaxError(`Invalid URL: ${String(address)}`);
  }
  if (url.protocol === 'http:') url.protocol = 'ws:';
  else if (url.protocol === 'https:') url.protocol = 'wss:';
  // As ws: after a redirect, `url` is the URL the connection ended up on.
  ws._url = url.href;
  const ipc = url.protocol === 'ws+unix:';
  let invalid = '';
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:' && !ipc) {
    invalid = 'The URL\'s protocol must be one of "ws:", "wss:", "http:", "https:", or "ws+unix:"';
  } else if (ipc && !url.pathname) {
    invalid = 'The URL\'s pathname is empty';
  } else if (url.hash) {
    invalid = 'The URL contains a fragment identifier';
  }
  if (invalid) {
    // A redirect to a bad URL fails the connection; a bad URL from the caller throws.
    if (redirects === 0) throw new SyntaxError(invalid);
    abortHandshake(ws, invalid, SyntaxError);
    return;
  }
  const protocolSet = new Set<string>();
  for (const p of protocols) {
    if (typeof p !== 'string' || !isToken(p) || protocolSet.has(p)) {
      throw new SyntaxError('An invalid or duplicated subprotocol was specified');
    }
    protocolSet.add(p);
  }
  const secure = url.protocol === 'wss:';
  if (opts.http2 && redirects === 0) {
    connectHttp2(ws, url, protocolSet, opts, () => connectClient(ws, url, protocols, { ...options, http2: false }));
    return;
  }
  const key = newKey();
  const headers: Record<string, string> = {
    ...opts.headers,
    'Sec-WebSocket-Version': String(opts.protocolVersion),
    'Sec-WebSocket-Key': key,
    Connection: 'Upgrade',
    Upgrade: 'websocket',
  };
  let pmd: PerMessageDeflate | null = null;
  if (opts.perMessageDeflate) {
    pmd = new PerMessageDeflate(opts.perMessageDeflate === true ? {} : opts.perMessageDeflate, false, opts.maxPayload);
    headers['Sec-WebSocket-Extensions'] = formatExtensions({ [PerMessageDeflate.extensionName]: [pmd.offer()] });
  }
  if (protocolSet.size) headers['Sec-WebSocket-Protocol'] = [...protocolSet].join(',');
  if (opts.origin) headers[opts.protocolVersion < 13 ? 'Sec-WebSocket-Origin' : 'Origin'] = opts.origin;

  const reqOptions: https.RequestOptions = {
    ...opts,
    // As ws: the port as the URL spells it (createConnection sees a string).
    host: url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname,
    port: url.port || (secure ? 443 : 80),
    path: url.pathname + url.search,
    headers,
    timeout: opts.handshakeTimeout,
    method: 'GET',
    socketPath: undefined,
  };
  delete (reqOptions as { perMessageDeflate?: unknown }).perMessageDeflate;
  delete (reqOptions as { memoryBudget?: unknown }).memoryBudget;
  delete (reqOptions as { finishRequest?: unknown }).finishRequest;
  if (url.username || url.password) reqOptions.auth = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
  if (ipc) {
    // ws+unix:/path/to.sock:/request/path -- the socket path, then the request path.
    const [socketPath, path] = (reqOptions.path as string).split(':');
    reqOptions.socketPath = socketPath;
    reqOptions.path = path;
  }

  const req: ClientRequest = (secure ? https : http).request(reqOptions);
  ws._req = req;
  if (opts.handshakeTimeout) req.on('timeout', () => abortHandshake(ws, 'Opening handshake has timed out'));

  req.on('error', (err) => {
    if (ws._req !== req) return;
    ws._req = null;
    ws._readyState = 2;
    ws._emitError(err);
    ws._emitClose();
  });

  req.on('response', (res: IncomingMessage) => {
    const location = res.headers.location;
    const status = res.statusCode ?? 0;
    if (location && opts.followRedirects && status >= 300 && status < 400) {
      if (redirects + 1 > opts.maxRedirects) {
        abortHandshake(ws, 'Maximum redirects exceeded');
        return;
      }
      req.destroy();
      ws._req = null;
      let next: URL;
      try {
        next = new URL(location, url);
      } catch {
        abortHandshake(ws, `Invalid URL: ${location}`);
        return;
      }
      // As ws (and curl 7.77): credentials do not follow a redirect to another
      // host:port, nor from wss: to plain text.
      const first = original ?? { host: url.host, secure };
      const sameHost = next.host === first.host;
      let nextOptions = options;
      if (!sameHost || (first.secure && next.protocol !== 'wss:' && next.protocol !== 'https:')) {
        const kept: Record<string, string> = {};
        for (const [k, v] of Object.entries(options.headers ?? {})) {
          const lk = k.toLowerCase();
          if (lk !== 'authorization' && lk !== 'cookie' && (sameHost || lk !== 'host')) kept[k] = v;
        }
        nextOptions = { ...options, headers: kept, auth: undefined };
        next.username = '';
        next.password = '';
      }
      connectClient(ws, next, protocols, nextOptions, redirects + 1, first);
      return;
    }
    if (!ws.emit('unexpected-response', req, res)) {
      abortHandshake(ws, `Unexpected server response: ${status}`);
    }
  });

  req.on('upgrade', (res: IncomingMessage, socket: Socket, head: Buffer) => {
    ws.emit('upgrade', res);
    if (ws.readyState !== 0) return;
    ws._req = null;
    const fail = (message: string): void => {
      socket.destroy();
      abortHandshake(ws, message);
    };
    if (String(res.headers.upgrade ?? '').toLowerCase() !== 'websocket') return fail('Invalid Upgrade header');
    if (res.headers['sec-websocket-accept'] !== acceptKey(key)) return fail('Invalid Sec-WebSocket-Accept header');
    const settled = negotiateResponse(res.headers, protocolSet, pmd);
    if (typeof settled === 'string') return fail(settled);
    ws._protocol = settled.protocol;
    ws._extensions = settled.extensions;
    ws._setSocket(socket, head, connectionOptions(opts), settled.pmd);
  });

  // As ws: a followed redirect is announced with the new URL and request, before
  // the request is sent, so a listener can still set headers on it.
  if (redirects > 0) ws.emit('redirect', ws._url, req);
  if (opts.finishRequest) opts.finishRequest(req, ws);
  else req.end();
}
