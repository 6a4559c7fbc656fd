// WebSockets over HTTP/2 (RFC 8441), real peers on 127.0.0.1: our client and
// server, Node's own http2 client writing frames by hand (to see the HTTP/2
// side: status, RST_STREAM codes, GOAWAY), and ws over HTTP/1.1 on the same port.
import { describe, expect, it } from 'vitest';
import { once } from 'node:events';
import http2, { type ClientHttp2Session, type ClientHttp2Stream, type Http2SecureServer, type ServerHttp2Session } from 'node:http2';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import WsClient from 'ws';
import { WebSocket, WebSocketServer, type ServerOptions } from '../src/index.ts';
import { opensslPath, selfSignedCert } from './helpers/cert.ts';
import { cleanupList, closeHttp, echoMessages } from './helpers/servers.ts';
import { T, sleep, until, withTimeout } from './helpers/wait.ts';

const cleanup = cleanupList({ bestEffort: true, ms: T });
const HAS_OPENSSL = opensslPath() !== null;
if (!HAS_OPENSSL) console.log('h2 tests skipped: openssl is not installed (Debian package openssl)');

interface H2Setup {
  server: Http2SecureServer;
  wss: WebSocketServer;
  port: number;
  url: string;
  sessions: ServerHttp2Session[];
  conns: Array<{ ws: WebSocket; req: { httpVersion: string; url: string; headers: Record<string, unknown> } }>;
}

async function startH2(options: Partial<ServerOptions> = {}, serverOptions: http2.SecureServerOptions = {}): Promise<H2Setup> {
  const { key, cert } = selfSignedCert();
  // A user's own request handler on the same server: it must not see WebSocket CONNECTs.
  const server = http2.createSecureServer({ key, cert, ...serverOptions }, (_req, res) => { res.writeHead(200); res.end('page'); });
  const sessions: ServerHttp2Session[] = [];
  server.on('session', (s) => sessions.push(s));
  const wss = new WebSocketServer({ server, ...options });
  const conns: H2Setup['conns'] = [];
  wss.on('connection', (ws, req) => { conns.push({ ws, req: req as unknown as H2Setup['conns'][0]['req'] }); echoMessages(ws); ws.on('error', () => {}); });
  server.listen(0, '127.0.0.1');
  await withTimeout(once(server, 'listening'), T, 'h2 listening');
  const port = (server.address() as AddressInfo).port;
  cleanup.push(() => closeH2(server, sessions));
  cleanup.push(() => { for (const c of wss.clients ?? []) c.terminate(); });
  return { server, wss, port, url: `wss://127.0.0.1:${port}`, sessions, conns };
}

function closeH2(server: Http2SecureServer, sessions: ServerHttp2Session[]): Promise<void> {
  for (const s of sessions) s.destroy();
  return withTimeout(new Promise<void>((r) => server.close(() => r())), T, 'h2 server close').catch(() => undefined);
}

/** Node's http2 client session, trusting the test certificate. */
async function rawSession(port: number): Promise<ClientHttp2Session> {
  const s = http2.connect(`https://127.0.0.1:${port}`, { ca: selfSignedCert().cert });
  s.on('error', () => {});
  cleanup.push(() => s.destroy());
  await withTimeout(once(s, 'remoteSettings'), T, 'remote settings');
  return s;
}

/** An extended CONNECT written by hand; resolves with the stream and the response headers. */
async function rawConnect(s: ClientHttp2Session, port: number, path = '/', extra: Record<string, string> = {}):
  Promise<{ stream: ClientHttp2Stream; status: number; headers: http2.IncomingHttpHeaders }> {
  const stream = s.request({ ':method': 'CONNECT', ':protocol': 'websocket', ':scheme': 'https', ':path': path,
    ':authority': `127.0.0.1:${port}`, 'sec-websocket-version': '13', ...extra }, { endStream: false });
  stream.on('error', () => {});
  const [headers] = await withTimeout(once(stream, 'response'), T, 'CONNECT response') as [http2.IncomingHttpHeaders];
  return { stream, status: Number(headers[':status']), headers };
}

/** A masked client frame. */
function clientFrame(opcode: number, payload: Buffer, fin = true): Buffer {
  const key = Buffer.from([1, 2, 3, 4]);
  const masked = Buffer.from(payload.map((b, i) => b ^ key[i & 3]));
  const len = payload.length < 126 ? Buffer.from([0x80 | payload.length]) : Buffer.from([0x80 | 126, payload.length >> 8, payload.length & 255]);
  return Buffer.concat([Buffer.from([(fin ? 0x80 : 0) | opcode]), len, key, masked]);
}

