// The client side over HTTP/2 (RFC 8441): an extended CONNECT on a session
// shared by every socket to the same origin (or one the caller passes in),
// falling back to HTTP/1.1 when the server does not advertise
// SETTINGS_ENABLE_CONNECT_PROTOCOL. The connection is the same core as over
// TCP, on the HTTP/2 stream transport.
import { Buffer } from 'node:buffer';
import http2, { type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import { STATUS_CODES, type ClientRequest, type IncomingMessage } from 'node:http';
import { formatExtensions } from '../../codec/extension.js';
import { PerMessageDeflate } from '../deflate/permessage-deflate.js';
import { negotiateResponse } from './client-negotiation.js';
import { closeOnGoaway, h2StreamTransport } from '../transport/h2.js';
import { OriginMemo } from '../transport/h2-origin-memo.js';
import { abortHandshake, type Dialing } from './dialing.js';
import { connectionOptions, type ClientOptions } from './client-options.js';

// finishRequest (typed with the caller's connection) is for HTTP/1.1 only: never read here.
type Opts = ClientOptions<never> & Required<Pick<ClientOptions<never>, 'maxPayload' | 'skipUTF8Validation' | 'autoPong' | 'closeTimeout' | 'perMessageDeflate'>>;

interface Lease { session: ClientHttp2Session; release(): void }

interface PoolEntry { session: ClientHttp2Session; users: number }
/** Sessions opened by us, one per origin and TLS settings; closed when their last socket closes. */
const pool = new Map<string, PoolEntry>();

// TLS options that make two sessions to one origin different (buffers by identity).
const TLS_KEYS = ['ca', 'cert', 'key', 'pfx', 'passphrase', 'rejectUnauthorized', 'servername', 'ciphers', 'minVersion', 'maxVersion', 'localAddress', 'family'] as const;
const ids = new WeakMap<object, number>();
let nextId = 0;
function poolKey(origin: string, opts: Opts): string {
  let key = origin;
  for (const k of TLS_KEYS) {
    const v = (opts as unknown as Record<string, unknown>)[k];
    if (v === undefined) continue;
    const part = typeof v === 'object' && v !== null ? `#${ids.get(v) ?? (ids.set(v, ++nextId), nextId)}` : String(v);
    key += `|${k}=${part}`;
  }
  return key;
}

function leasePooled(origin: string, opts: Opts): Lease {
  const key = poolKey(origin, opts);
  let entry = pool.get(key);
  if (entry === undefined || entry.session.closed || entry.session.destroyed) {
    const tls: Record<string, unknown> = {};
    const o = opts as unknown as Record<string, unknown>;
    for (const k of TLS_KEYS) if (o[k] !== undefined) tls[k] = o[k];
    const session = http2.connect(origin, tls);
    const made: PoolEntry = entry = { session, users: 0 };
    // Errors surface on the streams (their sockets close with 1006); the session must not throw.
    session.on('error', () => {});
    session.on('close', () => { if (pool.get(key) === made) pool.delete(key); });
    pool.set(key, made);
  }
  const e = entry;
  e.users++;
  let released = false;
  return {
    session: e.session,
    release: () => {
      if (released) return;
      released = true;
      if (--e.users === 0) {
        if (pool.get(key) === e) pool.delete(key);
        e.session.close();
      }
    },
  };
}

/** Origins (pool keys) found without WebSockets over HTTP/2: their sockets go straight to HTTP/1.1. */
export const lacksH2 = new OriginMemo();

/**
 * ok: the server allows extended CONNECT. lacking: it does not, as far as we
 * can tell (its settings lack the flag, or it does not speak HTTP/2 at all),
 * as opposed to a network failure, which says nothing about the server.
 */
type Settled = (ok: boolean, lacking: boolean) => void;
/** Sockets waiting for a session's settings, per session (one set of session listeners however many wait). */
const waiting = new WeakMap<ClientHttp2Session, Settled[]>();

/**
 * Calls back with whether the session's peer allows extended CONNECT. The
 * server's SETTINGS is its first frame (RFC 9113 §3.4), so once it has
 * acknowledged ours ('localSettings'), its own are known.
 */
function whenSettled(session: ClientHttp2Session, cb: Settled): void {
  if (session.destroyed || session.closed) { cb(false, false); return; }
  if (!session.connecting && !session.pendingSettingsAck) {
    const ok = session.remoteSettings.enableConnectProtocol === true;
    cb(ok, !ok);
    return;
  }
  let list = waiting.get(session);
  if (list !== undefined) { list.push(cb); return; }
  const cbs = list = [cb];
  waiting.set(session, list);
  const settle = (ok: boolean, lacking: boolean): void => {
    session.removeListener('localSettings', decide);
    session.removeListener('error', fail);
    session.removeListener('close', fail);
    waiting.delete(session);
    for (const f of cbs) f(ok, lacking);
  };
  const decide = (): void => {
    if (session.destroyed) return settle(false, false);
    const ok = session.remoteSettings.enableConnectProtocol === true;
    settle(ok, !ok);
  };
  // A socket-level error (refused, reset, bad certificate) has a syscall or its
  // own code and says nothing about HTTP/2. These do: an HTTP/2 protocol error
  // (the peer answered in HTTP/1.1) and a TLS server refusing ALPN "h2".
  const fail = (err?: Error & { syscall?: string; code?: string }): void =>
    settle(false, err !== undefined && err.syscall === undefined &&
      ((err.code ?? '').startsWith('ERR_HTTP2') || err.code === 'ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL'));
  session.once('localSettings', decide);
  session.once('error', fail);
  session.once('close', fail);
}

/** Opens `ws` over HTTP/2, or calls `fallback` (HTTP/1.1) when the server can't take a WebSocket over it. */
export function connectHttp2(ws: Dialing, url: URL, protocols: Set<string>, opts: Opts, fallback: () => void): void {
  const secure = url.protocol === 'wss:';
  const origin = `${secure ? 'https' : 'http'}://${url.host}`;
  const given = typeof opts.http2 === 'object' ? opts.http2 : null;
  const key = given ? '' : poolKey(origin, opts);
  if (!given && lacksH2.has(key)) { fallback(); return; }
  const lease: Lease = given ? { session: given, release: () => {} } : leasePooled(origin, opts);
  const session = lease.session;
  let timer: NodeJS.Timeout | null = null;
  if (opts.handshakeTimeout) {
    timer = setTimeout(() => { lease.release(); abortHandshake(ws, 'Opening handshake has timed out'); }, opts.handshakeTimeout);
  }
  // ws.close() while waiting for the session: abortHandshake destroys _req.
  ws._req = { destroy: () => { if (timer) clearTimeout(timer); lease.release(); } } as unknown as ClientRequest;

  whenSettled(session, (ok, lacking) => {
    if (!ok && lacking && !given) lacksH2.add(key);
    if (ws.readyState !== 0) return;
    if (!ok) {
      if (timer) clearTimeout(timer);
      ws._req = null;
      lease.release();
      fallback();
      return;
    }
    let pmd: PerMessageDeflate | null = null;
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(opts.headers ?? {})) headers[k.toLowerCase()] = v;
    Object.assign(headers, {
      ':method': 'CONNECT', ':protocol': 'websocket', ':scheme': secure ? 'https' : 'http',
      ':path': url.pathname + url.search, ':authority': url.host, 'sec-websocket-version': '13',
    });
    delete headers.host;
    if (opts.perMessageDeflate) {
      pmd = new PerMessageDeflate(opts.perMessageDeflate === true ? {} : opts.perMessageDeflate, false, opts.maxPayload);
      headers['sec-websocket-extensions'] = formatExtensions({ [PerMessageDeflate.extensionName]: [pmd.offer()] });
    }
    if (protocols.size) headers['sec-websocket-protocol'] = [...protocols].join(',');
    if (opts.origin) headers.origin = opts.origin;
    if (url.username || url.password) {
      headers.authorization = 'Basic ' + Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64');
    }
    let stream: ClientHttp2Stream;
    try {
      stream = session.request(headers, { endStream: false });
    } catch (err) {
      if (timer) clearTimeout(timer);
      lease.release();
      pmd?.cleanup();
      abortHandshake(ws, (err as Error).message);
      return;
    }
    ws._req = stream as unknown as ClientRequest;
    // The stream went before the 200 (refused, reset, session lost, or ws.close()).
    const early = (): void => {
      lease.release();
      pmd?.cleanup();
      if (timer) clearTimeout(timer);
      if (ws._req !== (stream as unknown)) return;
      ws._req = null;
      abortHandshake(ws, `The HTTP/2 stream closed before the handshake finished (code ${stream.rstCode ?? 'none'})`);
    };
    stream.on('error', () => {});
    stream.once('close', early);
    stream.once('response', (res: IncomingHttpHeaders) => {
      if (ws._req !== (stream as unknown)) return;
      if (timer) clearTimeout(timer);
      stream.removeListener('close', early);
      const fail = (message: string): void => {
        lease.release();
        stream.close(http2.constants.NGHTTP2_CANCEL);
        abortHandshake(ws, message);
      };
      const status = Number(res[':status']);
      if (status !== 200) {
        pmd?.cleanup();
        // As ws over HTTP/1.1: a listener gets (req, res) and owns what follows
        // (read the body, then ws.terminate()); without one, the socket fails.
        // Both are the stream: `res` carries statusCode, headers and httpVersion
        // as an IncomingMessage does, and the body is read from it.
        const response = Object.assign(stream, {
          statusCode: status, statusMessage: STATUS_CODES[status] ?? '', headers: res, httpVersion: '2.0', httpVersionMajor: 2, httpVersionMinor: 0,
        });
        stream.once('close', () => { lease.release(); if (ws._req === (stream as unknown)) ws._req = null; });
        if (!ws.emit('unexpected-response', stream, response)) fail(`Unexpected server response: ${status}`);
        return;
      }
      ws._req = null;
      ws.emit('upgrade', { statusCode: status, headers: res, httpVersion: '2.0' } as unknown as IncomingMessage);
      if (ws.readyState !== 0) { lease.release(); return; }
      const settled = negotiateResponse(res, protocols, pmd);
      if (typeof settled === 'string') return fail(settled);
      ws._protocol = settled.protocol;
      ws._extensions = settled.extensions;
      ws._setSocket(stream, EMPTY, connectionOptions(opts), settled.pmd, h2StreamTransport);
      closeOnGoaway(session, ws);
      ws.once('close', lease.release);
    });
  });
}

const EMPTY = Buffer.alloc(0);
