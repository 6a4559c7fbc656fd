// The HTTP/2 handshake's edges, with real http2 sessions on 127.0.0.1: refusals
// through the same wsClientError hook and answers as over HTTP/1.1, version 8,
// a GOAWAY sent by our own side, the client's 'unexpected-response', and the
// client remembering origins that lack RFC 8441.
import { describe, expect, it } from 'vitest';
import { once } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import http2, { type ClientHttp2Session, type ClientHttp2Stream, type Http2Server, type ServerHttp2Session } from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocket, WebSocketServer, type ServerOptions } from '../src/index.ts';
import { OriginMemo } from '../src/node/transport/h2-origin-memo.ts';
import { opensslPath, selfSignedCert } from './helpers/cert.ts';
import { cleanupList, echoMessages } from './helpers/servers.ts';
import { T, until, withTimeout } from './helpers/wait.ts';

const cleanup = cleanupList({ bestEffort: true, ms: T });
const HAS_OPENSSL = opensslPath() !== null;
if (!HAS_OPENSSL) console.log('h2-handshake TLS tests skipped: openssl is not installed (Debian package openssl)');

interface Setup { server: Http2Server; wss: WebSocketServer; port: number; sessions: ServerHttp2Session[]; conns: WebSocket[] }

/** A cleartext HTTP/2 server (prior knowledge) with our WebSocketServer on it. */
async function startH2c(options: Partial<ServerOptions> = {}): Promise<Setup> {
  const server = http2.createServer();
  const sessions: ServerHttp2Session[] = [];
  server.on('session', (s) => sessions.push(s));
  const wss = new WebSocketServer({ server, ...options });
  const conns: WebSocket[] = [];
  wss.on('connection', (ws) => { conns.push(ws); echoMessages(ws); ws.on('error', () => {}); });
  server.listen(0, '127.0.0.1');
  await withTimeout(once(server, 'listening'), T, 'listening');
  cleanup.push(() => {
    for (const s of sessions) s.destroy();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return { server, wss, port: (server.address() as AddressInfo).port, sessions, conns };
}

async function rawSession(port: number): Promise<ClientHttp2Session> {
  const s = http2.connect(`http://127.0.0.1:${port}`);
  s.on('error', () => {});
  cleanup.push(() => s.destroy());
  await withTimeout(once(s, 'remoteSettings'), T, 'remote settings');
  return s;
}

interface Answer { stream: ClientHttp2Stream; status: number; headers: http2.IncomingHttpHeaders; body: Promise<string> }

async function rawConnect(s: ClientHttp2Session, port: number, path = '/', extra: Record<string, string> = {}): Promise<Answer> {
  const stream = s.request({ ':method': 'CONNECT', ':protocol': 'websocket', ':scheme': 'http', ':path': path,
    ':authority': `127.0.0.1:${port}`, 'sec-websocket-version': '13', ...extra }, { endStream: false });
  stream.on('error', () => {});
  const chunks: Buffer[] = [];
  const body = new Promise<string>((r) => {
    stream.on('data', (d: Buffer) => chunks.push(d));
    stream.once('close', () => r(Buffer.concat(chunks).toString()));
  });
  const [headers] = await withTimeout(once(stream, 'response'), T, 'CONNECT response') as [http2.IncomingHttpHeaders];
  return { stream, status: Number(headers[':status']), headers, body };
}

/** A masked client frame. */
function clientFrame(opcode: number, payload: Buffer): Buffer {
  const key = Buffer.from([9, 8, 7, 6]);
  return Buffer.concat([Buffer.from([0x80 | opcode, 0x80 | payload.length]), key, Buffer.from(payload.map((b, i) => b ^ key[i & 3]))]);
}

function openClient(url: string, opts: Record<string, unknown> = {}): WebSocket {
  const ws = new WebSocket(url, { http2: true, ...opts });
  ws.on('error', () => {});
  cleanup.push(() => ws.terminate());
  return ws;
}

function next<A extends unknown[]>(ee: { once(e: string, f: (...a: any[]) => void): unknown }, event: string, what: string): Promise<A> {
  return withTimeout(new Promise<A>((r) => ee.once(event, (...args: unknown[]) => r(args as A))), T, what);
}
const closeOf = (ws: WebSocket): Promise<[number, Buffer]> => next(ws, 'close', 'close');

describe('HTTP/2 refusals answer as HTTP/1.1 ones do', () => {
  it('bad requests go through wsClientError (err.statusCode, the stream, the request); without a listener the same :status as HTTP/1.1', async () => {
    const h = await startH2c({ perMessageDeflate: true });
    const s = await rawSession(h.port);
    // No hook: the version is checked as over HTTP/1.1 (426 naming 13 and 8).
    const v = await rawConnect(s, h.port, '/', { 'sec-websocket-version': '12' });
    expect(v.status).toBe(426);
    expect(v.headers['sec-websocket-version']).toBe('13, 8');
    expect(await v.body).toBe('Missing or invalid Sec-WebSocket-Version header');
    const p = await rawConnect(s, h.port, '/', { 'sec-websocket-protocol': 'a,a' });
    expect(p.status).toBe(400);
    expect(await p.body).toBe('Invalid Sec-WebSocket-Protocol header');
    const e = await rawConnect(s, h.port, '/', { 'sec-websocket-extensions': 'permessage-deflate; ;' });
    expect(e.status).toBe(400);

    // With the hook: it sees each refusal and answers it itself.
    const seen: Array<{ status: number; message: string; isStream: boolean; url: string; version: string }> = [];
    h.wss.on('wsClientError', (err, socket, req) => {
      const e2 = err as Error & { statusCode: number };
      seen.push({ status: e2.statusCode, message: e2.message, isStream: typeof (socket as unknown as { respond?: unknown }).respond === 'function', url: req.url!, version: req.httpVersion });
      (socket as unknown as http2.ServerHttp2Stream).respond({ ':status': 418, 'x-hook': 'yes' });
      socket.end('hooked');
    });
    const v2 = await rawConnect(s, h.port, '/v', { 'sec-websocket-version': '12' });
    const p2 = await rawConnect(s, h.port, '/p', { 'sec-websocket-protocol': 'a,a' });
    expect([v2.status, p2.status]).toEqual([418, 418]);
    expect(v2.headers['x-hook']).toBe('yes');
    expect(await v2.body).toBe('hooked');
    expect(seen).toEqual([
      { status: 426, message: 'Missing or invalid Sec-WebSocket-Version header', isStream: true, url: '/v', version: '2.0' },
      { status: 400, message: 'Invalid Sec-WebSocket-Protocol header', isStream: true, url: '/p', version: '2.0' },
    ]);
    // A good request still opens on the same session.
    expect((await rawConnect(s, h.port, '/ok')).status).toBe(200);
  });

  it('noServer + handleStream: a path that does not match gets a plain 400 that skips wsClientError, as ws does over HTTP/1.1', async () => {
    const server = http2.createServer({ settings: { enableConnectProtocol: true } });
    const sessions: ServerHttp2Session[] = [];
    server.on('session', (x) => sessions.push(x));
    const wss = new WebSocketServer({ noServer: true, path: '/ws' });
    server.on('stream', (stream, headers) => wss.handleStream(stream, headers, () => {}));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanup.push(() => { for (const x of sessions) x.destroy(); return new Promise<void>((r) => server.close(() => r())); });
    const port = (server.address() as AddressInfo).port;
    const errs: string[] = [];
    wss.on('wsClientError', (_err, _socket, req) => { errs.push(req.url!); });
    const s = await rawSession(port);
    expect((await rawConnect(s, port, '/elsewhere')).status).toBe(400);
    // A bad request on the right path still reaches the hook.
    const stream = s.request({ ':method': 'CONNECT', ':protocol': 'websocket', ':scheme': 'http', ':path': '/ws',
      ':authority': `127.0.0.1:${port}`, 'sec-websocket-version': '7' }, { endStream: false });
    stream.on('error', () => {});
    stream.resume();
    await until(() => errs.length > 0, T, 'the hook for a bad version');
    stream.close();
    expect(errs).toEqual(['/ws']);
  });

  it('verifyClient refusals carry its code, message and headers on the stream, as over HTTP/1.1 (and bypass the hook, as ws)', async () => {
    const h = await startH2c({
      verifyClient: (info: { req: http.IncomingMessage }, cb: (ok: boolean, code?: number, message?: string, headers?: Record<string, string>) => void) => {
        if (info.req.headers['x-token'] === 'good') cb(true);
        else if (info.req.headers['x-token'] === 'stale') cb(false, 403, 'Token expired', { 'Retry-After': '7' });
        else cb(false);
      },
    });
    let hooked = 0;
    h.wss.on('wsClientError', () => { hooked++; });
    const s = await rawSession(h.port);
    const stale = await rawConnect(s, h.port, '/', { 'x-token': 'stale' });
    expect(stale.status).toBe(403);
    expect(stale.headers['retry-after']).toBe('7');
    expect(await stale.body).toBe('Token expired');
    const none = await rawConnect(s, h.port, '/');
    expect(none.status).toBe(401);
    expect(await none.body).toBe('Unauthorized');
    expect((await rawConnect(s, h.port, '/', { 'x-token': 'good' })).status).toBe(200);
    expect(hooked).toBe(0);

    // The same server's answers over HTTP/1.1, for the shape: same status, body and header.
    const h1 = http.createServer();
    h1.on('upgrade', (req, socket, head) => h.wss.handleUpgrade(req, socket, head, () => {}));
    h1.listen(0, '127.0.0.1');
    await once(h1, 'listening');
    cleanup.push(() => new Promise<void>((r) => h1.close(() => r())));
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const req = http.request({ port: (h1.address() as AddressInfo).port, host: '127.0.0.1', headers: {
        Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', 'x-token': 'stale',
      } });
      req.on('response', resolve);
      req.on('error', reject);
      req.end();
    });
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (d: string) => { body += d; });
    await once(res, 'end');
    expect([res.statusCode, res.headers['retry-after'], body, res.headers['content-type']])
      .toEqual([stale.status, stale.headers['retry-after'], 'Token expired', stale.headers['content-type']]);
  });
});

