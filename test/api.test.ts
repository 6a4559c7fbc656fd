// The ws-style API (server options, client options, send/close/pause/terminate,
// bufferedAmount), the browser WebSocket API on our client, the CommonJS
// contract of the built package and createWebSocketStream. Real sockets only.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { once } from 'node:events';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash, randomBytes as cryptoRandomBytes } from 'node:crypto';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as wsPkg from 'ws';
import { WebSocketServer, WebSocket, createWebSocketStream, MessageEvent, CloseEvent, ErrorEvent } from '../src/index.ts';
import wsDefault from '../src/index.ts';
import { buildCjsIfMissing } from './helpers/dist.ts';
import {
  cleanupList, closeHttp, closeWss, echoMessages, listenLocal, portWhenListening, serverSideWhenOpen, toBuf,
} from './helpers/servers.ts';
import { Signal, T, sleep, until, withTimeout } from './helpers/wait.ts';

// ---------------------------------------------------------------------------
// helpers

const ROOT = new URL('..', import.meta.url).pathname;

interface Msg { data: Buffer; isBinary: boolean; raw: unknown }
interface Rec {
  msgs: Msg[];
  errors: Error[];
  closed?: { code: number; reason: string };
  log: string[];
  next(ms?: number): Promise<Msg>;
  waitCount(n: number, ms?: number): Promise<void>;
  waitClose(ms?: number): Promise<{ code: number; reason: string }>;
  waitError(ms?: number): Promise<Error>;
  waitOpen(ms?: number): Promise<void>;
}

interface NodeWsLike { on(ev: string, fn: (...a: any[]) => void): unknown; readyState: number }

/** Records everything a ws-API socket (ours or ws's) reports. */
function record(ws: NodeWsLike): Rec {
  const sig = new Signal();
  let read = 0;
  let opened = ws.readyState === 1;
  const r: Rec = {
    msgs: [], errors: [], log: [],
    next: (ms = T) => sig.until(() => {
      if (read < r.msgs.length) return r.msgs[read++];
      if (r.closed) throw new Error(`closed (${r.closed.code}) while waiting for a message`);
      return undefined;
    }, ms, 'a message'),
    waitCount: (n, ms = T) => sig.until(() => (r.msgs.length >= n ? true : undefined), ms, `${n} messages`).then(() => undefined),
    waitClose: (ms = T) => sig.until(() => r.closed, ms, 'close'),
    waitError: (ms = T) => sig.until(() => r.errors[0], ms, 'an error'),
    waitOpen: (ms = T) => sig.until(() => {
      if (opened) return true;
      if (r.closed) throw new Error(`closed (${r.closed.code}) before open: ${r.errors.map((e) => e.message).join('; ')}`);
      return undefined;
    }, ms, 'open').then(() => undefined),
  };
  ws.on('open', () => { opened = true; r.log.push('open'); sig.fire(); });
  ws.on('message', (data: unknown, isBinary: boolean) => { r.log.push('message'); r.msgs.push({ data: toBuf(data), isBinary, raw: data }); sig.fire(); });
  ws.on('error', (e: Error) => { r.log.push('error'); r.errors.push(e); sig.fire(); });
  ws.on('close', (code: number, reason: Buffer) => { r.log.push('close'); r.closed = { code, reason: reason.toString() }; sig.fire(); });
  return r;
}

// Everything a test opens is closed after it.
const disposers = cleanupList({ bestEffort: true });
/** Returns `x`, with `dispose(x)` on the after-test cleanup list. */
function track<X>(x: X, dispose: (x: X) => unknown): X { disposers.push(() => dispose(x)); return x; }

interface Started { wss: WebSocketServer; port: number; conns: WebSocket[]; recs: Rec[]; nextConn(ms?: number): Promise<{ ws: WebSocket; rec: Rec; req: IncomingMessage }> }

/** Our server on 127.0.0.1:0; `echo` echoes every message. */
async function ourServer(opts: Record<string, unknown> = {}, echo = false): Promise<Started> {
  const wss = track(new WebSocketServer({ port: 0, host: '127.0.0.1', ...opts }), closeWss);
  const port = await portWhenListening(wss);
  const sig = new Signal();
  const conns: WebSocket[] = [];
  const recs: Rec[] = [];
  const reqs: IncomingMessage[] = [];
  let read = 0;
  wss.on('connection', (ws: WebSocket, req: IncomingMessage) => {
    conns.push(ws);
    reqs.push(req);
    recs.push(record(ws));
    if (echo) echoMessages(ws);
    sig.fire();
  });
  return {
    wss, port, conns, recs,
    nextConn: (ms = T) => sig.until(() => (read < conns.length ? { ws: conns[read], rec: recs[read], req: reqs[read++] } : undefined), ms, 'a connection'),
  };
}

function wsClient(url: string, protocols?: string | string[], opts?: wsPkg.ClientOptions): wsPkg.WebSocket {
  // terminate() while CONNECTING makes ws emit 'error': keep that from being uncaught
  return track(new wsPkg.WebSocket(url, protocols, opts), (c) => { c.on('error', () => {}); c.terminate(); });
}

function ourClient(url: string, protocols?: string | string[] | Record<string, unknown>, opts?: Record<string, unknown>): WebSocket {
  return track(new WebSocket(url, protocols as string[], opts), (c) => c.terminate());
}

/** Waits for a ws client's unexpected-response and returns the status, headers and body. */
function unexpected(c: { once(ev: string, fn: (...a: any[]) => void): unknown }): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return withTimeout(new Promise((resolve) => {
    c.once('unexpected-response', (req: http.ClientRequest, res: IncomingMessage) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      res.on('end', () => { resolve({ status: res.statusCode!, headers: res.headers, body }); req.destroy(); });
    });
  }), T, 'unexpected-response');
}

/** A raw TCP client that performs the upgrade by hand and then does what the test says. */
async function rawUpgrade(port: number, path = '/'): Promise<{ sock: net.Socket; rest: Buffer }> {
  const sock = track(net.connect(port, '127.0.0.1'), (s) => s.destroy());
  sock.on('error', () => {});
  await withTimeout(once(sock, 'connect'), T, 'connect');
  const key = cryptoRandomBytes(16).toString('base64');
  sock.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  let buf = Buffer.alloc(0);
  await withTimeout(new Promise<void>((resolve, reject) => {
    const onData = (d: Buffer): void => {
      buf = Buffer.concat([buf, d]);
      if (buf.indexOf('\r\n\r\n') >= 0) { sock.removeListener('data', onData); sock.pause(); resolve(); }
    };
    sock.on('data', onData);
    sock.once('close', () => reject(new Error('closed during handshake')));
  }), T, 'the 101');
  const end = buf.indexOf('\r\n\r\n');
  expect(buf.subarray(0, 12).toString()).toBe('HTTP/1.1 101');
  return { sock, rest: buf.subarray(end + 4) };
}

// ---------------------------------------------------------------------------