function collect(stream: ClientHttp2Stream): { bytes: () => Buffer; ended: () => boolean; closed: () => boolean } {
  const chunks: Buffer[] = [];
  let ended = false, closed = false;
  stream.on('data', (c: Buffer) => chunks.push(c));
  stream.on('end', () => { ended = true; });
  stream.on('close', () => { closed = true; });
  return { bytes: () => Buffer.concat(chunks), ended: () => ended, closed: () => closed };
}

function openClient(url: string, opts: Record<string, unknown> = {}, protocols?: string[]): WebSocket {
  const ws = protocols ? new WebSocket(url, protocols, { ca: selfSignedCert().cert, http2: true, ...opts })
    : new WebSocket(url, { ca: selfSignedCert().cert, http2: true, ...opts });
  ws.on('error', () => {});
  cleanup.push(() => ws.terminate());
  return ws;
}

// Not events.once: it rejects on 'error', and a failed connection emits 'error' before 'close'.
function next<A extends unknown[]>(ws: WebSocket, event: string, what: string): Promise<A> {
  return withTimeout(new Promise<A>((r) => ws.once(event, (...args: unknown[]) => r(args as A))), T, what);
}
const nextMessage = (ws: WebSocket): Promise<[Buffer, boolean]> => next(ws, 'message', 'message');
const closeOf = (ws: WebSocket): Promise<[number, Buffer]> => next(ws, 'close', 'close');

