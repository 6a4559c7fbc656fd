// WebSocketStream (the WHATWG promise-and-streams API) from the package root on
// our Node WebSocket, and from wasmsocket/web on a byte stream pair (here Node
// sockets through Duplex.toWeb): against ws, against our server, and each
// other. Real sockets on 127.0.0.1 only.
import { describe, expect, it } from 'vitest';
import net, { type AddressInfo } from 'node:net';
import { Duplex } from 'node:stream';
import { WebSocketServer as WsServer, WebSocket as WsClient } from 'ws';
import { WebSocketServer, WebSocketStream, WebSocketError } from '../src/index.ts';
import * as web from '../src/web/index.ts';
import { cleanupList, closeHttp, closeWss, portWhenListening } from './helpers/servers.ts';
import { T, until, withTimeout } from './helpers/wait.ts';

const cleanups = cleanupList();

async function wsEchoServer(): Promise<{ port: number; wss: WsServer }> {
  const wss = new WsServer({ port: 0, host: '127.0.0.1', handleProtocols: (p) => [...p][1] ?? false });
  wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => {
      const m = !isBinary && /^close-me (\d+) (.*)$/.exec(data.toString());
      if (m) ws.close(Number(m[1]), m[2]);
      else if (!isBinary && data.toString() === 'terminate') ws.terminate();
      else ws.send(data, { binary: isBinary });
    });
  });
  cleanups.push(() => closeWss(wss));
  return { port: await portWhenListening(wss), wss };
}

/** Our server, each connection taken as a WebSocketStream and echoed by piping its readable into its writable. */
async function streamEchoServer(options: { maxPayload?: number } = {}) {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', ...options });
  const streams: WebSocketStream[] = [];
  wss.on('connection', (ws) => {
    const s = WebSocketStream.from(ws);
    streams.push(s);
    s.opened.then(({ readable, writable }) => readable.pipeTo(writable)).catch(() => {});
  });
  cleanups.push(() => closeWss(wss));
  return { port: await portWhenListening(wss), streams };
}