describe('WebSocketServer options', () => {
  it('{ port: 0, host }: listening callback, address(), 426 for plain HTTP, echo', async () => {
    let cbCalled = 0;
    const wss = track(new WebSocketServer({ port: 0, host: '127.0.0.1' }, () => { cbCalled++; }), closeWss);
    await withTimeout(once(wss, 'listening'), T, 'listening');
    expect(cbCalled).toBe(1);
    const addr = wss.address() as AddressInfo;
    expect(addr.address).toBe('127.0.0.1');
    expect(addr.family).toBe('IPv4');
    expect(addr.port).toBeGreaterThan(0);
    const res = await fetch(`http://127.0.0.1:${addr.port}/`);
    expect(res.status).toBe(426);
    expect(await res.text()).toBe('Upgrade Required');
    wss.on('connection', echoMessages);
    const c = wsClient(`ws://127.0.0.1:${addr.port}/`);
    const r = record(c);
    await r.waitOpen();
    c.send('ping?');
    expect((await r.next()).data.toString()).toBe('ping?');
  });

  it('rejects a bad combination of port/server/noServer', () => {
    expect(() => new WebSocketServer({} as never)).toThrow(TypeError);
    expect(() => new WebSocketServer({ port: 0, noServer: true })).toThrow(TypeError);
  });

  it('{ server }: attached to an existing http server that still serves normal requests', async () => {
    const server = track(http.createServer((req, res) => { res.end(`plain ${req.method} ${req.url}`); }), closeHttp);
    const port = await listenLocal(server, 'http listening');
    const wss = track(new WebSocketServer({ server }), closeWss);
    expect((wss.address() as AddressInfo).port).toBe(port);
    wss.on('connection', echoMessages);
    const c = wsClient(`ws://127.0.0.1:${port}/socket`);
    const r = record(c);
    await r.waitOpen();
    const res = await fetch(`http://127.0.0.1:${port}/page?x=1`);
    expect(await res.text()).toBe('plain GET /page?x=1');
    c.send(Buffer.from([9, 8, 7]));
    expect(await r.next()).toMatchObject({ data: Buffer.from([9, 8, 7]), isBinary: true });
    // closing the WebSocketServer leaves the http server running
    c.close();
    await r.waitClose();
    await withTimeout(new Promise<void>((res2) => wss.close(() => res2())), T, 'wss close');
    expect(server.listening).toBe(true);
    expect(await (await fetch(`http://127.0.0.1:${port}/after`)).text()).toBe('plain GET /after');
    // and upgrade requests are no longer answered by the closed wss
    expect(server.listenerCount('upgrade')).toBe(0);
  });

  it('{ noServer: true } + handleUpgrade, the javascript.info chat way', async () => {
    // https://javascript.info/websocket#chat-example (server.js), unchanged apart from the port
    const wss = track(new WebSocketServer({ noServer: true }), closeWss);
    expect(() => wss.address()).toThrow(/noServer/);
    const clients = new Set<WebSocket>();
    function accept(req: IncomingMessage, res: http.ServerResponse): void {
      // all incoming requests must be websockets
      if (!req.headers.upgrade || req.headers.upgrade.toLowerCase() != 'websocket') {
        res.end();
        return;
      }
      // can be Connection: keep-alive, Upgrade
      if (!req.headers.connection!.match(/\bupgrade\b/i)) {
        res.end();
        return;
      }
      wss.handleUpgrade(req, req.socket, Buffer.alloc(0), onSocketConnect);
    }
    function onSocketConnect(ws: WebSocket): void {
      clients.add(ws);
      ws.on('message', function (message: Buffer) {
        message = message.slice(0, 50); // max message length will be 50
        for (const client of clients) client.send(message);
      });
      ws.on('close', function () { clients.delete(ws); });
    }
    const server = track(http.createServer(accept), closeHttp);
    const port = await listenLocal(server);

    // a non-websocket request gets an empty answer
    expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe('');

    const a = ourClient(`ws://127.0.0.1:${port}/`);
    const b = wsClient(`ws://127.0.0.1:${port}/`);
    const ra = record(a);
    const rb = record(b);
    await Promise.all([ra.waitOpen(), rb.waitOpen()]);
    await until(() => clients.size === 2, T, 'two chat clients');
    a.send('hello from a, this line is longer than fifty characters for sure');
    b.send('hi from b');
    await ra.waitCount(2);
    await rb.waitCount(2);
    // the server sends Buffers: binary frames (ws semantics)
    const texts = (r: Rec) => r.msgs.map((m) => m.data.toString()).sort();
    const expected = ['hello from a, this line is longer than fifty chara', 'hi from b'].sort();
    expect(texts(ra)).toEqual(expected);
    expect(texts(rb)).toEqual(expected);
    a.close();
    await ra.waitClose();
    await until(() => clients.size === 1, T, 'the closed client leaving the set');
  });

  it('path: only the matching path (query ignored) is upgraded, others get 400', async () => {
    const s = await ourServer({ path: '/chat' });
    const ok = wsClient(`ws://127.0.0.1:${s.port}/chat?room=1`);
    const rok = record(ok);
    await rok.waitOpen();
    const { req } = await s.nextConn();
    expect(req.url).toBe('/chat?room=1');
    const bad = wsClient(`ws://127.0.0.1:${s.port}/other`);
    const res = await unexpected(bad);
    expect(res.status).toBe(400);
    const bad2 = wsClient(`ws://127.0.0.1:${s.port}/chat/sub`);
    expect((await unexpected(bad2)).status).toBe(400);
    expect(s.wss.clients.size).toBe(1);
  });

  it('clientTracking: wss.clients follows connections; clientTracking: false tracks nothing', async () => {
    const s = await ourServer();
    const c1 = wsClient(`ws://127.0.0.1:${s.port}/`);
    const c2 = wsClient(`ws://127.0.0.1:${s.port}/`);
    const r1 = record(c1);
    await Promise.all([r1.waitOpen(), record(c2).waitOpen()]);
    const { ws: s1 } = await s.nextConn();
    const { ws: s2 } = await s.nextConn();
    expect(s.wss.clients.size).toBe(2);
    expect([...s.wss.clients]).toEqual(expect.arrayContaining([s1, s2]));
    c1.close();
    await r1.waitClose();
    await until(() => s.wss.clients.size === 1, T, 'clients.size 1');
    expect(s.wss.clients.has(s2)).toBe(true);

    const u = await ourServer({ clientTracking: false });
    const c3 = wsClient(`ws://127.0.0.1:${u.port}/`);
    await record(c3).waitOpen();
    await u.nextConn();
    expect(u.wss.clients?.size ?? 0).toBe(0);
  });

  it('verifyClient (sync): false gives 401 to the ws client; info has origin, secure, req', async () => {
    const infos: Array<{ origin: string | undefined; secure: boolean; url: string | undefined }> = [];
    const s = await ourServer({
      verifyClient: (info: { origin: string | undefined; secure: boolean; req: IncomingMessage }) => {
        infos.push({ origin: info.origin, secure: info.secure, url: info.req.url });
        return info.req.url !== '/deny';
      },
    });
    const denied = wsClient(`ws://127.0.0.1:${s.port}/deny`, undefined, { origin: 'https://evil.example' });
    const res = await unexpected(denied);
    expect(res.status).toBe(401);
    // without an unexpected-response listener: an error then close 1006
    const denied2 = wsClient(`ws://127.0.0.1:${s.port}/deny`);
    const r2 = record(denied2);
    expect((await r2.waitError()).message).toBe('Unexpected server response: 401');
    expect((await r2.waitClose()).code).toBe(1006);
    const allowed = wsClient(`ws://127.0.0.1:${s.port}/ok`, undefined, { origin: 'https://good.example' });
    await record(allowed).waitOpen();
    expect(infos).toEqual([
      { origin: 'https://evil.example', secure: false, url: '/deny' },
      { origin: undefined, secure: false, url: '/deny' },
      { origin: 'https://good.example', secure: false, url: '/ok' },
    ]);
    expect(s.conns.length).toBe(1);
  });

  it('verifyClient (async): custom code, message and headers; async accept works', async () => {
    const s = await ourServer({
      verifyClient: (info: { req: IncomingMessage }, cb: (ok: boolean, code?: number, msg?: string, headers?: Record<string, string>) => void) => {
        setTimeout(() => {
          if (info.req.headers['x-token'] === 'good') cb(true);
          else cb(false, 403, 'No entry', { 'X-Reason': 'bad-token' });
        }, 20);
      },
    });
    const bad = wsClient(`ws://127.0.0.1:${s.port}/`, undefined, { headers: { 'X-Token': 'bad' } });
    const res = await unexpected(bad);
    expect(res.status).toBe(403);
    expect(res.headers['x-reason']).toBe('bad-token');
    expect(res.body).toBe('No entry');
    const ours = ourClient(`ws://127.0.0.1:${s.port}/`, { headers: { 'X-Token': 'bad' } });
    const ro = record(ours);
    expect((await ro.waitError()).message).toBe('Unexpected server response: 403');
    expect((await ro.waitClose()).code).toBe(1006);
    expect(ro.log).toEqual(['error', 'close']);
    const good = ourClient(`ws://127.0.0.1:${s.port}/`, { headers: { 'X-Token': 'good' } });
    await record(good).waitOpen();
    expect(s.conns.length).toBe(1);
  });

  it('client headers and origin are seen by verifyClient', async () => {
    let seen: { origin?: string; token?: string; ua?: string } = {};
    const s = await ourServer({
      verifyClient: (info: { origin: string | undefined; req: IncomingMessage }) => {
        seen = { origin: info.origin, token: info.req.headers['x-token'] as string, ua: info.req.headers['user-agent'] };
        return true;
      },
    });
    const c = ourClient(`ws://127.0.0.1:${s.port}/`, { headers: { 'X-Token': 't0k3n', 'User-Agent': 'wasmsocket-test' }, origin: 'https://app.example' });
    await record(c).waitOpen();
    expect(seen).toEqual({ origin: 'https://app.example', token: 't0k3n', ua: 'wasmsocket-test' });
  });

  it('handleProtocols picks the subprotocol; ws.protocol on both sides', async () => {
    let offered: string[] = [];
    const s = await ourServer({
      handleProtocols: (protocols: Set<string>, req: IncomingMessage) => {
        offered = [...protocols];
        expect(req.url).toBe('/p');
        return protocols.has('chat.v2') ? 'chat.v2' : false;
      },
    });
    const c = wsClient(`ws://127.0.0.1:${s.port}/p`, ['chat.v1', 'chat.v2']);
    await record(c).waitOpen();
    const { ws } = await s.nextConn();
    expect(offered).toEqual(['chat.v1', 'chat.v2']);
    expect(c.protocol).toBe('chat.v2');
    expect(ws.protocol).toBe('chat.v2');
    // our client too
    const o = ourClient(`ws://127.0.0.1:${s.port}/p`, ['chat.v2', 'x']);
    await record(o).waitOpen();
    expect(o.protocol).toBe('chat.v2');
    expect((await s.nextConn()).ws.protocol).toBe('chat.v2');
    // handleProtocols returning false: no subprotocol header, the ws client fails the handshake
    const n = wsClient(`ws://127.0.0.1:${s.port}/p`, ['chat.v1']);
    const rn = record(n);
    expect((await rn.waitError()).message).toBe('Server sent no subprotocol');
    expect((await rn.waitClose()).code).toBe(1006);
  });

  it('without handleProtocols the first offered subprotocol is chosen; no offer gives ""', async () => {
    const s = await ourServer();
    const c = wsClient(`ws://127.0.0.1:${s.port}/`, ['first', 'second']);
    await record(c).waitOpen();
    expect(c.protocol).toBe('first');
    expect((await s.nextConn()).ws.protocol).toBe('first');
    const d = wsClient(`ws://127.0.0.1:${s.port}/`);
    await record(d).waitOpen();
    expect(d.protocol).toBe('');
    expect((await s.nextConn()).ws.protocol).toBe('');
  });

  it('the headers event can add response headers', async () => {
    const s = await ourServer();
    const seenReq: string[] = [];
    s.wss.on('headers', (headers: string[], req: IncomingMessage) => {
      seenReq.push(req.url!);
      expect(headers[0]).toBe('HTTP/1.1 101 Switching Protocols');
      headers.push('X-Hello: world', 'Set-Cookie: session=abc');
    });
    const c = wsClient(`ws://127.0.0.1:${s.port}/h`);
    const [res] = (await withTimeout(once(c, 'upgrade'), T, 'upgrade')) as [IncomingMessage];
    expect(res.headers['x-hello']).toBe('world');
    expect(res.headers['set-cookie']).toEqual(['session=abc']);
    await record(c).waitOpen();
    expect(seenReq).toEqual(['/h']);
  });

  it('wss.close(cb): waits for tracked clients, stops listening, second close reports not running', async () => {
    const s = await ourServer();
    const c = wsClient(`ws://127.0.0.1:${s.port}/`);
    const rc = record(c);
    await rc.waitOpen();
    await s.nextConn();
    const order: string[] = [];
    s.wss.on('close', () => order.push('close event'));
    const closed = new Promise<Error | undefined>((r) => s.wss.close((err) => { order.push('cb'); r(err); }));
    await sleep(100);
    expect(order).toEqual([]); // a client is still connected
    // the listening socket is closed already: new connections are refused
    const refused = net.connect(s.port, '127.0.0.1');
    const [err] = (await withTimeout(once(refused, 'error'), T, 'ECONNREFUSED')) as [NodeJS.ErrnoException];
    expect(err.code).toBe('ECONNREFUSED');
    c.close(1000);
    expect(await withTimeout(closed, T, 'close cb')).toBeUndefined();
    expect(order.sort()).toEqual(['cb', 'close event']);
    const again = await withTimeout(new Promise<Error | undefined>((r) => s.wss.close((e) => r(e))), T, 'second close cb');
    expect(again).toBeInstanceOf(Error);
    expect(again!.message).toBe('The server is not running');
  });
});