describe.skipIf(!HAS_OPENSSL)('WebSocket over HTTP/2, server side (RFC 8441)', () => {
  it('advertises SETTINGS_ENABLE_CONNECT_PROTOCOL and answers an extended CONNECT with 200; the request handler never sees it', async () => {
    const h = await startH2();
    let requests = 0;
    h.server.on('request', () => { requests++; });
    const s = await rawSession(h.port);
    expect(s.remoteSettings.enableConnectProtocol).toBe(true);
    const { stream, status, headers } = await rawConnect(s, h.port, '/chat?room=1', { 'sec-websocket-protocol': 'a,b' });
    expect(status).toBe(200);
    expect(headers['sec-websocket-protocol']).toBe('a');
    expect(headers['sec-websocket-accept']).toBeUndefined();
    const got = collect(stream);
    stream.write(clientFrame(1, Buffer.from('hello h2')));
    await until(() => got.bytes().length >= 10, T, 'echo');
    expect(got.bytes()).toEqual(Buffer.concat([Buffer.from([0x81, 8]), Buffer.from('hello h2')]));
    expect(h.conns[0].req.httpVersion).toBe('2.0');
    expect(h.conns[0].req.url).toBe('/chat?room=1');
    expect(h.conns[0].req.headers.host).toBe(`127.0.0.1:${h.port}`);
    expect(requests).toBe(0);
    // The page on the same session still goes to the request handler.
    const page = s.request({ ':path': '/' });
    page.setEncoding('utf8');
    let body = '';
    page.on('data', (d) => { body += d; });
    await withTimeout(once(page, 'end'), T, 'page');
    expect(body).toBe('page');
    expect(requests).toBe(1);
  });

  it('a close handshake ends the stream cleanly (END_STREAM, no RST_STREAM)', async () => {
    const h = await startH2();
    const s = await rawSession(h.port);
    const { stream } = await rawConnect(s, h.port);
    const got = collect(stream);
    await until(() => h.conns.length === 1, T, 'connection');
    const serverClose = closeOf(h.conns[0].ws);
    h.conns[0].ws.close(4000, 'done');
    await until(() => got.bytes().length >= 8, T, 'close frame');
    expect(got.bytes()).toEqual(Buffer.from([0x88, 6, 0x0f, 0xa0, ...Buffer.from('done')]));
    stream.write(clientFrame(8, Buffer.from([0x0f, 0xa0])));
    await until(() => got.ended(), T, 'END_STREAM from the server');
    stream.end();
    const [code] = await serverClose;
    expect(code).toBe(4000);
    await until(() => got.closed(), T, 'stream closed');
    expect(stream.rstCode).toBe(http2.constants.NGHTTP2_NO_ERROR);
  });

  it('terminate() resets the stream with CANCEL (RFC 8441 §6) and the session lives on', async () => {
    const h = await startH2();
    const s = await rawSession(h.port);
    const a = await rawConnect(s, h.port);
    const b = await rawConnect(s, h.port);
    await until(() => h.conns.length === 2, T, 'connections');
    const serverClose = closeOf(h.conns[0].ws);
    h.conns[0].ws.terminate();
    await withTimeout(once(a.stream, 'close'), T, 'reset');
    expect(a.stream.rstCode).toBe(http2.constants.NGHTTP2_CANCEL);
    expect((await serverClose)[0]).toBe(1006);
    const got = collect(b.stream);
    b.stream.write(clientFrame(2, Buffer.from([1, 2, 3])));
    await until(() => got.bytes().length >= 5, T, 'echo on the other stream');
    expect(got.bytes()).toEqual(Buffer.from([0x82, 3, 1, 2, 3]));
  });

  it('a protocol error sends close 1002, then resets the stream with CANCEL; other streams carry on', async () => {
    const h = await startH2();
    const s = await rawSession(h.port);
    const bad = await rawConnect(s, h.port);
    const good = await rawConnect(s, h.port);
    await until(() => h.conns.length === 2, T, 'connections');
    const errors: Error[] = [];
    h.conns[0].ws.on('error', (e) => errors.push(e));
    const got = collect(bad.stream);
    const closed = closeOf(h.conns[0].ws);
    bad.stream.write(Buffer.from([0x81, 0x02, 0x68, 0x69])); // unmasked: RFC 6455 §5.1
    await withTimeout(once(bad.stream, 'close'), T, 'reset');
    expect(got.bytes().subarray(0, 4)).toEqual(Buffer.from([0x88, 2, 0x03, 0xea]));
    expect(bad.stream.rstCode).toBe(http2.constants.NGHTTP2_CANCEL);
    expect((await closed)[0]).toBe(1006);
    expect(errors.length).toBe(1);
    const g = collect(good.stream);
    good.stream.write(clientFrame(1, Buffer.from('ok')));
    await until(() => g.bytes().length >= 4, T, 'echo');
  });

  it('a stream reset by the peer, or the session lost, is a 1006 close', async () => {
    const h = await startH2();
    const s = await rawSession(h.port);
    const a = await rawConnect(s, h.port);
    await rawConnect(s, h.port);
    await until(() => h.conns.length === 2, T, 'connections');
    const c0 = closeOf(h.conns[0].ws);
    a.stream.close(http2.constants.NGHTTP2_CANCEL);
    expect((await c0)[0]).toBe(1006);
    const c1 = closeOf(h.conns[1].ws);
    s.destroy();
    expect((await c1)[0]).toBe(1006);
  });

  it('refuses with an HTTP status on the stream: bad version 426, verifyClient 401; another path goes to the other listeners', async () => {
    const h = await startH2({ path: '/ws', verifyClient: (info: { req: { headers: Record<string, unknown> } }) => info.req.headers['x-ok'] === 'yes' });
    const s = await rawSession(h.port);
    const v = await rawConnect(s, h.port, '/ws', { 'sec-websocket-version': '7', 'x-ok': 'yes' });
    expect(v.status).toBe(426);
    expect(v.headers['sec-websocket-version']).toBe('13, 8');
    expect((await rawConnect(s, h.port, '/ws')).status).toBe(401);
    // Another path is passed on to the server's other listeners: here Node's
    // compatibility layer (there is a request handler), which answers a CONNECT with 405.
    expect((await rawConnect(s, h.port, '/other', { 'x-ok': 'yes' })).status).toBe(405);
    expect((await rawConnect(s, h.port, '/ws', { 'x-ok': 'yes' })).status).toBe(200);
  });

  it('noServer: handleStream takes a stream and its headers from a user\'s own \'stream\' listener', async () => {
    const { key, cert } = selfSignedCert();
    const server = http2.createSecureServer({ key, cert, settings: { enableConnectProtocol: true } });
    const sessions: ServerHttp2Session[] = [];
    server.on('session', (x) => sessions.push(x));
    const wss = new WebSocketServer({ noServer: true });
    server.on('stream', (stream, headers) => {
      if (headers[':method'] === 'CONNECT') {
        wss.handleStream(stream, headers, (ws, req) => { ws.send(`hi ${req.url}`); });
      } else {
        stream.respond({ ':status': 404 });
        stream.end();
      }
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanup.push(() => closeH2(server, sessions));
    const port = (server.address() as AddressInfo).port;
    const ws = openClient(`wss://127.0.0.1:${port}/x`);
    const [msg] = await nextMessage(ws);
    expect(String(msg)).toBe('hi /x');
  });

  it('with allowHTTP1, HTTP/1.1 Upgrade (ws) and HTTP/2 CONNECT (ours) arrive on one port as the same connection event', async () => {
    const h = await startH2({}, { allowHTTP1: true });
    const old = new WsClient(`wss://127.0.0.1:${h.port}/h1`, { ca: selfSignedCert().cert });
    old.on('error', () => {});
    cleanup.push(() => old.terminate());
    await withTimeout(once(old, 'open'), T, 'ws open');
    const ours = openClient(`${h.url}/h2`);
    await withTimeout(once(ours, 'open'), T, 'h2 open');
    expect(h.conns.map((c) => `${c.req.url} ${c.req.httpVersion}`).sort()).toEqual(['/h1 1.1', '/h2 2.0']);
    old.send('one');
    const [m1] = await withTimeout(once(old, 'message'), T, 'ws echo') as [Buffer];
    expect(String(m1)).toBe('one');
    ours.send('two');
    expect(String((await nextMessage(ours))[0])).toBe('two');
  });
});

describe.skipIf(!HAS_OPENSSL)('WebSocket over HTTP/2, our client against our server', () => {
  it('several sockets share one session, negotiate permessage-deflate and a subprotocol, echo every size, close 1000', async () => {
    const h = await startH2({ perMessageDeflate: { threshold: 0 }, handleProtocols: (p) => (p.has('chat') ? 'chat' : false) });
    const clients = [0, 1, 2, 3].map(() => openClient(`${h.url}/room`, {}, ['chat', 'other']));
    await withTimeout(Promise.all(clients.map((c) => once(c, 'open'))), T, 'open');
    expect(h.sessions.length).toBe(1);
    expect(h.conns.length).toBe(4);
    for (const c of clients) {
      expect(c.protocol).toBe('chat');
      expect(c.extensions).toMatch(/^permessage-deflate/);
    }
    const text = 'aaaa'.repeat(50_000);
    for (const [i, c] of clients.entries()) {
      for (const payload of ['', 'x', text, Buffer.alloc(70_000, i)]) {
        c.send(payload);
        const [data, isBinary] = await nextMessage(c);
        expect(isBinary).toBe(typeof payload !== 'string');
        expect(Buffer.from(data).equals(Buffer.from(payload))).toBe(true);
      }
    }
    // Compressed on the wire: the session carried far fewer bytes than the text.
    expect(h.sessions[0].socket.bytesRead).toBeLessThan(text.length);
    const serverSide = closeOf(h.conns[0].ws);
    clients[0].close(1000, 'bye');
    const [code, reason] = await closeOf(clients[0]);
    expect(code).toBe(1000);
    expect(String(reason)).toBe('bye');
    expect((await serverSide)[0]).toBe(1000);
    // The others carry on.
    clients[1].send('still here');
    expect(String((await nextMessage(clients[1]))[0])).toBe('still here');
  });

  it('the shared session closes once its last socket has closed (nothing keeps the process alive)', async () => {
    const h = await startH2();
    const a = openClient(h.url);
    const b = openClient(h.url);
    await withTimeout(Promise.all([once(a, 'open'), once(b, 'open')]), T, 'open');
    expect(h.sessions.length).toBe(1);
    const sessionClosed = withTimeout(once(h.sessions[0], 'close'), T, 'session close');
    a.close();
    await closeOf(a);
    await sleep(50);
    expect(h.sessions[0].closed || h.sessions[0].destroyed).toBe(false);
    b.close();
    await closeOf(b);
    await sessionClosed;
    // A new socket to the same origin opens a new session.
    const c = openClient(h.url);
    await withTimeout(once(c, 'open'), T, 'open again');
    expect(h.sessions.length).toBe(2);
  });

  it('terminate() on the client is a 1006 on the server; the session stays for the others', async () => {
    const h = await startH2();
    const a = openClient(h.url);
    const b = openClient(h.url);
    await withTimeout(Promise.all([once(a, 'open'), once(b, 'open')]), T, 'open');
    const serverA = h.conns.find((c) => c.ws)!.ws;
    const closed = closeOf(serverA);
    a.terminate();
    expect((await closeOf(a))[0]).toBe(1006);
    expect((await closed)[0]).toBe(1006);
    b.send('x');
    expect(String((await nextMessage(b))[0])).toBe('x');
  });

  it('GOAWAY from the server closes every socket on the session with 1001 after the close handshake', async () => {
    const h = await startH2();
    const clients = [0, 1, 2].map(() => openClient(h.url));
    await withTimeout(Promise.all(clients.map((c) => once(c, 'open'))), T, 'open');
    const serverCloses = h.conns.map((c) => closeOf(c.ws));
    const clientCloses = clients.map((c) => closeOf(c));
    h.sessions[0].close(); // GOAWAY (NO_ERROR), existing streams may finish
    for (const [code] of await Promise.all(clientCloses)) expect(code).toBe(1001);
    for (const [code] of await Promise.all(serverCloses)) expect(code).toBe(1001);
    await withTimeout(once(h.sessions[0], 'close'), T, 'session closed after the handshakes');
  });

  it('GOAWAY from the client (its session closed) closes the server\'s sockets with 1001', async () => {
    const h = await startH2();
    const session = await rawSession(h.port);
    const ws = openClient(h.url, { http2: session });
    await withTimeout(once(ws, 'open'), T, 'open');
    const serverClose = closeOf(h.conns[0].ws);
    const clientClose = closeOf(ws); // our side closes too now, on the GOAWAY it sent (see h2-handshake.test.ts)
    session.close();
    expect((await serverClose)[0]).toBe(1001);
    expect((await clientClose)[0]).toBe(1001);
  });

  it('backpressure follows stream flow control: a paused server socket stalls the sender, then everything arrives', async () => {
    const h = await startH2();
    const ws = openClient(h.url, { perMessageDeflate: false });
    await withTimeout(once(ws, 'open'), T, 'open');
    const server = h.conns[0].ws;
    server.removeAllListeners('message');
    let received = 0;
    server.on('message', (d: Buffer) => { received += d.length; });
    server.pause();
    const chunk = Buffer.alloc(64 * 1024, 7);
    const total = 8 * 1024 * 1024;
    for (let sent = 0; sent < total; sent += chunk.length) ws.send(chunk);
    await sleep(300);
    // The stream window (64 KiB by default, plus Node's buffering) holds a small part; the rest waits in the client.
    expect(received).toBe(0);
    expect(ws.bufferedAmount).toBeGreaterThan(total / 2);
    const stream = server._socket as unknown as { readableLength: number };
    expect(stream.readableLength).toBeLessThan(1024 * 1024);
    server.resume();
    await until(() => received === total, 2 * T, () => `all bytes (got ${received})`);
  });

  it('falls back to HTTP/1.1 when the server does not speak HTTP/2', async () => {
    const { key, cert } = selfSignedCert();
    const server = https.createServer({ key, cert });
    const wss = new WebSocketServer({ server });
    wss.on('connection', (ws, req) => ws.send(`over ${req.httpVersion}`));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanup.push(() => closeHttp(server));
    const ws = openClient(`wss://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    expect(String((await nextMessage(ws))[0])).toBe('over 1.1');
  });

  it('ws:// with http2: true tries cleartext HTTP/2 (prior knowledge) and falls back to HTTP/1.1 on a plain server', async () => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    wss.on('connection', (ws, req) => ws.send(`over ${req.httpVersion}`));
    await withTimeout(once(wss, 'listening'), T, 'listening');
    cleanup.push(() => new Promise<void>((r) => { for (const c of wss.clients) c.terminate(); wss.close(() => r()); }));
    const ws = openClient(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}/`);
    expect(String((await nextMessage(ws))[0])).toBe('over 1.1');
  });

  it('falls back to HTTP/1.1 when an HTTP/2 server does not advertise extended CONNECT', async () => {
    const { key, cert } = selfSignedCert();
    const server = http2.createSecureServer({ key, cert, allowHTTP1: true });
    const wss = new WebSocketServer({ noServer: true });
    server.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => ws.send(`over ${req.httpVersion}`)));
    const sessions: ServerHttp2Session[] = [];
    server.on('session', (x) => sessions.push(x));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanup.push(() => closeH2(server, sessions));
    const ws = openClient(`wss://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    expect(String((await nextMessage(ws))[0])).toBe('over 1.1');
  });

  it('a refusal reaches the client as an error and a 1006 close', async () => {
    const h = await startH2({ verifyClient: () => false });
    const ws = openClient(h.url);
    const errors: Error[] = [];
    ws.on('error', (e) => errors.push(e));
    expect((await closeOf(ws))[0]).toBe(1006);
    expect(errors[0]?.message).toBe('Unexpected server response: 401');
  });
});
