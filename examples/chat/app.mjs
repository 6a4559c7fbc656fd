// The javascript.info WebSocket chat (https://javascript.info/websocket#chat-example)
// on wasmsocket: one http server serves the page and the WebSocket endpoints.
//
//   GET /            the chat page (public/index.html + chat.js)
//   WS  /ws          the chat: every message cut to 50 characters and sent to
//                    every client with wss.broadcast() (framed once for all)
//   GET /demo/hello  the chapter's first demo page (public/hello.html)
//   GET /metrics     Prometheus metrics (metrics.mjs, through prom-client)
//   WS  /demo/hello  reads "My name is John", answers "Hello from server, John",
//                    closes with 1000 five seconds after the connection opened
//
// The chapter's server keeps its own Set of clients and loops over it with
// client.send(message); here the WebSocketServer tracks its clients and
// wss.broadcast(text) frames the message once and hands the same bytes to
// every client, leaving out (or closing) a client that does not read.
//
// With `tls` (npm start with HTTPS=1) the same server speaks HTTP/2 and
// HTTP/1.1 on one port: the browser loads the page over h2 and opens both
// sockets as streams of that same connection (RFC 8441 extended CONNECT).
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { networkInterfaces } from 'node:os';
import { readFile } from 'node:fs/promises';
import { chatMetrics } from './metrics.mjs';
import { WebSocketServer, routeWebSocketStreams } from '../../dist/index.js';

/** The chapter's limit: messages are cut to this many characters. */
export const MAX_CHARS = 50;

// ---- the 50-character cut ----

// Grapheme boundaries come from Intl.Segmenter (Node 20 ships full ICU);
// without it the cut is on code points alone.
const graphemes = typeof Intl.Segmenter === 'function' ? new Intl.Segmenter('en', { granularity: 'grapheme' }) : null;

/**
 * Cuts `text` to at most `max` characters.
 *
 * A character is a Unicode code point, so the cut never splits a surrogate
 * pair: the result is well-formed and encodes to valid UTF-8 (at most 4 bytes
 * a character, so a message is bounded at 200 bytes). The chapter's
 * `message.slice(0, 50)` cut a Buffer: 50 bytes, which splits multi-byte
 * UTF-8 sequences and sends an invalid text frame.
 *
 * Then the cut moves back to the last grapheme-cluster boundary, so it does
 * not leave half of what a reader sees as one character: a letter without its
 * combining accent ("e" + U+0301), half a flag (two regional indicators), part
 * of a ZWJ emoji sequence (👨‍👩‍👧). Counting graphemes instead of code points
 * would not bound the size (one grapheme can carry any number of combining
 * marks), and grapheme rules change with the Unicode version, so the limit
 * itself stays on code points. If the first grapheme alone is longer than
 * `max` code points ("Zalgo" text), the cut stays at `max` code points.
 */
export function cutMessage(text, max = MAX_CHARS) {
  if (text.length <= max) return text; // at most `max` UTF-16 units: at most `max` code points
  let end = 0;
  let count = 0;
  for (const ch of text) {
    if (count === max) break;
    end += ch.length;
    count++;
  }
  if (end === text.length) return text;
  if (graphemes !== null) {
    let boundary = 0;
    for (const { index, segment } of graphemes.segment(text)) {
      const next = index + segment.length;
      if (next > end) break;
      boundary = next;
    }
    if (boundary > 0) end = boundary;
  }
  return text.slice(0, end);
}

