// Servers and clients on 127.0.0.1 for the socket tests, and the per-test list of cleanups that closes them.
import { afterEach } from 'vitest';
import { once, type EventEmitter } from 'node:events';
import type http from 'node:http';
import { connect, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { WebSocketServer, type WebSocket } from '../../src/index.ts';
import { T, withTimeout } from './wait.ts';

/** A list of cleanups run last-in first-out after each test; `bestEffort` ignores their failures, `ms` bounds each one. */
export function cleanupList({ bestEffort = false, ms }: { bestEffort?: boolean; ms?: number } = {}): Array<() => unknown> {
  const list: Array<() => unknown> = [];
  const run = async (c: () => unknown): Promise<unknown> => (ms === undefined ? c() : withTimeout(Promise.resolve(c()), ms, 'cleanup'));
  afterEach(async () => {
    for (const c of list.splice(0).reverse()) {
      if (!bestEffort) await run(c);
      else try { await run(c); } catch { /* best effort */ }
    }
  });
  return list;
}

/** Terminates a WebSocketServer's clients and closes it, waiting at most T; never rejects. */
export async function closeWss(wss: { clients?: Set<{ terminate(): void }>; close(cb: () => void): void }): Promise<void> {
  for (const c of wss.clients ?? []) c.terminate();
  await withTimeout(new Promise<void>((r) => wss.close(() => r())), T, 'wss close').catch(() => undefined);
}

/** Closes an http/net server and its connections, waiting at most T; never rejects. */
export function closeHttp(s: NetServer | http.Server): Promise<void> {
  (s as http.Server).closeAllConnections?.();
  return withTimeout(new Promise<void>((r) => s.close(() => r())), T, 'http server close').catch(() => undefined);
}

/** Waits (at most T) for the server's 'listening' and returns its port. */
export async function portWhenListening(server: EventEmitter & { address(): unknown }, what = 'listening'): Promise<number> {
  await withTimeout(once(server, 'listening'), T, what);
  return (server.address() as AddressInfo).port;
}

/** Listens on 127.0.0.1 on a free port and returns the port once listening (waits at most T). */
export function listenLocal(server: NetServer, what = 'listening'): Promise<number> {
  server.listen(0, '127.0.0.1');
  return portWhenListening(server, what);
}

/** Sends every message `ws` receives back to it, text as text and binary as binary. */
export function echoMessages(ws: WebSocket): void {
  ws.on('message', (d: Buffer, isBinary: boolean) => ws.send(d, { binary: isBinary }));
}

/** The server side of a client just created, once both ends are open (waits at most T). */
export async function serverSideWhenOpen(wss: EventEmitter, client: EventEmitter, what = 'open'): Promise<unknown> {
  const [[serverSide]] = await withTimeout(Promise.all([once(wss, 'connection'), once(client, 'open')]), T, what);
  return serverSide;
}

/** A message's data (Buffer, ArrayBuffer, view, array of fragments or string) as one Buffer. */
export function toBuf(d: unknown): Buffer {
  if (Buffer.isBuffer(d)) return d;
  if (d instanceof ArrayBuffer) return Buffer.from(d);
  if (ArrayBuffer.isView(d)) return Buffer.from(d.buffer, d.byteOffset, d.byteLength);
  if (Array.isArray(d)) return Buffer.concat(d.map(toBuf));
  if (typeof d === 'string') return Buffer.from(d);
  throw new Error(`unexpected message data ${Object.prototype.toString.call(d)}`);
}

/**
 * A raw TCP peer that upgrades with a fixed request and then does only what
 * the test makes it do: resolves with the socket and the server's connection.
 */
export async function rawPeer<W>(wss: EventEmitter, port: number, cleanups: Array<() => unknown>): Promise<{ sock: Socket; ws: W }> {
  const sock = connect(port, '127.0.0.1');
  cleanups.push(() => sock.destroy());
  await once(sock, 'connect');
  sock.write('GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
  const [ws] = await withTimeout(once(wss, 'connection'), T, 'connection') as [W];
  return { sock, ws };
}

/** A WebSocketServer on 127.0.0.1, port 0, that keeps every connection in `conns` (`each` sets each one up); closed by `cleanups`. */
export async function trackedServer(cleanups: Array<() => unknown>, each?: (ws: WebSocket) => void):
  Promise<{ wss: WebSocketServer; port: number; conns: WebSocket[] }> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  const conns: WebSocket[] = [];
  wss.on('connection', (ws) => { conns.push(ws); each?.(ws); });
  await once(wss, 'listening');
  cleanups.push(() => closeWss(wss));
  return { wss, port: (wss.address() as AddressInfo).port, conns };
}

