// handleUpgrade over any Duplex (ws's contract): the connection core only uses
// stream methods, so a Duplex that is not a net.Socket — here one relaying a
// real TCP socket, without setTimeout/setNoDelay — carries a full connection:
// echo, pause/resume, the close handshake and terminate(). Peer: ws's client.
import { describe, expect, it } from 'vitest';
import { once } from 'node:events';
import http, { type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import WsClient from 'ws';
import { WebSocketServer, type WebSocket } from '../src/index.ts';
import { cleanupList, closeHttp, echoMessages, listenLocal } from './helpers/servers.ts';
import { T, withTimeout } from './helpers/wait.ts';

const cleanup = cleanupList();

/** A plain Duplex relaying a TCP socket: no net.Socket methods beyond the stream API. */
function relay(socket: Socket): Duplex & { ended: boolean; destroyedByUs: boolean } {
  const d = new Duplex({
    read() { socket.resume(); },
    write(chunk, _enc, cb) { socket.write(chunk, cb); },
    final(cb) { d.ended = true; socket.end(); cb(); },
    destroy(err, cb) { d.destroyedByUs = true; socket.destroy(); cb(err); },
  }) as Duplex & { ended: boolean; destroyedByUs: boolean };
  d.ended = false;
  d.destroyedByUs = false;
  socket.on('data', (c) => { if (!d.push(c)) socket.pause(); });
  socket.on('end', () => d.push(null));
  socket.on('close', () => d.destroy());
  socket.on('error', (e) => d.destroy(e));
  return d;
}

async function setup(): Promise<{ url: string; next(): Promise<{ ws: WebSocket; duplex: ReturnType<typeof relay> }> }> {
  const wss = new WebSocketServer({ noServer: true });
  const server = http.createServer();
  const accepted: Array<{ ws: WebSocket; duplex: ReturnType<typeof relay> }> = [];
  const waiters: Array<(v: { ws: WebSocket; duplex: ReturnType<typeof relay> }) => void> = [];
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    const duplex = relay(socket);
    expect('setNoDelay' in duplex).toBe(false);
    wss.handleUpgrade(req, duplex, head, (ws) => {
      const item = { ws, duplex };
      const w = waiters.shift();
      if (w) w(item); else accepted.push(item);
    });
  });
  const port = await listenLocal(server);
  cleanup.push(() => closeHttp(server));
  return {
    url: `ws://127.0.0.1:${port}/`,
    next: () => withTimeout(new Promise((r) => { const a = accepted.shift(); if (a) r(a); else waiters.push(r); }), T, 'connection'),
  };
}

describe('handleUpgrade over a Duplex that is not a net.Socket', () => {
  it('echoes, pauses, and closes with the handshake (our side ends the duplex)', async () => {
    const { url, next } = await setup();
    const client = new WsClient(url);
    const { ws, duplex } = await next();
    await once(client, 'open');
    echoMessages(ws);
    const got: string[] = [];
    client.on('message', (d) => got.push(String(d)));
    ws.pause();
    for (let i = 0; i < 20; i++) client.send(`m${i}`);
    await new Promise((r) => setTimeout(r, 50));
    expect(got).toEqual([]);
    ws.resume();
    await withTimeout(new Promise<void>((r) => { const t = setInterval(() => { if (got.length === 20) { clearInterval(t); r(); } }, 5); }), T, 'echo');
    expect(got).toEqual(Array.from({ length: 20 }, (_, i) => `m${i}`));
    const closed = once(ws, 'close');
    const clientClosed = once(client, 'close');
    ws.close(4001, 'bye');
    const [[code, reason]] = await withTimeout(Promise.all([clientClosed, closed]), T, 'close');
    expect(code).toBe(4001);
    expect(String(reason)).toBe('bye');
    expect(duplex.ended).toBe(true);
  });

  it('terminate() destroys the duplex and both sides see 1006', async () => {
    const { url, next } = await setup();
    const client = new WsClient(url);
    const { ws, duplex } = await next();
    await once(client, 'open');
    const closed = once(ws, 'close');
    const clientClosed = once(client, 'close');
    ws.terminate();
    const [[clientCode], [serverCode]] = await withTimeout(Promise.all([clientClosed, closed]), T, 'terminate');
    expect(serverCode).toBe(1006);
    expect(clientCode).toBe(1006);
    expect(duplex.destroyedByUs).toBe(true);
  });

  it('a protocol error closes with 1002 over the duplex', async () => {
    const { url, next } = await setup();
    const client = new WsClient(url);
    const { ws } = await next();
    await once(client, 'open');
    const errors: Error[] = [];
    ws.on('error', (e) => errors.push(e));
    const clientClosed = once(client, 'close');
    // An unmasked frame from a client is a protocol error (RFC 6455 §5.1).
    (client as unknown as { _socket: Socket })._socket.write(Buffer.from([0x81, 0x02, 0x68, 0x69]));
    const [code] = await withTimeout(clientClosed, T, 'client close');
    expect(code).toBe(1002);
    expect(errors.length).toBe(1);
  });
});

describe('clientTracking: false', () => {
  it('leaves wss.clients undefined, as ws does', async () => {
    const wss = new WebSocketServer({ noServer: true, clientTracking: false });
    expect(wss.clients).toBeUndefined();
    expect(wss.broadcast('x')).toBe(0);
  });
});