/** The name in "My name is John" (or "I am John", or the whole text), cut to 50 characters. */
export function nameFrom(text) {
  const m = /^\s*(?:my name is|i am|i'm)\s+(.+?)[\s.!]*$/iu.exec(text);
  const name = cutMessage((m ? m[1] : text).trim());
  return name || 'stranger';
}

// ---- static files ----

const PUBLIC = new URL('./public/', import.meta.url);
const FILES = new Map([
  ['/', ['index.html', 'text/html; charset=utf-8']],
  ['/index.html', ['index.html', 'text/html; charset=utf-8']],
  ['/chat.js', ['chat.js', 'text/javascript; charset=utf-8']],
  ['/style.css', ['style.css', 'text/css; charset=utf-8']],
  ['/demo/hello', ['hello.html', 'text/html; charset=utf-8']],
  ['/hello.js', ['hello.js', 'text/javascript; charset=utf-8']],
]);
// Same-origin scripts and styles only; WebSocket connections back to this host.
const SECURITY_HEADERS = {
  'Content-Security-Policy': "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
};

function pathOf(url) {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

async function serveFile(req, res) {
  const path = pathOf(req.url ?? '/');
  if (path === '/favicon.ico') { res.writeHead(204).end(); return; }
  const file = FILES.get(path);
  if (!file) { send(res, 404, 'Not Found'); return; }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    send(res, 405, 'Method Not Allowed', { Allow: 'GET, HEAD' });
    return;
  }
  try {
    const body = await readFile(new URL(file[0], PUBLIC));
    res.writeHead(200, {
      'Content-Type': file[1], 'Content-Length': body.length, 'Cache-Control': 'no-cache', ...SECURITY_HEADERS,
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  } catch {
    send(res, 500, 'Internal Server Error');
  }
}

function send(res, status, text, headers = {}) {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

// A browser page from another site must not open our sockets with the user's
// cookies (cross-site WebSocket hijacking): the servers' allowedOrigins lists
// the origins this chat's own pages have (those of every address it listens
// on, and `localhost` for a loopback or wildcard address), refusing others
// with 403. Clients that are not browsers send no Origin and are let in.
function ownOrigins(scheme, address, port) {
  const hosts = new Set([address]);
  const wildcard = address === '0.0.0.0' || address === '::';
  if (wildcard) {
    for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) hosts.add(a.address);
  }
  if (wildcard || address === '::1' || address.startsWith('127.')) hosts.add('localhost');
  hosts.delete('0.0.0.0');
  hosts.delete('::');
  return [...hosts].map((h) => `${scheme}://${h.includes(':') ? `[${h}]` : h}:${port}`);
}

async function serveMetrics(metrics, res) {
  try {
    send(res, 200, await metrics.text(), { 'Content-Type': metrics.contentType });
  } catch {
    send(res, 500, 'Internal Server Error');
  }
}

function refuseUpgrade(socket, status) {
  socket.on('error', () => {});
  const text = http.STATUS_CODES[status];
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${text.length}\r\n\r\n${text}`);
}

// ---- the server ----

/**
 * Starts the chat. Resolves once it listens.
 *
 * @param {object} [options]
 * @param {number} [options.port=8080]  0 for an ephemeral port (tests)
 * @param {string} [options.host='127.0.0.1']
 * @param {number} [options.maxBackpressure]  bytes a client may have queued before
 *   broadcast applies `backpressurePolicy` (the library's default: 1 MiB)
 * @param {'close'|'skip'} [options.backpressurePolicy='close']  close a client that
 *   does not read (1008, then the TCP connection goes), or skip messages for it
 * @param {number} [options.maxPayload=65536]  largest message accepted (bytes); larger closes with 1009
 * @param {number} [options.helloCloseDelay=5000]  ms from connect to the hello demo's close(1000)
 * @param {{ key: Buffer, cert: Buffer }} [options.tls]  serve HTTPS: HTTP/2 (pages and sockets) and HTTP/1.1 on one port
 * @param {string} [options.redisUrl]  share the chat with every process on this Redis
 *   (wasmsocket/redis): a message typed on one process reaches the clients of all
 * @param {string|number} [options.worker]  this process's name, sent as X-Chat-Worker
 *   in the 101 response (tells which worker a tab landed on)
 * @param {string[]} [options.origins]  more origins whose pages may connect (the chat
 *   behind a proxy or a domain name); its own are always allowed
 * @param {object} [options.limits]  connection limits for both endpoints
 *   (maxConnections, maxConnectionsPerAddress, handshakeRate, trustProxy: see the README)
 * @returns {Promise<{ server: http.Server | http2.Http2SecureServer, wss: WebSocketServer, hello: WebSocketServer, url: string,
 *   close(options?: { timeout?: number, spread?: number }): Promise<import('../../dist/index.js').ShutdownResult> }>}
 */
export async function createChatServer(options = {}) {
  const {
    port = 8080, host = '127.0.0.1', maxBackpressure, backpressurePolicy = 'close',
    maxPayload = 64 * 1024, helloCloseDelay = 5000, tls, redisUrl, worker, origins = [], limits = {},
  } = options;

  // Loaded before listening: no await may come between listen and the upgrade handlers.
  const redis = redisUrl ? await import('../../dist/redis.js') : null;
  let metrics = null;
  const onRequest = (req, res) => {
    if (metrics !== null && pathOf(req.url ?? '/') === '/metrics') { void serveMetrics(metrics, res); return; }
    void serveFile(req, res);
  };
  const server = tls ? http2.createSecureServer({ ...tls, allowHTTP1: true }, onRequest) : http.createServer(onRequest);
  const sessions = new Set(); // HTTP/2 connections; those left after the drain are closed by close()
  server.on('session', (s) => { sessions.add(s); s.on('close', () => sessions.delete(s)); });

  // Listening first: the origins allowed depend on the address and port.
  // Nothing is read before the handlers below are in place (no await between).
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.removeListener('error', reject);
      resolve();
    });
  });
  const addr = server.address();
  const scheme = tls ? 'https' : 'http';
  const shownHost = addr.family === 'IPv6' || addr.address.includes(':') ? `[${addr.address}]` : addr.address;
  const url = `${scheme}://${shownHost}:${addr.port}/`;
  const admission = { allowedOrigins: [...ownOrigins(scheme, addr.address, addr.port), ...origins], ...limits };

  // The chat. noServer + handleUpgrade, as in the chapter: one http server
  // carries the pages and both WebSocket endpoints.
  const wss = new WebSocketServer({ noServer: true, maxPayload, maxBackpressure, backpressurePolicy, ...admission });
  if (redis) {
    // Several processes (npm start with WORKERS and REDIS_URL): wss.broadcast()
    // goes to this process's clients at once and through Redis to the others'.
    wss.useBroker(redis.redisBroker({ url: redisUrl, prefix: 'wasmsocket-chat', onError: () => {} }));
  }
  if (worker !== undefined) wss.on('headers', (headers) => { headers.push(`X-Chat-Worker: ${worker}`); });
  wss.on('connection', (ws) => {
    ws.on('error', () => {}); // a protocol error closes the connection; the process goes on
    ws.on('message', (data, isBinary) => {
      if (isBinary) { ws.close(1003, 'Text messages only'); return; }
      const text = cutMessage(data.toString());
      if (text.trim() === '') return;
      wss.broadcast(text); // framed once, the same bytes to every open client
    });
  });

  // The chapter's "hello" demo.
  const hello = new WebSocketServer({ noServer: true, maxPayload: 4096, ...admission });
  const helloTimers = new Set();
  hello.on('connection', (ws) => {
    ws.on('error', () => {});
    const timer = setTimeout(() => {
      helloTimers.delete(timer);
      ws.close(1000, 'Bye!');
    }, helloCloseDelay);
    helloTimers.add(timer);
    ws.on('message', (data, isBinary) => {
      if (isBinary) { ws.close(1003, 'Text messages only'); return; }
      ws.send(`Hello from server, ${nameFrom(data.toString())}`);
    });
    ws.on('close', () => { clearTimeout(timer); helloTimers.delete(timer); });
  });

  const targetOf = (url) => {
    const path = pathOf(url ?? '/');
    return path === '/ws' ? wss : path === '/demo/hello' ? hello : null;
  };
  server.on('upgrade', (req, socket, head) => {
    const target = targetOf(req.url);
    if (target === null) { refuseUpgrade(socket, 404); return; }
    target.handleUpgrade(req, socket, head, (ws) => target.emit('connection', ws, req));
  });
  // HTTP/2: WebSocket CONNECT streams go to the same endpoints, taken before
  // the request handler above would answer them.
  if (tls) {
    routeWebSocketStreams(server, (stream, headers) => {
      const target = targetOf(headers[':path']);
      if (target === null) { stream.respond({ ':status': 404 }); stream.end(); return true; }
      target.handleStream(stream, headers, (ws, req) => target.emit('connection', ws, req));
      return true;
    });
  }

  metrics = await chatMetrics({ chat: wss, hello });

  let closing = null;
  /**
   * The graceful drain (wss.shutdown): stops listening, says 1001 "going away"
   * to every client (the page then reconnects with backoff; behind a load
   * balancer, to another instance), `spread` ms apart in all, sends GOAWAY on
   * the HTTP/2 connections carrying sockets, and cuts off the clients that do
   * not answer within `timeout` ms. Resolves with the chat's ShutdownResult.
   */
  function close({ timeout = 1000, spread = 0 } = {}) {
    closing ??= (async () => {
      metrics?.stop();
      for (const t of helloTimers) clearTimeout(t);
      helloTimers.clear();
      // Stop listening, keep the connections: from Node 24 an HTTP/2 server's
      // close() also closes every session (a GOAWAY at once, which would tell
      // every socket 1001 together, not spread); the drain sends each session's
      // GOAWAY after its last socket was told.
      const listenerClosed = new Promise((r) => { net.Server.prototype.close.call(server, () => r()); });
      server.closeIdleConnections?.();
      const reason = 'Server going away';
      const [result] = await Promise.all([wss.shutdown({ reason, timeout, spread }), hello.shutdown({ reason, timeout })]);
      // Left: HTTP/2 connections that carried only pages, HTTP/1.1 requests in flight.
      for (const s of sessions) s.close();
      const cutOff = setTimeout(() => {
        server.closeAllConnections?.();
        for (const s of sessions) s.destroy();
      }, timeout);
      await listenerClosed;
      clearTimeout(cutOff);
      return result;
    })();
    return closing;
  }

  return { server, wss, hello, url, close };
}