describe('sending', () => {
  it('send(data, cb): every callback is called once, without error, in order', async () => {
    const s = await ourServer({}, true);
    const c = ourClient(`ws://127.0.0.1:${s.port}/`);
    const rc = record(c);
    await rc.waitOpen();
    const { ws } = await s.nextConn();
    const calls: Array<[string, unknown]> = [];
    for (let i = 0; i < 5; i++) ws.send(`s${i}`, (err) => calls.push([`server ${i}`, err]));
    ws.send(Buffer.alloc(100_000), (err) => calls.push(['server big', err]));
    c.send('c0', (err) => calls.push(['client 0', err]));
    c.send(Buffer.alloc(70_000), { binary: true }, (err) => calls.push(['client big', err]));
    await until(() => calls.length === 8, T, 'all callbacks');
    expect(calls.map(([n]) => n).filter((n) => n.startsWith('server'))).toEqual(['server 0', 'server 1', 'server 2', 'server 3', 'server 4', 'server big']);
    expect(calls.map(([n]) => n).filter((n) => n.startsWith('client'))).toEqual(['client 0', 'client big']);
    for (const [n, e] of calls) expect(e ?? null, n).toBeNull();
    await sleep(50);
    expect(calls.length).toBe(8);
  });

  it("echoing binaryType 'fragments' data (Buffer[]) sends its bytes; bufferedAmount stays a number", async () => {
    const s = await ourServer({}, true);
    const c = ourClient(`ws://127.0.0.1:${s.port}/`);
    const rc = record(c);
    await rc.waitOpen();
    const { ws } = await s.nextConn();
    ws.binaryType = 'fragments';
    ws.on('message', (d, isBinary) => {
      ws.send(d as Buffer[], { binary: isBinary });
      expect(Number.isFinite(ws.bufferedAmount)).toBe(true);
    });
    c.send(Buffer.from([1, 2, 3, 250]));
    const m = await rc.next();
    expect([...m.data]).toEqual([1, 2, 3, 250]);
    expect(m.isBinary).toBe(true);
  });

  it('send() while CONNECTING throws; send(cb) after close gets an error', async () => {
    const s = await ourServer();
    const c = ourClient(`ws://127.0.0.1:${s.port}/`);
    expect(c.readyState).toBe(WebSocket.CONNECTING);
    expect(() => c.send('too early')).toThrow(/CONNECTING/);
    const rc = record(c);
    await rc.waitOpen();
    c.close();
    const err = await withTimeout(new Promise<Error | null | undefined>((r) => c.send('too late', (e) => r(e))), T, 'send cb');
    expect(err).toBeInstanceOf(Error);
    expect(err!.message).toMatch(/not open/);
    await rc.waitClose();
  });

  // Both directions: our server -> ws client (unmasked) and our client -> ws server (masked).
  describe.each(['our server -> ws client', 'our client -> ws server'] as const)('%s', (dir) => {
    async function open(): Promise<{ sender: WebSocket; peer: Rec; peerWs: wsPkg.WebSocket }> {
      if (dir === 'our server -> ws client') {
        const s = await ourServer();
        const c = wsClient(`ws://127.0.0.1:${s.port}/`);
        const peer = record(c);
        await peer.waitOpen();
        return { sender: (await s.nextConn()).ws, peer, peerWs: c };
      }
      const wss = track(new wsPkg.WebSocketServer({ port: 0, host: '127.0.0.1' }), closeWss);
      const c = ourClient(`ws://127.0.0.1:${await portWhenListening(wss)}/`);
      const sws = (await serverSideWhenOpen(wss, c)) as wsPkg.WebSocket;
      return { sender: c, peer: record(sws), peerWs: sws };
    }

    it('string, Buffer, ArrayBuffer, Uint16Array, DataView, Blob, number: exact bytes and types, in order', async () => {
      const { sender, peer } = await open();
      const ab = new ArrayBuffer(16);
      new Uint8Array(ab).set(Array.from({ length: 16 }, (_, i) => i + 1));
      const u16 = new Uint16Array(ab, 2, 3); // bytes 3..8 of ab, not the whole buffer
      const dv = new DataView(ab, 9, 4); // bytes 10..13
      const blobBytes = Buffer.from('blob contents ✓ ' + 'b'.repeat(100_000));
      const blob = new Blob([blobBytes.subarray(0, 10), blobBytes.subarray(10)]);
      const cbErrs: unknown[] = [];
      const cb = (e?: Error | null) => cbErrs.push(e ?? null);
      sender.send('text €', cb);
      sender.send(Buffer.from([0, 1, 2, 255]), cb);
      sender.send(ab, cb);
      sender.send(u16, cb);
      sender.send(dv, cb);
      sender.send(blob, cb);
      sender.send('after the blob', cb); // must not overtake the Blob (read asynchronously)
      sender.send(Buffer.from('buffer after the blob'), cb);
      sender.send(new Blob([]), cb);
      sender.send(42 as never, cb);
      sender.send(Buffer.from('as text'), { binary: false }, cb);
      sender.send('as binary', { binary: true }, cb);
      await peer.waitCount(12);
      const got = peer.msgs.map((m) => [m.isBinary, m.data.toString('hex')]);
      const hex = (x: string | Uint8Array) => Buffer.from(x as Uint8Array).toString('hex');
      expect(got).toEqual([
        [false, hex('text €')],
        [true, '000102ff'],
        [true, Buffer.from(ab).toString('hex')],
        [true, '030405060708'],
        [true, '0a0b0c0d'],
        [true, blobBytes.toString('hex')],
        [false, hex('after the blob')],
        [true, hex('buffer after the blob')],
        [true, ''],
        [false, hex('42')],
        [false, hex('as text')],
        [true, hex('as binary')],
      ]);
      await until(() => cbErrs.length === 12, T, 'all send callbacks');
      expect(cbErrs).toEqual(Array(12).fill(null));
    });

    it('send(blob) then close(): the Blob arrives before the close (ws queues the close behind it)', async () => {
      const { sender, peer } = await open();
      const blobBytes = Buffer.from('last words in a blob '.repeat(1000));
      const cbs: unknown[] = [];
      sender.send('first', (e) => cbs.push(e ?? null));
      sender.send(new Blob([blobBytes]), (e) => cbs.push(e ?? null));
      sender.close(1000, 'after the blob');
      const closed = await peer.waitClose();
      expect(closed).toEqual({ code: 1000, reason: 'after the blob' });
      expect(peer.msgs.map((m) => [m.isBinary, m.data.length])).toEqual([[false, 5], [true, blobBytes.length]]);
      expect(peer.msgs[1].data.equals(blobBytes)).toBe(true);
      await until(() => cbs.length === 2, T, 'send callbacks');
      expect(cbs).toEqual([null, null]);
    });

    it('terminate(): the peer sees 1006 without a close frame', async () => {
      const { sender, peer } = await open();
      const own = record(sender);
      sender.terminate();
      expect(sender.readyState).toBe(WebSocket.CLOSING);
      expect((await peer.waitClose()).code).toBe(1006);
      expect((await own.waitClose()).code).toBe(1006);
      expect(sender.readyState).toBe(WebSocket.CLOSED);
    });

    it('pause()/resume(): no messages while paused, all of them (in order) after resume', async () => {
      const { sender, peerWs } = await open();
      const own = record(sender);
      sender.pause();
      expect(sender.isPaused).toBe(true);
      for (let i = 0; i < 20; i++) peerWs.send(`m${i}`);
      await sleep(300);
      expect(own.msgs.length).toBe(0);
      sender.resume();
      expect(sender.isPaused).toBe(false);
      await own.waitCount(20);
      expect(own.msgs.map((m) => m.data.toString())).toEqual(Array.from({ length: 20 }, (_, i) => `m${i}`));
    });
  });
});

