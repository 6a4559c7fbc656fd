// Sends reach the kernel straight through the TCP handle (transport-net.ts
// writeDirect) where Node allows it, through socket.write otherwise. Every case
// runs on both paths: order and content under a reader that stops (the kernel
// stops taking bytes, the rest waits in libuv and is counted in bufferedAmount
// and the budget's backlog), broadcast frames held by reference, callbacks,
// bytesWritten, a replaced socket.write (a wire tap still sees every byte),
// and a peer that resets mid-stream.
import { describe, expect, it } from 'vitest';
import net from 'node:net';
import WS from 'ws';
import type { WebSocket } from '../src/index.ts';
import { directWriteStats, setDirectWrites } from '../src/node/transport/net.ts';
import { cleanupList, trackedServer } from './helpers/servers.ts';

const cleanups = cleanupList();

const until = async (cond: () => boolean, ms = 15_000) => {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
  return cond();
};

const server = () => trackedServer(cleanups, (ws) => ws.on('error', () => {}));

function open(port: number): Promise<WS> {
  const c = new WS(`ws://127.0.0.1:${port}`);
  cleanups.push(() => c.terminate());
  return new Promise((r, j) => { c.once('open', () => r(c)); c.once('error', j); });
}

// Message i of a run: its number and a body of a size that cycles through the batch and by-reference classes.
const body = (i: number) => Buffer.alloc([10, 1000, 5000, 20_000, 70_000][i % 5], 97 + (i % 26));
const tag = (i: number, b: Buffer) => { b.writeUInt32BE(i, 0); return b; };

for (const direct of [true, false]) {
  describe(direct ? 'writes straight to the TCP handle' : 'writes through socket.write (the fallback)', () => {
    const use = async () => {
      setDirectWrites(direct);
      cleanups.push(() => setDirectWrites(true));
      return server();
    };

    it('a reader that stops: the rest waits below the stream, is counted, and arrives whole and in order', async () => {
      const { port, conns } = await use();
      const c = await open(port);
      await until(() => conns.length === 1);
      const ws = conns[0];
      const before = directWriteStats.writes;
      (c as unknown as { _socket: net.Socket })._socket.pause();
      const N = 400;
      let sentBytes = 0;
      for (let i = 0; i < N; i++) {
        const b = tag(i, body(i));
        sentBytes += b.length;
        ws.send(b);
        if (i % 25 === 24) await new Promise((r) => setImmediate(r));
      }
      // ~3 MiB cannot all fit in the loopback socket buffers: some is still ours to count.
      expect(await until(() => ws.bufferedAmount > 0, 2000)).toBe(true);
      expect(ws._backlog()).toBeGreaterThan(0);
      if (direct) expect(directWriteStats.writes).toBeGreaterThan(before);
      else expect(directWriteStats.writes).toBe(before);
      const got: Buffer[] = [];
      c.on('message', (d) => got.push(d as Buffer));
      (c as unknown as { _socket: net.Socket })._socket.resume();
      expect(await until(() => got.length === N)).toBe(true);
      got.forEach((b, i) => {
        expect(b.readUInt32BE(0)).toBe(i);
        expect(b.length).toBe(body(i).length);
        expect(b[b.length - 1]).toBe(97 + (i % 26));
      });
      expect(await until(() => ws.bufferedAmount === 0)).toBe(true);
      // The handle counts what went past the stream: every frame's bytes, headers included.
      const socket = (ws as unknown as { _socket: net.Socket })._socket;
      expect(socket.bytesWritten).toBeGreaterThan(sentBytes);
    });

    it('sends until bufferedAmount turns non-zero: it then equals the socket\'s own queue, as ws reads it', async () => {
      const { port, conns } = await use();
      const c = await open(port);
      await until(() => conns.length === 1);
      const ws = conns[0];
      (c as unknown as { _socket: net.Socket })._socket.pause();
      const socket = (ws as unknown as { _socket: net.Socket })._socket;
      let sent = 0;
      while (ws.bufferedAmount === 0 && sent < 100_000) { ws.send(Buffer.alloc(1024, 61)); sent++; }
      expect(ws.bufferedAmount).toBeGreaterThan(0);
      expect(ws.bufferedAmount).toBe(socket.writableLength);
    });

    it('broadcast frames by reference, callbacks and own sends keep their order per recipient', async () => {
      const { wss, port, conns } = await use();
      const clients = await Promise.all([open(port), open(port), open(port)]);
      await until(() => conns.length === 3);
      const got = clients.map((c) => { const g: string[] = []; c.on('message', (d) => g.push(String(d))); return g; });
      const acks: number[] = [];
      // A paused reader among them: its bytes back up, the others keep the by-reference path.
      (clients[1] as unknown as { _socket: net.Socket })._socket.pause();
      const big = 'x'.repeat(30_000);
      for (let i = 0; i < 300; i++) {
        wss.broadcast(`b${i}`);
        if (i % 7 === 0) conns.forEach((ws) => ws.send(`o${i}`, (err) => { if (!err) acks.push(i); }));
        if (i % 50 === 0) wss.broadcast(big);
        if (i % 30 === 0) await new Promise((r) => setImmediate(r));
      }
      (clients[1] as unknown as { _socket: net.Socket })._socket.resume();
      const expected: string[] = [];
      for (let i = 0; i < 300; i++) {
        expected.push(`b${i}`);
        if (i % 7 === 0) expected.push(`o${i}`);
        if (i % 50 === 0) expected.push(big);
      }
      for (const g of got) expect(await until(() => g.length === expected.length)).toBe(true);
      for (const g of got) expect(g).toEqual(expected);
      expect(acks.length).toBe(3 * Math.ceil(300 / 7));
    });

    it('a socket whose write() was replaced (a wire tap) sees every byte', async () => {
      const { port, conns } = await use();
      const c = await open(port);
      await until(() => conns.length === 1);
      const socket = (conns[0] as unknown as { _socket: net.Socket })._socket;
      let tapped = 0;
      const write = socket.write.bind(socket);
      socket.write = ((chunk: Uint8Array, ...rest: unknown[]) => {
        tapped += chunk.length;
        return (write as (...a: unknown[]) => boolean)(chunk, ...rest);
      }) as typeof socket.write;
      let got = 0;
      c.on('message', () => got++);
      for (let i = 0; i < 50; i++) conns[0].send(body(i));
      expect(await until(() => got === 50)).toBe(true);
      let frames = 0;
      for (let i = 0; i < 50; i++) frames += body(i).length;
      expect(tapped).toBeGreaterThan(frames);
    });

    it('a peer that resets while bytes are queued: the connection closes with an error event, the server carries on', async () => {
      const { port, conns } = await use();
      const raw = net.connect(port, '127.0.0.1');
      cleanups.push(() => raw.destroy());
      raw.write('GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
      await until(() => conns.length === 1);
      raw.pause();
      const ws = conns[0];
      const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
      for (let i = 0; i < 100; i++) ws.send(Buffer.alloc(20_000, 1));
      await new Promise((r) => setTimeout(r, 50));
      raw.resetAndDestroy();
      expect(await closed).toBe(1006);
      // Still serving.
      const c = await open(port);
      const echo = new Promise<string>((r) => c.once('message', (d) => r(String(d))));
      await until(() => conns.length === 2);
      conns[1].send('still here');
      expect(await echo).toBe('still here');
    });
  });
}