describe('Sec-WebSocket-Version: 8 over HTTP/2', () => {
  it('is accepted as over HTTP/1.1, and verifyClient reads Sec-WebSocket-Origin for it', async () => {
    const origins: Array<string | undefined> = [];
    const h = await startH2c({ verifyClient: (info: { origin: string | undefined }) => { origins.push(info.origin); return true; } });
    const s = await rawSession(h.port);
    const a = await rawConnect(s, h.port, '/', { 'sec-websocket-version': '8', 'sec-websocket-origin': 'http://eight.example' });
    expect(a.status).toBe(200);
    let got = Buffer.alloc(0);
    a.stream.on('data', (c: Buffer) => { got = Buffer.concat([got, c]); });
    a.stream.write(clientFrame(1, Buffer.from('v8')));
    await until(() => got.length >= 4, T, 'echo over version 8');
    expect(got).toEqual(Buffer.from([0x81, 2, 0x76, 0x38]));
    expect(origins).toEqual(['http://eight.example']);
  });
});

/** Unmasks the frames a client sent (enough for short control frames). */
function unmaskFirst(bytes: Buffer): { opcode: number; payload: Buffer } {
  const len = bytes[1] & 0x7f, key = bytes.subarray(2, 6);
  return { opcode: bytes[0] & 0x0f, payload: Buffer.from(bytes.subarray(6, 6 + len).map((b, i) => b ^ key[i & 3])) };
}
const CLOSE_1001 = Buffer.concat([Buffer.from([0x03, 0xe9]), Buffer.from('Going away')]);