describe('send() then close() with permessage-deflate', () => {
  // A message being compressed (asynchronous) when close() is called must still
  // go out before the close frame, as with ws.
  it('our server -> ws client: the compressed last message arrives before the close', async () => {
    const s = await ourServer({ perMessageDeflate: { threshold: 0 } });
    const c = wsClient(`ws://127.0.0.1:${s.port}/`);
    const r = record(c);
    await r.waitOpen();
    expect(c.extensions).toMatch(/permessage-deflate/);
    const { ws } = await s.nextConn();
    const last = 'goodbye, compressed '.repeat(500);
    ws.send('one');
    ws.send(last);
    ws.close(1000, 'bye');
    expect(await r.waitClose()).toEqual({ code: 1000, reason: 'bye' });
    expect(r.msgs.map((m) => m.data.length)).toEqual([3, last.length]);
    expect(r.msgs.map((m) => m.data.toString())).toEqual(['one', last]);
  });

  it('our client -> ws server: the compressed last message arrives before the close', async () => {
    const wss = track(new wsPkg.WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: { threshold: 0 } }), closeWss);
    const c = ourClient(`ws://127.0.0.1:${await portWhenListening(wss)}/`);
    const sws = (await serverSideWhenOpen(wss, c)) as wsPkg.WebSocket;
    expect(c.extensions).toMatch(/permessage-deflate/);
    const r = record(sws);
    const last = 'client goodbye '.repeat(500);
    c.send(last);
    c.close(4000, 'done');
    expect(await r.waitClose()).toEqual({ code: 4000, reason: 'done' });
    expect(r.msgs.map((m) => m.data.length)).toEqual([last.length]);
    expect(r.msgs.map((m) => m.data.toString())).toEqual([last]);
  });
});

describe('bufferedAmount', () => {
  it('server side: grows while the peer does not read, back to 0 once it drains', async () => {
    const s = await ourServer();
    const { sock, rest } = await rawUpgrade(s.port);
    expect(rest.length).toBe(0);
    const { ws } = await s.nextConn();
    expect(ws.bufferedAmount).toBe(0);
    const CHUNK = 4 * 1024 * 1024;
    const N = 8;
    const payload = Buffer.alloc(CHUNK, 0x61);
    const amounts: number[] = [];
    for (let i = 0; i < N; i++) {
      ws.send(payload);
      amounts.push(ws.bufferedAmount);
    }
    for (let i = 1; i < N; i++) expect(amounts[i], `after send ${i}`).toBeGreaterThan(amounts[i - 1]);
    await sleep(100);
    // the peer has not read: what the kernel could not take is still queued, and stays so
    const stalled = ws.bufferedAmount;
    expect(stalled).toBeGreaterThan(0);
    await sleep(100);
    expect(ws.bufferedAmount).toBe(stalled);
    let received = 0;
    sock.on('data', (d: Buffer) => { received += d.length; });
    sock.resume();
    await until(() => ws.bufferedAmount === 0, 15_000, `bufferedAmount 0 (is ${ws.bufferedAmount})`);
    await until(() => received === N * (CHUNK + 10), 5000, `all bytes read (${received})`);
  }, 30_000);

  it('client side: grows while the server does not read, back to 0 once it drains', async () => {
    const server = track(net.createServer(), closeHttp);
    const sockets: net.Socket[] = [];
    let received = 0;
    let headEnd = -1;
    server.on('connection', (sock) => {
      sockets.push(sock);
      sock.on('error', () => {});
      let buf = Buffer.alloc(0);
      const onData = (d: Buffer): void => {
        buf = Buffer.concat([buf, d]);
        headEnd = buf.indexOf('\r\n\r\n');
        if (headEnd < 0) return;
        sock.removeListener('data', onData);
        sock.pause();
        const key = /sec-websocket-key: *(\S+)/i.exec(buf.toString('latin1'))![1];
        const accept = wsAccept(key);
        sock.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
        received = buf.length - headEnd - 4;
      };
      sock.on('data', onData);
    });
    track(sockets, (ss) => ss.forEach((x) => x.destroy()));
    const port = await listenLocal(server);
    const c = ourClient(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false });
    await record(c).waitOpen();
    expect(c.bufferedAmount).toBe(0);
    const CHUNK = 4 * 1024 * 1024;
    const N = 8;
    const payload = Buffer.alloc(CHUNK, 0x62);
    const amounts: number[] = [];
    for (let i = 0; i < N; i++) { c.send(payload); amounts.push(c.bufferedAmount); }
    for (let i = 1; i < N; i++) expect(amounts[i], `after send ${i}`).toBeGreaterThan(amounts[i - 1]);
    await sleep(100);
    const stalled = c.bufferedAmount;
    expect(stalled).toBeGreaterThan(0);
    await sleep(100);
    expect(c.bufferedAmount).toBe(stalled);
    const sock = sockets[0];
    sock.on('data', (d: Buffer) => { received += d.length; });
    sock.resume();
    await until(() => c.bufferedAmount === 0, 15_000, `bufferedAmount 0 (is ${c.bufferedAmount})`);
    await until(() => received === N * (CHUNK + 14), 5000, `all bytes read (${received})`);
  }, 30_000);
});

function wsAccept(key: string): string {
  return createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
}

/** A raw TCP server that hands each upgrade request's 101 answer to `answer(raw, head)` to write; returns its port. */
function raw101Server(answer: (raw: net.Socket, head: string) => void): Promise<number> {
  const server = track(net.createServer((raw) => {
    raw.on('error', () => {});
    track(raw, (x) => x.destroy());
    let buf = '';
    raw.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      if (!buf.includes('\r\n\r\n')) return;
      const k = /sec-websocket-key: *(\S+)/i.exec(buf)![1];
      buf = '';
      answer(raw, `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${wsAccept(k)}\r\n\r\n`);
    });
  }), closeHttp);
  return listenLocal(server);
}

