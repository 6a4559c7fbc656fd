// ws 8 drop-in (issue 11): createWebSocketStream as ws builds it (options reach
// the Duplex, writes after CLOSED error, errors re-emitted, destroy semantics,
// text as strings in readable object mode) and IPC (ws+unix: URLs, a server on
// an http server listening on a Unix socket path). Real sockets only.
import { describe, expect, it } from 'vitest';
import { once } from 'node:events';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, WebSocket, createWebSocketStream } from '../src/index.ts';
import { T, withTimeout } from './helpers/wait.ts';

function next(em: { once(e: string, f: (...a: any[]) => void): unknown }, name: string): Promise<any[]> {
  return withTimeout(new Promise((r) => em.once(name, (...a: any[]) => r(a))), T, `'${name}'`);
}

async function withServer<R>(onConnection: (ws: WebSocket) => void, fn: (url: string) => Promise<R>): Promise<R> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  wss.on('connection', onConnection);
  await once(wss, 'listening');
  try {
    return await fn(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`);
  } finally {
    for (const c of wss.clients) c.terminate();
    await new Promise<void>((r) => wss.close(() => r()));
  }
}

describe('createWebSocketStream', () => {
  it('passes its options to the Duplex: encoding and allowHalfOpen', async () => {
    await withServer((ws) => { ws.send(Buffer.from('hi')); ws.close(); }, async (url) => {
      const duplex = createWebSocketStream(new WebSocket(url), { encoding: 'utf8', allowHalfOpen: false });
      const [chunk] = await next(duplex, 'data');
      expect(chunk).toBe('hi');
      await next(duplex, 'close');
      expect(duplex.destroyed).toBe(true);
    });
  });

  it('readable object mode gives text messages as strings and binary ones as Buffers, then ends and closes', async () => {
    await withServer((ws) => { ws.send('text'); ws.send(Buffer.from('bin')); ws.close(); }, async (url) => {
      const duplex = createWebSocketStream(new WebSocket(url), { readableObjectMode: true });
      const got: unknown[] = [];
      duplex.on('data', (d) => got.push(d));
      duplex.on('end', () => duplex.end());
      await next(duplex, 'close');
      expect(got[0]).toBe('text');
      expect(Buffer.isBuffer(got[1]) && (got[1] as Buffer).toString()).toBe('bin');
    });
  });

  it('buffers writes made while CONNECTING and sends them as messages once open', async () => {
    const received: string[] = [];
    await withServer((ws) => ws.on('message', (m) => { received.push(String(m)); if (received.length === 2) ws.close(); }), async (url) => {
      const duplex = createWebSocketStream(new WebSocket(url));
      const closed = next(duplex, 'close');
      duplex.write('one');
      duplex.write('two');
      duplex.end();
      duplex.resume();
      await closed;
      expect(received).toEqual(['one', 'two']);
    });
  });

  it('a write after CLOSED errors with ws\'s message and destroys the stream', async () => {
    await withServer((ws) => ws.close(), async (url) => {
      const ws = new WebSocket(url);
      const duplex = createWebSocketStream(ws);
      await next(ws, 'close');
      const closed = next(duplex, 'close');
      duplex.write('late');
      const [err] = await next(duplex, 'error');
      expect(err.message).toBe('WebSocket is not open: readyState 3 (CLOSED)');
      expect(duplex.destroyed).toBe(true);
      await closed;
    });
  });

  it('re-emits the connection\'s errors, and with no listener the error is thrown as unhandled', async () => {
    await withServer((ws) => ws._socket!.write(Buffer.from([0x85, 0x00])), async (url) => {
      const duplex = createWebSocketStream(new WebSocket(url));
      const closed = next(duplex, 'close');
      const [err] = await next(duplex, 'error');
      expect(err.message).toBe('Invalid WebSocket frame: invalid opcode 5');
      await closed;
    });
    // No 'error' listener on the stream: the error must surface, not vanish.
    await withServer((ws) => ws._socket!.write(Buffer.from([0x85, 0x00])), async (url) => {
      const duplex: Duplex = createWebSocketStream(new WebSocket(url));
      const surfaced = new Promise<Error>((resolve) => {
        const emit = duplex.emit.bind(duplex);
        duplex.emit = ((name: string, ...args: unknown[]) => {
          if (name === 'error' && duplex.listenerCount('error') === 0) { resolve(args[0] as Error); return true; }
          return emit(name, ...args);
        }) as typeof duplex.emit;
      });
      const err = await withTimeout(surfaced, T, 'an unhandled stream error');
      expect(err.message).toBe('Invalid WebSocket frame: invalid opcode 5');
    });
  });

  it('destroy() terminates the connection; close follows the socket', async () => {
    let serverSide: WebSocket | null = null;
    await withServer((ws) => { serverSide = ws; ws.send('x'); }, async (url) => {
      const ws = new WebSocket(url);
      const duplex = createWebSocketStream(ws);
      await next(duplex, 'data');
      duplex.destroy();
      await next(duplex, 'close');
      expect(ws.readyState).toBe(WebSocket.CLOSED);
      const [code] = serverSide!.readyState === WebSocket.CLOSED ? [1006] : await next(serverSide!, 'close');
      expect(code).toBe(1006);
    });
  });
});

describe('IPC: ws+unix URLs and servers on a Unix socket', () => {
  it('a client reaches a server on an http server listening on a socket path, with the request path', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wasmsocket-ipc-'));
    const sock = join(dir, 's.sock');
    const server = http.createServer();
    const wss = new WebSocketServer({ server });
    server.listen(sock);
    await once(server, 'listening');
    try {
      expect(wss.address()).toBe(sock);
      const conn = next(wss, 'connection');
      const ws = new WebSocket(`ws+unix:${sock}:/room/7?x=1`);
      const [serverWs, req] = await conn;
      expect((req as http.IncomingMessage).url).toBe('/room/7?x=1');
      await next(ws, 'open');
      (serverWs as WebSocket).on('message', (m: Buffer) => (serverWs as WebSocket).send(`echo ${m}`));
      ws.send('over a unix socket');
      const [msg] = await next(ws, 'message');
      expect(String(msg)).toBe('echo over a unix socket');
      expect(ws.url).toBe(`ws+unix:${sock}:/room/7?x=1`);
      ws.close();
      await next(ws, 'close');
    } finally {
      await new Promise<void>((r) => wss.close(() => r()));
      await new Promise<void>((r) => server.close(() => r()));
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