/** wasmsocket/web's accept() on a Node TCP server, echoing. */
async function webEchoServer(options: web.AcceptStreamOptions = {}) {
  const accepted: web.WebSocketStream[] = [];
  const refused: Error[] = [];
  const server = net.createServer((sock) => {
    web.accept(Duplex.toWeb(sock) as web.BytePair, options).then(async (s) => {
      accepted.push(s);
      const { readable, writable } = await s.opened;
      await readable.pipeTo(writable);
    }).catch((e) => { refused.push(e); });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => closeHttp(server));
  return { port: (server.address() as AddressInfo).port, accepted, refused };
}

const webConnect = (url: URL) => Duplex.toWeb(net.connect(Number(url.port), url.hostname)) as web.BytePair;

type AnyStream = WebSocketStream | web.WebSocketStream;

async function roundTrips(s: AnyStream): Promise<void> {
  const { readable, writable } = await withTimeout(s.opened, T, 'opened');
  const reader = readable.getReader();
  const writer = writable.getWriter();
  await writer.write('héllo ✓');
  expect(await reader.read()).toEqual({ value: 'héllo ✓', done: false });
  await writer.write(new Uint8Array([1, 2, 3]));
  const bin = await reader.read();
  expect(bin.value).toBeInstanceOf(Uint8Array);
  expect(Buffer.isBuffer(bin.value)).toBe(false);
  expect([...(bin.value as Uint8Array)]).toEqual([1, 2, 3]);
  await writer.write(new Uint16Array([0x0201, 0x0403]).buffer); // an ArrayBuffer
  expect([...((await reader.read()).value as Uint8Array)]).toEqual([1, 2, 3, 4]);
  await writer.write(new DataView(new Uint8Array([9, 8, 7, 6]).buffer, 1, 2));
  expect([...((await reader.read()).value as Uint8Array)]).toEqual([8, 7]);
  const big = new Uint8Array(300_000).map((_, i) => i * 7);
  await writer.write(big);
  expect(Buffer.from((await reader.read()).value as Uint8Array).equals(Buffer.from(big))).toBe(true);
  reader.releaseLock();
  writer.releaseLock();
}

const clients: Array<[string, (url: string, opts?: { protocols?: string[]; signal?: AbortSignal }) => AnyStream]> = [
  ['WebSocketStream (package root, Node)', (url, opts) => new WebSocketStream(url, opts)],
  ['WebSocketStream (wasmsocket/web)', (url, opts) => new web.WebSocketStream(url, { ...opts, connect: webConnect })],
];

describe.each(clients)('%s client', (_name, open) => {
  it('against ws: text as strings, binary as Uint8Array, BufferSource writes, protocol, clean close', async () => {
    const { port } = await wsEchoServer();
    const s = open(`ws://127.0.0.1:${port}/path`, { protocols: ['a', 'b'] });
    const { protocol, extensions } = await withTimeout(s.opened, T, 'opened');
    expect(protocol).toBe('b');
    expect(extensions).toBe('');
    await roundTrips(s);
    s.close({ closeCode: 4000, reason: 'bye ✓' });
    expect(await withTimeout(s.closed, T, 'closed')).toEqual({ closeCode: 4000, reason: 'bye ✓' });
  });

  it('a write of something neither a string nor a BufferSource rejects with TypeError', async () => {
    const { port } = await wsEchoServer();
    const s = open(`ws://127.0.0.1:${port}`);
    const { writable } = await withTimeout(s.opened, T, 'opened');
    await expect(writable.getWriter().write(42)).rejects.toThrow(TypeError);
    s.close();
    await withTimeout(s.closed, T, 'closed');
  });

  it('a server-initiated close resolves closed and ends the readable', async () => {
    const { port } = await wsEchoServer();
    const s = open(`ws://127.0.0.1:${port}`);
    const { readable, writable } = await withTimeout(s.opened, T, 'opened');
    await writable.getWriter().write('close-me 4002 server bye');
    const reader = readable.getReader();
    expect(await withTimeout(reader.read(), T, 'end of readable')).toEqual({ value: undefined, done: true });
    expect(await withTimeout(s.closed, T, 'closed')).toEqual({ closeCode: 4002, reason: 'server bye' });
  });

  it('a connection dropped without a close frame rejects closed with WebSocketError 1006 and errors the readable', async () => {
    const { port } = await wsEchoServer();
    const s = open(`ws://127.0.0.1:${port}`);
    const { readable, writable } = await withTimeout(s.opened, T, 'opened');
    await writable.getWriter().write('terminate');
    const err = await withTimeout(s.closed.then(() => null, (e) => e), T, 'closed');
    expect(err).toBeInstanceOf(WebSocketError.prototype.constructor === web.WebSocketError ? web.WebSocketError : DOMException);
    expect(err.closeCode).toBe(1006);
    await expect(readable.getReader().read()).rejects.toBeDefined();
  });

  it('against our server taking each connection as a WebSocketStream (WebSocketStream.from)', async () => {
    const { port, streams } = await streamEchoServer();
    const s = open(`ws://127.0.0.1:${port}/x`);
    await roundTrips(s);
    s.close();
    expect(await withTimeout(s.closed, T, 'closed')).toEqual({ closeCode: 1005, reason: '' });
    expect(await withTimeout(streams[0].closed, T, 'server closed')).toEqual({ closeCode: 1005, reason: '' });
  });

  it('against wasmsocket/web accept() on a Node TCP server', async () => {
    const { port, accepted } = await webEchoServer();
    const s = open(`ws://127.0.0.1:${port}/web?x=1`, { protocols: ['p1', 'p2'] });
    expect((await withTimeout(s.opened, T, 'opened')).protocol).toBe('p1'); // ws's default: the first offered
    await roundTrips(s);
    expect(accepted[0].request?.path).toBe('/web?x=1');
    expect(accepted[0].url).toBe('/web?x=1');
    const writer = (await s.opened).writable.getWriter();
    await writer.close(); // closes the WebSocket without a code
    expect(await withTimeout(s.closed, T, 'closed')).toEqual({ closeCode: 1005, reason: '' });
  });

  it('abort by signal before the opening handshake completes rejects opened and closed with the reason', async () => {
    // A TCP server that accepts and never answers the upgrade.
    const held: net.Socket[] = [];
    const server = net.createServer((sock) => { held.push(sock); sock.resume(); });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => { for (const h of held) h.destroy(); return closeHttp(server); });
    const ctrl = new AbortController();
    const s = open(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`, { signal: ctrl.signal });
    await until(() => held.length === 1, T, 'the TCP connection');
    ctrl.abort();
    const e1 = await withTimeout(s.opened.then(() => null, (e) => e), T, 'opened rejects');
    const e2 = await withTimeout(s.closed.then(() => null, (e) => e), T, 'closed rejects');
    expect(e1?.name).toBe('AbortError');
    expect(e2).toBe(e1);
    await withTimeout(new Promise((r) => (held[0].destroyed ? r(null) : held[0].once('close', r))), T, 'our side to drop the TCP connection');
  });

  it('an already-aborted signal rejects at once; bad URLs and close arguments throw as in Chromium', async () => {
    const s = open('ws://127.0.0.1:1/', { signal: AbortSignal.abort() });
    expect((await s.opened.catch((e) => e)).name).toBe('AbortError');
    expect(() => open('ftp://127.0.0.1/')).toThrow(expect.objectContaining({ name: 'SyntaxError' }));
    expect(() => open('ws://127.0.0.1/#frag')).toThrow(expect.objectContaining({ name: 'SyntaxError' }));
    const { port } = await wsEchoServer();
    const t = open(`http://127.0.0.1:${port}`); // http: becomes ws:
    expect(t.url).toBe(`ws://127.0.0.1:${port}/`);
    await withTimeout(t.opened, T, 'opened');
    expect(() => t.close({ closeCode: 1001 })).toThrow(expect.objectContaining({ name: 'InvalidAccessError' }));
    expect(() => t.close({ closeCode: 1000, reason: 'x'.repeat(124) })).toThrow(expect.objectContaining({ name: 'SyntaxError' }));
    t.close({ reason: 'code defaults to 1000' });
    expect(await withTimeout(t.closed, T, 'closed')).toEqual({ closeCode: 1000, reason: 'code defaults to 1000' });
  });

  it('a refused upgrade rejects opened and closed with a WebSocketError (1006)', async () => {
    const server = net.createServer((sock) => { sock.resume(); sock.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n'); });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => closeHttp(server));
    const s = open(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`);
    const e = await withTimeout(s.opened.then(() => null, (err) => err), T, 'opened rejects');
    expect(e?.name).toBe('WebSocketError');
    expect(e?.closeCode).toBe(1006);
  });

  it('cancelling the readable with a WebSocketError closes with its code and reason', async () => {
    const { port } = await wsEchoServer();
    const s = open(`ws://127.0.0.1:${port}`);
    const { readable } = await withTimeout(s.opened, T, 'opened');
    await readable.cancel(new (s instanceof WebSocketStream ? WebSocketError : web.WebSocketError)('done', { closeCode: 4321, reason: 'cancelled' }));
    expect(await withTimeout(s.closed, T, 'closed')).toEqual({ closeCode: 4321, reason: 'cancelled' });
  });
});

describe('wasmsocket/web accept(): limits and bad input as on Node', () => {
  it('a message over maxPayload closes 1009 (ws client sees it); the server stream rejects closed', async () => {
    const { port, accepted } = await webEchoServer({ maxPayload: 1000 });
    const ws = new WsClient(`ws://127.0.0.1:${port}`);
    await withTimeout(new Promise((r, j) => { ws.once('open', r); ws.once('error', j); }), T, 'ws open');
    ws.send('ok');
    const [echo] = await withTimeout(new Promise<[Buffer]>((r) => ws.once('message', (d) => r([d as Buffer]))), T, 'echo');
    expect(echo.toString()).toBe('ok');
    ws.send(Buffer.alloc(1001));
    const [code] = await withTimeout(new Promise<[number]>((r) => ws.once('close', (c) => r([c]))), T, 'ws close');
    expect(code).toBe(1009);
    const err = await withTimeout(accepted[0].closed.then(() => null, (e) => e), T, 'server closed');
    expect(err?.closeCode).toBe(1006);
  });

  it('a request that is not an upgrade gets 426, a bad key 400, and accept() rejects with HandshakeError', async () => {
    const { port, refused } = await webEchoServer();
    const ask = (head: string) => new Promise<string>((resolve) => {
      const sock = net.connect(port, '127.0.0.1', () => sock.write(head));
      let got = '';
      sock.on('data', (d) => { got += d; });
      sock.on('close', () => resolve(got));
      sock.on('error', () => resolve(got));
    });
    expect((await withTimeout(ask('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), T, 'answer')).split('\r\n')[0]).toBe('HTTP/1.1 426 Upgrade Required');
    const badKey = 'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: nope\r\n\r\n';
    expect((await withTimeout(ask(badKey), T, 'answer')).split('\r\n')[0]).toBe('HTTP/1.1 400 Bad Request');
    expect((await withTimeout(ask(`GET / HTTP/1.1\r\nHost: x\r\nX: ${'a'.repeat(20_000)}\r\n\r\n`), T, 'answer')).split('\r\n')[0])
      .toBe('HTTP/1.1 431 Request Header Fields Too Large');
    await until(() => refused.length === 3, T, 'three refusals');
    expect(refused.map((e) => (e as web.HandshakeError).status)).toEqual([426, 400, 431]);
  });

  it('a request head that never completes is dropped after handshakeTimeout', async () => {
    const { port, refused } = await webEchoServer({ handshakeTimeout: 200 });
    const sock = net.connect(port, '127.0.0.1', () => sock.write('GET / HTTP/1.1\r\nHost: x\r\n'));
    sock.on('error', () => {});
    await withTimeout(new Promise((r) => sock.once('close', r)), T, 'the server to drop the connection');
    expect((refused[0] as web.HandshakeError).status).toBe(408);
  });
});