describe('client options', () => {
  it('handshakeTimeout against a server that never answers: error, then close 1006', async () => {
    const server = track(net.createServer((sock) => { sock.on('error', () => {}); track(sock, (x) => x.destroy()); }), closeHttp);
    const port = await listenLocal(server);
    const t0 = Date.now();
    const c = ourClient(`ws://127.0.0.1:${port}/`, { handshakeTimeout: 300 });
    const r = record(c);
    const err = await r.waitError(3000);
    const elapsed = Date.now() - t0;
    expect(err.message).toBe('Opening handshake has timed out');
    expect(elapsed).toBeGreaterThanOrEqual(250);
    expect(elapsed).toBeLessThan(2500);
    expect((await r.waitClose()).code).toBe(1006);
    expect(r.log).toEqual(['error', 'close']);
    expect(c.readyState).toBe(WebSocket.CLOSED);
  });

  it("followRedirects: 'redirect' announces the new URL and request, as ws does; a header set there arrives", async () => {
    const wss = track(new WebSocketServer({ noServer: true }), closeWss);
    const seen: Array<string | undefined> = [];
    const server = track(http.createServer((_req, res) => { res.writeHead(404); res.end(); }), closeHttp);
    server.on('upgrade', (req: IncomingMessage, socket: net.Socket, head: Buffer) => {
      if (req.url === '/ws') {
        seen.push(req.headers['x-after-redirect'] as string | undefined);
        wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
        return;
      }
      socket.end('HTTP/1.1 302 Found\r\nLocation: /ws\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
    });
    const port = await listenLocal(server);
    const makers = [() => ourClient(`ws://127.0.0.1:${port}/old`, undefined, { followRedirects: true }),
      () => wsClient(`ws://127.0.0.1:${port}/old`, undefined, { followRedirects: true })];
    for (const make of makers) {
      const c = make();
      const redirects: string[] = [];
      (c as WebSocket).on('redirect', (url: string, req: http.ClientRequest) => { redirects.push(url); req.setHeader('X-After-Redirect', 'yes'); });
      await record(c).waitOpen();
      expect(redirects).toEqual([`ws://127.0.0.1:${port}/ws`]);
    }
    expect(seen).toEqual(['yes', 'yes']);
  });

  it('followRedirects: a 302 to the ws path is followed (url as ws reports it)', async () => {
    const wss = track(new WebSocketServer({ noServer: true }), closeWss);
    wss.on('connection', echoMessages);
    const hops: string[] = [];
    const server = track(http.createServer((_req, res) => { res.writeHead(404); res.end(); }), closeHttp);
    server.on('upgrade', (req: IncomingMessage, socket: net.Socket, head: Buffer) => {
      hops.push(req.url!);
      if (req.url === '/ws') { wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req)); return; }
      if (req.url === '/loop') { socket.end('HTTP/1.1 302 Found\r\nLocation: /loop\r\nContent-Length: 0\r\nConnection: close\r\n\r\n'); return; }
      socket.end('HTTP/1.1 302 Found\r\nLocation: /ws\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
    });
    const port = await listenLocal(server);
    const c = ourClient(`ws://127.0.0.1:${port}/old`, { followRedirects: true });
    const r = record(c);
    await r.waitOpen();
    c.send('redirected');
    expect((await r.next()).data.toString()).toBe('redirected');
    expect(hops).toEqual(['/old', '/ws']);
    // ws reports the URL it ended up on
    const ref = wsClient(`ws://127.0.0.1:${port}/old`, undefined, { followRedirects: true });
    await record(ref).waitOpen();
    expect(c.url).toBe(ref.url);
    expect(c.url).toBe(`ws://127.0.0.1:${port}/ws`);

    // without followRedirects: unexpected-response 302
    const n = ourClient(`ws://127.0.0.1:${port}/old`);
    const rn = record(n);
    expect((await rn.waitError()).message).toBe('Unexpected server response: 302');
    expect((await rn.waitClose()).code).toBe(1006);

    // a redirect loop stops at maxRedirects
    hops.length = 0;
    const l = ourClient(`ws://127.0.0.1:${port}/loop`, { followRedirects: true, maxRedirects: 3 });
    const rl = record(l);
    expect((await rl.waitError()).message).toBe('Maximum redirects exceeded');
    expect((await rl.waitClose()).code).toBe(1006);
    expect(hops).toEqual(['/loop', '/loop', '/loop', '/loop']);
  });

  it('followRedirects to another host drops Authorization, Cookie and URL credentials (as ws does)', async () => {
    // B: the real server, records what each connection sent
    const seen: Array<Record<string, string | undefined>> = [];
    const b = await ourServer({
      verifyClient: (info: { req: IncomingMessage }) => {
        const h = info.req.headers;
        seen.push({ authorization: h.authorization, cookie: h.cookie, other: h['x-other'] as string | undefined });
        return true;
      },
    });
    // A: redirects every upgrade either to B (another host:port) or to itself on /same
    const server = track(http.createServer((_req, res) => { res.writeHead(404); res.end(); }), closeHttp);
    const wssA = track(new WebSocketServer({ noServer: true }), closeWss);
    const seenA: Array<Record<string, string | undefined>> = [];
    server.on('upgrade', (req: IncomingMessage, socket: net.Socket, head: Buffer) => {
      if (req.url === '/same') {
        seenA.push({ authorization: req.headers.authorization, cookie: req.headers.cookie, other: req.headers['x-other'] as string | undefined });
        wssA.handleUpgrade(req, socket, head, () => {});
        return;
      }
      const to = req.url === '/to-same' ? '/same' : `ws://127.0.0.1:${b.port}/b`;
      socket.end(`HTTP/1.1 302 Found\r\nLocation: ${to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
    });
    const portA = await listenLocal(server);
    const headers = { Authorization: 'Bearer s3cret', Cookie: 'sid=42', 'X-Other': 'kept' };

    const ref = wsClient(`ws://127.0.0.1:${portA}/away`, undefined, { followRedirects: true, headers });
    await record(ref).waitOpen();
    const ours = ourClient(`ws://127.0.0.1:${portA}/away`, { followRedirects: true, headers });
    await record(ours).waitOpen();
    const creds = ourClient(`ws://user:pass@127.0.0.1:${portA}/away`, { followRedirects: true });
    await record(creds).waitOpen();
    expect(seen[0]).toEqual({ authorization: undefined, cookie: undefined, other: 'kept' }); // ws
    expect(seen[1]).toEqual(seen[0]); // ours
    expect(seen[2]).toEqual({ authorization: undefined, cookie: undefined, other: undefined });

    // a redirect on the same host keeps them
    const same = ourClient(`ws://127.0.0.1:${portA}/to-same`, { followRedirects: true, headers });
    await record(same).waitOpen();
    expect(seenA).toEqual([{ authorization: 'Bearer s3cret', cookie: 'sid=42', other: 'kept' }]);
  });

  it('unexpected-response: the listener gets req and res (status, headers, body); no error event', async () => {
    const server = track(http.createServer((_req, res) => { res.writeHead(200, { 'X-Plain': 'yes', 'Content-Type': 'text/plain' }); res.end('just http'); }), closeHttp);
    const port = await listenLocal(server);
    const c = ourClient(`ws://127.0.0.1:${port}/`);
    const r = record(c);
    const res = await unexpected(c);
    expect(res).toMatchObject({ status: 200, body: 'just http' });
    expect(res.headers['x-plain']).toBe('yes');
    await sleep(50);
    expect(r.errors).toEqual([]);
    expect(c.readyState).toBe(WebSocket.CONNECTING);
    c.terminate(); // the application gives up, as ws documents
    expect((await r.waitClose()).code).toBe(1006);
  });

  it('invalid URLs and subprotocols throw synchronously', () => {
    expect(() => new WebSocket('not a url')).toThrow(SyntaxError);
    expect(() => new WebSocket('ftp://127.0.0.1/')).toThrow(SyntaxError);
    expect(() => new WebSocket('ws://127.0.0.1/#frag')).toThrow(SyntaxError);
    expect(() => new WebSocket('ws://127.0.0.1:1/', ['a', 'a'])).toThrow(SyntaxError);
    expect(() => new WebSocket('ws://127.0.0.1:1/', ['bad proto'])).toThrow(SyntaxError);
  });
});

describe('more ws API details', () => {
  it('close()/terminate() while CONNECTING: error "closed before the connection was established", then close 1006', async () => {
    const s = await ourServer();
    for (const how of ['close', 'terminate'] as const) {
      const c = ourClient(`ws://127.0.0.1:${s.port}/`);
      const r = record(c);
      c[how]();
      expect((await r.waitError()).message).toBe('WebSocket was closed before the connection was established');
      expect((await r.waitClose()).code).toBe(1006);
      expect(r.log).toEqual(['error', 'close']);
    }
    await sleep(50);
    expect(s.conns.length).toBe(0);
  });

  it('argument checks: ping > 125 bytes, invalid close codes, close reason > 123 bytes', async () => {
    const s = await ourServer();
    const c = ourClient(`ws://127.0.0.1:${s.port}/`);
    await record(c).waitOpen();
    expect(() => c.ping(Buffer.alloc(126))).toThrow(RangeError);
    expect(() => c.pong(Buffer.alloc(126))).toThrow(RangeError);
    for (const code of [999, 1004, 1005, 1006, 1015, 2000, 5000]) expect(() => c.close(code), String(code)).toThrow(TypeError);
    expect(() => c.close(1000, 'x'.repeat(124))).toThrow();
    expect(c.readyState).toBe(WebSocket.OPEN); // nothing of that closed it
    c.close(1000, 'x'.repeat(123));
    expect(c.readyState).toBe(WebSocket.CLOSING);
  });

  it('closeTimeout: a peer that never answers the close frame is dropped (1006)', async () => {
    const s = await ourServer({ closeTimeout: 300 });
    const { sock } = await rawUpgrade(s.port);
    let got = Buffer.alloc(0);
    sock.on('data', (d: Buffer) => { got = Buffer.concat([got, d]); });
    sock.resume();
    const { ws, rec } = await s.nextConn();
    const t0 = Date.now();
    ws.close(1000, 'answer me');
    const closed = await rec.waitClose(3000);
    const elapsed = Date.now() - t0;
    expect(closed.code).toBe(1006);
    expect(elapsed).toBeGreaterThanOrEqual(250);
    expect(elapsed).toBeLessThan(2500);
    // the close frame itself did go out
    expect(got.subarray(0, 4)).toEqual(Buffer.from([0x88, 11, 0x03, 0xe8]));
  });

  it('autoPong: false: ping events are still emitted, no pong is sent', async () => {
    const s = await ourServer({ autoPong: false });
    const c = wsClient(`ws://127.0.0.1:${s.port}/`);
    await record(c).waitOpen();
    const { ws } = await s.nextConn();
    const pings: string[] = [];
    ws.on('ping', (d: Buffer) => pings.push(d.toString()));
    let pongs = 0;
    c.on('pong', () => pongs++);
    c.ping('one');
    c.ping('two');
    await until(() => pings.length === 2, T, 'pings');
    await sleep(100);
    expect(pings).toEqual(['one', 'two']);
    expect(pongs).toBe(0);
    ws.pong('manual');
    const [d] = (await withTimeout(once(c, 'pong'), T, 'manual pong')) as [Buffer];
    expect(d.toString()).toBe('manual');
  });

  it('skipUTF8Validation: invalid UTF-8 text is delivered instead of closing with 1007', async () => {
    const s = await ourServer({ skipUTF8Validation: true });
    const { sock } = await rawUpgrade(s.port);
    const { rec } = await s.nextConn();
    const payload = Buffer.from([0x61, 0xff, 0xfe, 0x62]);
    const mask = Buffer.from([1, 2, 3, 4]);
    const masked = Buffer.from(payload.map((b, i) => b ^ mask[i & 3]));
    sock.write(Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, masked]));
    const m = await rec.next();
    expect(m.isBinary).toBe(false);
    expect(m.data).toEqual(payload);
    expect(rec.closed).toBeUndefined();
  });

  it('the WebSocket option: the server creates instances of the given subclass', async () => {
    class MyWebSocket extends WebSocket {
      hello(): string { return 'from the subclass'; }
    }
    const s = await ourServer({ WebSocket: MyWebSocket });
    const c = wsClient(`ws://127.0.0.1:${s.port}/`);
    await record(c).waitOpen();
    const { ws } = await s.nextConn();
    expect(ws).toBeInstanceOf(MyWebSocket);
    expect((ws as MyWebSocket).hello()).toBe('from the subclass');
  });

  it('a frame in the same packet as the handshake (upgrade head) is not lost, both sides', async () => {
    // server side
    const s = await ourServer({}, true);
    const sock = track(net.connect(s.port, '127.0.0.1'), (x) => x.destroy());
    sock.on('error', () => {});
    await withTimeout(once(sock, 'connect'), T, 'connect');
    const key = cryptoRandomBytes(16).toString('base64');
    const mask = Buffer.from([9, 8, 7, 6]);
    const text = Buffer.from('in the head');
    const frame = Buffer.concat([Buffer.from([0x81, 0x80 | text.length]), mask, Buffer.from(text.map((b, i) => b ^ mask[i & 3]))]);
    let got = Buffer.alloc(0);
    sock.on('data', (d: Buffer) => { got = Buffer.concat([got, d]); });
    sock.write(Buffer.concat([Buffer.from(`GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n` +
      `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`), frame]));
    await until(() => got.indexOf('\r\n\r\n') >= 0 && got.length >= got.indexOf('\r\n\r\n') + 4 + 2 + text.length, T, 'the echo');
    const body = got.subarray(got.indexOf('\r\n\r\n') + 4);
    expect(body).toEqual(Buffer.concat([Buffer.from([0x81, text.length]), text]));

    // client side: the 101 and a first frame in one write
    const port = await raw101Server((raw, head) => raw.write(Buffer.concat([Buffer.from(head), Buffer.from([0x82, 3, 1, 2, 3])])));
    const c = ourClient(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false });
    const r = record(c);
    expect(await r.next()).toMatchObject({ data: Buffer.from([1, 2, 3]), isBinary: true });
  });

  it('credentials in the URL become a Basic Authorization header', async () => {
    let auth: string | undefined;
    const s = await ourServer({ verifyClient: (info: { req: IncomingMessage }) => { auth = info.req.headers.authorization; return true; } });
    const c = ourClient(`ws://us%40er:p%3Ass@127.0.0.1:${s.port}/`);
    await record(c).waitOpen();
    expect(auth).toBe('Basic ' + Buffer.from('us@er:p:ss').toString('base64'));
  });

  it('the client emits upgrade with the 101 response', async () => {
    const s = await ourServer();
    s.wss.on('headers', (h: string[]) => h.push('X-Server: wasmsocket'));
    const c = ourClient(`ws://127.0.0.1:${s.port}/`);
    const [res] = (await withTimeout(once(c, 'upgrade'), T, 'upgrade')) as [IncomingMessage];
    expect(res.statusCode).toBe(101);
    expect(res.headers['x-server']).toBe('wasmsocket');
  });

  it('server handshakeTimeout drops a connection that never finishes its request', async () => {
    const s = await ourServer({ handshakeTimeout: 500 });
    const sock = track(net.connect(s.port, '127.0.0.1'), (x) => x.destroy());
    sock.on('error', () => {});
    sock.on('data', () => {});
    await withTimeout(once(sock, 'connect'), T, 'connect');
    const t0 = Date.now();
    sock.write('GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n');
    await withTimeout(once(sock, 'close'), 5000, 'the server to drop the socket');
    const elapsed = Date.now() - t0;
    expect(elapsed).toBeGreaterThanOrEqual(400);
    expect(elapsed).toBeLessThan(3000);
  });
});