describe('a GOAWAY our own side sends', () => {
  // The peers here are Node's bare http2 endpoints, kept from answering a
  // GOAWAY with their own (Node does, from session.close(); RFC 9113 does not
  // ask for it), so the close frames seen are our side's own doing.
  const mute = (session: http2.Http2Session): void => { session.goaway = () => {}; };
  it('server session.close(): each socket on it sends close 1001, finishes its handshake, then the session goes', async () => {
    const h = await startH2c();
    const s = await rawSession(h.port);
    mute(s);
    const streams = [await rawConnect(s, h.port, '/a'), await rawConnect(s, h.port, '/b')];
    await until(() => h.conns.length === 2, T, 'two server sockets');
    const got = streams.map((a) => { let b = Buffer.alloc(0); a.stream.on('data', (c: Buffer) => { b = Buffer.concat([b, c]); }); return () => b; });
    const serverCloses = h.conns.map((ws) => closeOf(ws));
    const sessionClosed = new Promise((r) => h.sessions[0].once('close', r));
    h.sessions[0].close();
    await until(() => got.every((b) => b().length >= 2 + CLOSE_1001.length), T, 'close frames from the server');
    for (const b of got) expect(b()).toEqual(Buffer.concat([Buffer.from([0x88, CLOSE_1001.length]), CLOSE_1001]));
    for (const a of streams) a.stream.end(clientFrame(8, CLOSE_1001));
    for (const [code] of await Promise.all(serverCloses)) expect(code).toBe(1001);
    for (const a of streams) await a.body;
    expect(streams.map((a) => a.stream.rstCode)).toEqual([0, 0]); // ended, not reset
    await withTimeout(sessionClosed, T, 'session closed after the handshakes');
  });

  it('server session.goaway() does the same; a client closing the session it passed in sends close 1001 on its sockets', async () => {
    const h = await startH2c();
    const s = await rawSession(h.port);
    mute(s);
    const a = await rawConnect(s, h.port, '/');
    await until(() => h.conns.length === 1, T, 'server socket');
    const frames: Buffer[] = [];
    a.stream.on('data', (c: Buffer) => frames.push(c));
    h.sessions[0].goaway(http2.constants.NGHTTP2_NO_ERROR);
    await until(() => Buffer.concat(frames).length >= 2 + CLOSE_1001.length, T, 'close frame after goaway()');
    expect(Buffer.concat(frames).subarray(2)).toEqual(CLOSE_1001);

    // Client side, against a bare h2 server that accepts the CONNECT and records what arrives.
    const bare = http2.createServer({ settings: { enableConnectProtocol: true } });
    const received: Buffer[] = [];
    bare.on('session', mute);
    bare.on('stream', (stream) => { stream.respond({ ':status': 200 }); stream.on('data', (c: Buffer) => received.push(c)); stream.on('error', () => {}); });
    bare.listen(0, '127.0.0.1');
    await once(bare, 'listening');
    const port = (bare.address() as AddressInfo).port;
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on('error', () => {});
    cleanup.push(() => { session.destroy(); return new Promise<void>((r) => bare.close(() => r())); });
    const c = openClient(`ws://127.0.0.1:${port}/`, { http2: session });
    await next(c, 'open', 'open c');
    session.close();
    await until(() => Buffer.concat(received).length >= 6 + CLOSE_1001.length, T, 'close frame from the client');
    const f = unmaskFirst(Buffer.concat(received));
    expect([f.opcode, f.payload]).toEqual([8, CLOSE_1001]);
    expect(c.readyState).toBe(WebSocket.CLOSING);
  });
});

describe('client over HTTP/2: unexpected-response', () => {
  it('a non-200 :status is emitted as unexpected-response (req, res) with status, headers and the body; the listener ends it', async () => {
    const h = await startH2c({
      verifyClient: (_info: unknown, cb: (ok: boolean, code?: number, message?: string, headers?: Record<string, string>) => void) =>
        cb(false, 403, 'Go away', { 'X-Reason': 'banned' }),
    });
    const ws = openClient(`ws://127.0.0.1:${h.port}/`);
    const errors: Error[] = [];
    ws.on('error', (e) => errors.push(e));
    const [req, res] = await next<[ClientHttp2Stream, http.IncomingMessage]>(ws, 'unexpected-response', 'unexpected-response');
    expect(res.statusCode).toBe(403);
    expect(res.statusMessage).toBe('Forbidden');
    expect(res.httpVersion).toBe('2.0');
    expect(res.headers['x-reason']).toBe('banned');
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (d: string) => { body += d; });
    await withTimeout(once(res, 'end'), T, 'body');
    expect(body).toBe('Go away');
    expect(typeof (req as unknown as { close?: unknown }).close).toBe('function');
    expect(ws.readyState).toBe(WebSocket.CONNECTING);
    ws.terminate();
    expect((await closeOf(ws))[0]).toBe(1006);
    expect(errors.map((e) => e.message)).toEqual(['WebSocket was closed before the connection was established']);
  });

  it('without a listener the socket fails with "Unexpected server response: N" as before', async () => {
    const h = await startH2c({ verifyClient: () => false });
    const ws = openClient(`ws://127.0.0.1:${h.port}/`);
    const errors: Error[] = [];
    ws.on('error', (e) => errors.push(e));
    let upgrades = 0;
    ws.on('upgrade', () => { upgrades++; });
    expect((await closeOf(ws))[0]).toBe(1006);
    expect(errors[0]?.message).toBe('Unexpected server response: 401');
    expect(upgrades).toBe(0); // as over HTTP/1.1: 'upgrade' is for the successful response only
  });
});

/** Counts TCP connections a server accepts. */
function countConnections(server: http.Server | https.Server | http2.Http2SecureServer): () => number {
  let n = 0;
  server.on('connection', (_s: Socket) => { n++; });
  return () => n;
}

async function echoOnce(ws: WebSocket, text: string): Promise<string> {
  await next(ws, 'open', 'open');
  ws.send(text);
  const [data] = await next<[Buffer]>(ws, 'message', 'echo');
  return String(data);
}