describe('createWebSocketStream details', () => {
  it('backpressure: an unread stream pauses the socket; everything arrives once read', async () => {
    const s = await ourServer();
    const c = ourClient(`ws://127.0.0.1:${s.port}/`);
    const stream = createWebSocketStream(c, { readableHighWaterMark: 1024 });
    const { ws } = await s.nextConn();
    const N = 2000;
    const chunk = Buffer.alloc(1024, 0x63);
    for (let i = 0; i < N; i++) ws.send(chunk);
    await until(() => c.isPaused, T, 'the client socket to pause');
    let total = 0;
    stream.on('data', (d: Buffer) => { total += d.length; });
    await until(() => total === N * 1024, 10_000, `all bytes (${total})`);
    expect(c.isPaused).toBe(false);
  });

  it('a protocol error on the socket destroys the stream with that error', async () => {
    const port = await raw101Server((raw, head) => {
      raw.write(head);
      setTimeout(() => raw.write(Buffer.from([0x81, 2, 0xc3, 0x28])), 20); // invalid UTF-8
    });
    const c = ourClient(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false });
    const stream = createWebSocketStream(c);
    const events: string[] = [];
    stream.on('error', (e: Error & { code?: string }) => events.push(`error:${e.code}`));
    const closed = new Promise<void>((r) => stream.on('close', () => { events.push('close'); r(); }));
    await withTimeout(closed, T, 'stream close (ws emits it after destroy)');
    expect(events).toEqual(['error:WS_ERR_INVALID_UTF8', 'close']);
    expect(stream.destroyed).toBe(true);
  });
});

// ---------------------------------------------------------------------------
// TLS

const hasOpenssl = spawnSync('openssl', ['version']).status === 0;
describe.skipIf(!hasOpenssl)('wss:// (self-signed certificate made with openssl at test time)', () => {
  let dir = '';
  let key = '';
  let cert = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'wasmsocket-tls-'));
    const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { encoding: 'utf8', timeout: 20_000 });
    if (r.status !== 0) throw new Error(`openssl failed: ${r.stderr}`);
    key = readFileSync(join(dir, 'key.pem'), 'utf8');
    cert = readFileSync(join(dir, 'cert.pem'), 'utf8');
  });
  afterAll(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

  async function tlsServer(): Promise<{ port: number; wss: WebSocketServer; secure: boolean[] }> {
    const server = track(https.createServer({ key, cert }, (_req, res) => res.end('https ok')), closeHttp);
    const secure: boolean[] = [];
    const wss = track(new WebSocketServer({ server, verifyClient: (info: { secure: boolean }) => { secure.push(info.secure); return true; } }), closeWss);
    wss.on('connection', echoMessages);
    const port = await listenLocal(server);
    return { port, wss, secure };
  }

  it('our client with ca: echo over TLS; verifyClient sees secure: true', async () => {
    const { port, secure } = await tlsServer();
    const c = ourClient(`wss://127.0.0.1:${port}/`, { ca: cert });
    const r = record(c);
    await r.waitOpen();
    const big = cryptoRandomBytes(200_000);
    c.send('over tls');
    c.send(big);
    expect((await r.next()).data.toString()).toBe('over tls');
    expect((await r.next()).data.equals(big)).toBe(true);
    expect(secure).toEqual([true]);
    expect(c.url).toBe(`wss://127.0.0.1:${port}/`);
    c.close(1000);
    expect((await r.waitClose()).code).toBe(1000);
  });

  it('the ws client against our server over TLS (rejectUnauthorized: false)', async () => {
    const { port } = await tlsServer();
    const c = wsClient(`wss://127.0.0.1:${port}/`, undefined, { rejectUnauthorized: false });
    const r = record(c);
    await r.waitOpen();
    c.send('ws over tls');
    expect((await r.next()).data.toString()).toBe('ws over tls');
  });

  it('without the ca our client refuses the self-signed certificate', async () => {
    const { port, secure } = await tlsServer();
    const c = ourClient(`wss://127.0.0.1:${port}/`);
    const r = record(c);
    const err = (await r.waitError()) as NodeJS.ErrnoException;
    expect(err.code).toBe('DEPTH_ZERO_SELF_SIGNED_CERT');
    expect((await r.waitClose()).code).toBe(1006);
    expect(secure).toEqual([]);
  });
});

// ---------------------------------------------------------------------------
// the browser API on our client