describe('client over HTTP/2: origins without RFC 8441 are remembered', () => {
  it('ws:// to an HTTP/1.1-only server: the first socket tries h2 once, later ones go straight to HTTP/1.1', async () => {
    const server = http.createServer();
    const wss = new WebSocketServer({ server });
    wss.on('connection', (ws) => { echoMessages(ws); ws.on('error', () => {}); });
    const conns = countConnections(server);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanup.push(() => { for (const c of wss.clients) c.terminate(); server.closeAllConnections(); return new Promise<void>((r) => server.close(() => r())); });
    const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    expect(await echoOnce(openClient(url), 'one')).toBe('one');
    expect(conns()).toBe(2); // the failed h2 attempt, then HTTP/1.1
    expect(await echoOnce(openClient(url), 'two')).toBe('two');
    expect(await echoOnce(openClient(url), 'three')).toBe('three');
    expect(conns()).toBe(4); // one each, no h2 attempt
  });

  it.skipIf(!HAS_OPENSSL)('wss:// to an h2 server whose settings lack ENABLE_CONNECT_PROTOCOL (HTTP/1.1 Upgrade via allowHTTP1): remembered per origin', async () => {
    const { key, cert } = selfSignedCert();
    const server = http2.createSecureServer({ key, cert, allowHTTP1: true });
    const sessions: ServerHttp2Session[] = [];
    server.on('session', (x) => sessions.push(x));
    const wss = new WebSocketServer({ noServer: true });
    server.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => { echoMessages(ws); ws.on('error', () => {}); }));
    const conns = countConnections(server);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanup.push(() => { for (const c of wss.clients) c.terminate(); for (const x of sessions) x.destroy(); return new Promise<void>((r) => server.close(() => r())); });
    const url = `wss://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    const opts = { ca: cert };
    expect(await echoOnce(openClient(url, opts), 'one')).toBe('one');
    expect(sessions.length).toBe(1); // the h2 attempt: settings without the flag
    expect(await echoOnce(openClient(url, opts), 'two')).toBe('two');
    expect(sessions.length).toBe(1);
    expect(conns()).toBe(3);
  });

  it.skipIf(!HAS_OPENSSL)('wss:// to an https server without h2 (TLS refuses ALPN "h2"): remembered too', async () => {
    const { key, cert } = selfSignedCert();
    const server = https.createServer({ key, cert });
    const wss = new WebSocketServer({ server });
    wss.on('connection', (ws) => { echoMessages(ws); ws.on('error', () => {}); });
    let handshakes = 0;
    server.on('secureConnection', () => { handshakes++; });
    let refusedAlpn = 0;
    server.on('tlsClientError', () => { refusedAlpn++; });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanup.push(() => { for (const c of wss.clients) c.terminate(); server.closeAllConnections(); return new Promise<void>((r) => server.close(() => r())); });
    const url = `wss://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    expect(await echoOnce(openClient(url, { ca: cert }), 'one')).toBe('one');
    expect([refusedAlpn, handshakes]).toEqual([1, 1]);
    expect(await echoOnce(openClient(url, { ca: cert }), 'two')).toBe('two');
    expect([refusedAlpn, handshakes]).toEqual([1, 2]);
  });

  it('a network failure is not remembered: once the server is up, h2 is used', async () => {
    const probe = http2.createServer();
    probe.listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const down = openClient(`ws://127.0.0.1:${port}/`);
    expect((await closeOf(down))[0]).toBe(1006);

    const server = http2.createServer();
    const sessions: ServerHttp2Session[] = [];
    server.on('session', (x) => sessions.push(x));
    const wss = new WebSocketServer({ server });
    wss.on('connection', (ws, req) => { ws.send(req.httpVersion); ws.on('error', () => {}); });
    server.listen(port, '127.0.0.1');
    await withTimeout(once(server, 'listening'), T, 'listening again');
    cleanup.push(() => { for (const x of sessions) x.destroy(); return new Promise<void>((r) => server.close(() => r())); });
    const up = openClient(`ws://127.0.0.1:${port}/`);
    const [data] = await next<[Buffer]>(up, 'message', 'version');
    expect(String(data)).toBe('2.0');
  });

  it('the memo is bounded in entries and expires after its TTL', () => {
    let now = 1000;
    const memo = new OriginMemo(3, 500, () => now);
    for (const o of ['a', 'b', 'c']) memo.add(o);
    memo.add('a'); // refreshed: now the newest
    memo.add('d'); // evicts the oldest, 'b'
    expect(memo.size).toBe(3);
    expect(['a', 'b', 'c', 'd'].map((o) => memo.has(o))).toEqual([true, false, true, true]);
    now += 499;
    expect(memo.has('c')).toBe(true);
    now += 1;
    expect(memo.has('c')).toBe(false);
    expect(memo.size).toBe(2);
  });
});