describe('browser WebSocket API on our client', () => {
  it('onopen/onmessage/onclose, MessageEvent/CloseEvent, readyState transitions', async () => {
    const s = await ourServer({}, true);
    const url = `ws://127.0.0.1:${s.port}/room?x=1`;
    const socket = ourClient(url);
    const log: string[] = [];
    const states: number[] = [socket.readyState];
    expect(socket.readyState).toBe(WebSocket.CONNECTING);
    expect([WebSocket.CONNECTING, WebSocket.OPEN, WebSocket.CLOSING, WebSocket.CLOSED]).toEqual([0, 1, 2, 3]);
    expect([socket.CONNECTING, socket.OPEN, socket.CLOSING, socket.CLOSED]).toEqual([0, 1, 2, 3]);
    expect(socket.url).toBe(url);
    const events: unknown[] = [];
    const closed = new Promise<CloseEvent>((resolve) => {
      socket.onopen = (e) => { log.push(`open:${e.type}`); states.push(socket.readyState); socket.send('hello'); };
      socket.onmessage = (e) => {
        events.push(e);
        log.push(`message:${(e as MessageEvent).data}`);
        socket.close(4001, 'bye now');
        states.push(socket.readyState);
      };
      socket.onclose = (e) => { log.push(`close:${(e as CloseEvent).code}`); states.push(socket.readyState); resolve(e as CloseEvent); };
      socket.onerror = (e) => log.push(`error:${(e as ErrorEvent).message}`);
    });
    expect(typeof socket.onopen).toBe('function');
    const ev = await withTimeout(closed, T, 'onclose');
    expect(log).toEqual(['open:open', 'message:hello', 'close:4001']);
    expect(states).toEqual([0, 1, 2, 3]);
    const me = events[0] as MessageEvent;
    expect(me).toBeInstanceOf(MessageEvent);
    expect(me.type).toBe('message');
    expect(typeof me.data).toBe('string');
    expect(me.target).toBe(socket);
    expect(ev).toBeInstanceOf(CloseEvent);
    expect(ev.code).toBe(4001);
    expect(ev.reason).toBe('bye now');
    expect(ev.wasClean).toBe(true);
    expect(ev.target).toBe(socket);
    // setting null removes the handler
    socket.onmessage = null;
    expect(socket.onmessage).toBeNull();
    expect(socket.listenerCount('message')).toBe(0);
  });

  it('a server-initiated close: CloseEvent carries the code/reason and wasClean true', async () => {
    const s = await ourServer();
    const socket = ourClient(`ws://127.0.0.1:${s.port}/`);
    const ev = new Promise<CloseEvent>((r) => { socket.onclose = (e) => r(e as CloseEvent); });
    const { ws } = await s.nextConn();
    ws.close(1001, 'server going away');
    const e = await withTimeout(ev, T, 'close');
    expect({ code: e.code, reason: e.reason, wasClean: e.wasClean }).toEqual({ code: 1001, reason: 'server going away', wasClean: true });
  });

  it('onerror then onclose (1006, wasClean false) when the connection is refused', async () => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1');
    await once(srv, 'listening');
    const port = (srv.address() as AddressInfo).port;
    await new Promise<void>((r) => srv.close(() => r()));
    const socket = ourClient(`ws://127.0.0.1:${port}/`);
    const log: string[] = [];
    let errEv: ErrorEvent | undefined;
    const done = new Promise<CloseEvent>((r) => {
      socket.onerror = (e) => { errEv = e as ErrorEvent; log.push('error'); };
      socket.onclose = (e) => { log.push('close'); r(e as CloseEvent); };
    });
    const ce = await withTimeout(done, T, 'close');
    expect(log).toEqual(['error', 'close']);
    expect(errEv).toBeInstanceOf(ErrorEvent);
    expect((errEv!.error as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
    expect(errEv!.message).toMatch(/ECONNREFUSED/);
    expect({ code: ce.code, wasClean: ce.wasClean }).toEqual({ code: 1006, wasClean: false });
  });

  it('terminate() by the server: CloseEvent 1006, wasClean false', async () => {
    const s = await ourServer();
    const socket = ourClient(`ws://127.0.0.1:${s.port}/`);
    const ev = new Promise<CloseEvent>((r) => socket.addEventListener('close', (e) => r(e as CloseEvent)));
    (await s.nextConn()).ws.terminate();
    const e = await withTimeout(ev, T, 'close');
    expect({ code: e.code, reason: e.reason, wasClean: e.wasClean }).toEqual({ code: 1006, reason: '', wasClean: false });
  });

  it('addEventListener/removeEventListener, once, handleEvent objects, no duplicates', async () => {
    const s = await ourServer({}, true);
    const socket = ourClient(`ws://127.0.0.1:${s.port}/`);
    await withTimeout(new Promise((r) => socket.addEventListener('open', r)), T, 'open');
    const calls: string[] = [];
    const every = (e: unknown) => calls.push(`every:${(e as MessageEvent).data}`);
    const onceL = (e: unknown) => calls.push(`once:${(e as MessageEvent).data}`);
    const removed = (e: unknown) => calls.push(`removed:${(e as MessageEvent).data}`);
    const obj = { handleEvent(e: unknown) { calls.push(`obj:${(e as MessageEvent).data}`); } };
    socket.addEventListener('message', every);
    socket.addEventListener('message', every); // ignored: already registered
    socket.addEventListener('message', onceL, { once: true });
    socket.addEventListener('message', removed);
    socket.addEventListener('message', obj);
    socket.removeEventListener('message', removed);
    socket.addEventListener('nonsense', every); // unknown types are ignored
    socket.send('a');
    socket.send('b');
    await until(() => calls.length >= 5, T, 'listener calls');
    await sleep(30);
    expect(calls).toEqual(['every:a', 'once:a', 'obj:a', 'every:b', 'obj:b']);
    // onmessage and addEventListener coexist; removing a listener does not remove onmessage
    const on: string[] = [];
    socket.onmessage = (e) => on.push(String((e as MessageEvent).data));
    socket.removeEventListener('message', every);
    socket.send('c');
    await until(() => on.length === 1, T, 'onmessage');
    await sleep(30);
    expect(on).toEqual(['c']);
    expect(calls.slice(5)).toEqual(['obj:c']);
  });

  it.each(['nodebuffer', 'arraybuffer', 'fragments', 'blob'] as const)('binaryType %s: MessageEvent.data and message event data', async (type) => {
    const s = await ourServer();
    const socket = ourClient(`ws://127.0.0.1:${s.port}/`);
    expect(socket.binaryType).toBe('nodebuffer');
    socket.binaryType = type;
    socket.binaryType = 'bogus' as never; // ignored
    expect(socket.binaryType).toBe(type);
    const evData: unknown[] = [];
    const nodeData: unknown[] = [];
    socket.onmessage = (e) => evData.push((e as MessageEvent).data);
    socket.on('message', (d: unknown) => nodeData.push(d));
    const { ws } = await s.nextConn();
    const payload = Buffer.from([1, 2, 3, 250, 251, 252]);
    ws.send(payload);
    ws.send('text stays a string');
    ws.send(Buffer.alloc(0));
    await until(() => evData.length === 3, T, 'three messages');
    const bytesOf = async (d: unknown): Promise<Buffer> => {
      switch (type) {
        case 'nodebuffer': expect(Buffer.isBuffer(d)).toBe(true); return d as Buffer;
        case 'arraybuffer': expect(d).toBeInstanceOf(ArrayBuffer); return Buffer.from(d as ArrayBuffer);
        case 'fragments': expect(Array.isArray(d)).toBe(true); for (const f of d as Buffer[]) expect(Buffer.isBuffer(f)).toBe(true); return Buffer.concat(d as Buffer[]);
        case 'blob': expect(d).toBeInstanceOf(Blob); return Buffer.from(await (d as Blob).arrayBuffer());
      }
    };
    expect(await bytesOf(evData[0])).toEqual(payload);
    expect(await bytesOf(nodeData[0])).toEqual(payload);
    expect(evData[1]).toBe('text stays a string');
    expect((await bytesOf(evData[2])).length).toBe(0);
    if (type === 'arraybuffer') expect((evData[0] as ArrayBuffer).byteLength).toBe(6);
    if (type === 'blob') expect((evData[0] as Blob).size).toBe(6);
  });

  it('protocol, extensions and url', async () => {
    const s = await ourServer({ perMessageDeflate: true });
    const socket = ourClient(`ws://127.0.0.1:${s.port}/x?y=z`, ['proto-a', 'proto-b']);
    expect(socket.protocol).toBe('');
    expect(socket.extensions).toBe('');
    await withTimeout(new Promise((r) => socket.addEventListener('open', r, { once: true })), T, 'open');
    expect(socket.protocol).toBe('proto-a');
    expect(socket.extensions).toMatch(/^permessage-deflate\b/);
    expect(socket.url).toBe(`ws://127.0.0.1:${s.port}/x?y=z`);
    const { ws } = await s.nextConn();
    expect(ws.extensions).toBe(socket.extensions);
    // against a server without permessage-deflate: no extensions
    const plain = await ourServer();
    const p = ourClient(`ws://127.0.0.1:${plain.port}/`);
    await withTimeout(new Promise((r) => p.addEventListener('open', r, { once: true })), T, 'open');
    expect(p.extensions).toBe('');
    expect(p.protocol).toBe('');
    // http:// URLs are accepted and reported as ws://
    const h = ourClient(`http://127.0.0.1:${plain.port}/h`);
    expect(h.url).toBe(`ws://127.0.0.1:${plain.port}/h`);
    await withTimeout(new Promise((r) => h.addEventListener('open', r, { once: true })), T, 'open');
  });

  it('the default export is the WebSocket class carrying the rest', () => {
    expect(wsDefault).toBe(WebSocket);
    expect(wsDefault.WebSocket).toBe(WebSocket);
    expect(wsDefault.WebSocketServer).toBe(WebSocketServer);
    expect(wsDefault.Server).toBe(WebSocketServer);
    expect(wsDefault.createWebSocketStream).toBe(createWebSocketStream);
  });
});

// ---------------------------------------------------------------------------
// CommonJS

describe('CommonJS contract (dist/index.cjs)', () => {
  beforeAll(() => buildCjsIfMissing(), 130_000);

  function runCjs(script: string): Promise<string> {
    return new Promise((resolve, reject) => {
      execFile(process.execPath, ['-e', script], { cwd: ROOT, timeout: 15_000 }, (err, stdout, stderr) => {
        if (err) reject(new Error(`child failed (${err.message}): ${stderr}\n${stdout}`));
        else resolve(stdout.trim());
      });
    });
  }

  it('require() gives the WebSocket class with WebSocketServer/Server/createWebSocketStream on it', async () => {
    const out = await runCjs(`
      const ws = require('./dist/index.cjs');
      console.log(JSON.stringify({
        typeofWs: typeof ws,
        wsIsWebSocket: ws.WebSocket === ws,
        serverAlias: ws.WebSocketServer === ws.Server,
        typeofServer: typeof ws.WebSocketServer,
        typeofStream: typeof ws.createWebSocketStream,
        constants: [ws.CONNECTING, ws.OPEN, ws.CLOSING, ws.CLOSED],
        name: ws.name,
      }));`);
    expect(JSON.parse(out)).toEqual({
      typeofWs: 'function', wsIsWebSocket: true, serverAlias: true, typeofServer: 'function', typeofStream: 'function',
      constants: [0, 1, 2, 3], name: 'WebSocket',
    });
  });

  it('plain events (open) are instances of a class named Event, the base of MessageEvent/CloseEvent/ErrorEvent, as in ws', async () => {
    const out = await runCjs(`
      const WebSocket = require('./dist/index.cjs');
      const wss = new WebSocket.Server({ port: 0, host: '127.0.0.1' }, () => {
        const c = new WebSocket('ws://127.0.0.1:' + wss.address().port);
        c.onopen = (e) => {
          const Base = Object.getPrototypeOf(WebSocket.MessageEvent);
          console.log(JSON.stringify({
            open: e.constructor.name, type: e.type, base: Base.name, isBase: e instanceof Base,
            subclasses: [WebSocket.CloseEvent, WebSocket.ErrorEvent].map((k) => Object.getPrototypeOf(k) === Base),
          }));
          c.close();
          wss.close();
        };
      });`);
    expect(JSON.parse(out)).toEqual({ open: 'Event', type: 'open', base: 'Event', isBase: true, subclasses: [true, true] });
  });

  it('a CJS script starts a server and echoes to the ws client and to our own CJS client', async () => {
    const out = await runCjs(`
      const WebSocket = require('./dist/index.cjs');
      const RefWebSocket = require('ws');
      const results = {};
      const wss = new WebSocket.Server({ port: 0, host: '127.0.0.1' }, () => {
        const url = 'ws://127.0.0.1:' + wss.address().port;
        wss.on('connection', (s) => s.on('message', (d, isBinary) => s.send(d, { binary: isBinary })));
        const clients = [['ws', new RefWebSocket(url)], ['ours', new WebSocket(url)]];
        let left = clients.length;
        for (const [name, c] of clients) {
          c.on('open', () => c.send('cjs echo ' + name));
          c.on('message', (d, isBinary) => {
            results[name] = [d.toString(), isBinary];
            c.close();
          });
          c.on('close', () => {
            if (--left === 0) wss.close(() => { console.log(JSON.stringify(results)); process.exit(0); });
          });
        }
      });
      setTimeout(() => { console.log('TIMEOUT ' + JSON.stringify(results)); process.exit(2); }, 10000).unref();`);
    expect(JSON.parse(out)).toEqual({ ws: ['cjs echo ws', false], ours: ['cjs echo ours', false] });
  });
});

// ---------------------------------------------------------------------------
// createWebSocketStream

describe('createWebSocketStream', () => {
  it('a stream piped through a connection and back (server side: duplex.pipe(duplex))', async () => {
    const wss = track(new WebSocketServer({ port: 0, host: '127.0.0.1' }), closeWss);
    const port = await portWhenListening(wss);
    wss.on('connection', (ws: WebSocket) => {
      const duplex = createWebSocketStream(ws);
      duplex.pipe(duplex); // echo
    });
    const c = ourClient(`ws://127.0.0.1:${port}/`);
    const stream = createWebSocketStream(c); // usable before open: writes wait for it
    const chunks = Array.from({ length: 200 }, (_, i) => Buffer.from(`chunk-${i};`.repeat(1 + (i % 50))));
    chunks.push(cryptoRandomBytes(300_000));
    const got: Buffer[] = [];
    await withTimeout(Promise.all([
      pipeline(Readable.from(chunks), stream),
      pipeline(stream, new Writable({ write(chunk: Buffer, _e, cb) { got.push(chunk); cb(); } })),
    ]).catch((e) => { throw e; }), 10_000, 'the stream to end');
    expect(Buffer.concat(got).equals(Buffer.concat(chunks))).toBe(true);
    expect(c.readyState).toBe(WebSocket.CLOSED);
  });

  it('text messages read as strings with readableObjectMode; write() sends messages', async () => {
    const s = await ourServer();
    const c = ourClient(`ws://127.0.0.1:${s.port}/`);
    const stream = createWebSocketStream(c, { readableObjectMode: true });
    const { ws, rec } = await s.nextConn();
    ws.send('one');
    ws.send('two');
    const read: unknown[] = [];
    stream.on('data', (d) => read.push(d));
    await until(() => read.length === 2, T, 'two chunks');
    expect(read).toEqual(['one', 'two']);
    stream.write('from the stream');
    expect((await rec.next()).data.toString()).toBe('from the stream');
    stream.destroy();
    expect((await rec.waitClose()).code).toBe(1006); // destroy terminates
  });
});
