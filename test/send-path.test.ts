// The send path's shortcuts keep every byte and the order: broadcast frames held
// by reference and extended across a burst (Sender.raw + the broadcast slab),
// mixed with each socket's own sends, filters that break the ranges, a reader
// that stops reading (it gets copies), and batches sized from the last tick.
import { expect, it } from 'vitest';
import type { AddressInfo } from 'node:net';
import WS from 'ws';
import { WebSocketServer, type WebSocket } from '../src/index.ts';
import { cleanupList } from './helpers/servers.ts';
import { prng } from './helpers/prng.ts';

const cleanups = cleanupList();

async function setup(n: number, maxBackpressure?: number): Promise<{ wss: WebSocketServer; peers: Array<{ ws: WebSocket; c: WS; got: string[] }> }> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', maxBackpressure });
  await new Promise((r) => wss.once('listening', r));
  cleanups.push(() => new Promise((r) => { for (const c of wss.clients) c.terminate(); wss.close(() => r(undefined)); }));
  const url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`;
  const peers: Array<{ ws: WebSocket; c: WS; got: string[] }> = [];
  for (let i = 0; i < n; i++) {
    const connected = new Promise<WebSocket>((r) => wss.once('connection', r));
    const c = new WS(url);
    cleanups.push(() => c.terminate());
    const got: string[] = [];
    c.on('message', (d) => got.push(String(d)));
    await new Promise((r, j) => { c.once('open', r); c.once('error', j); });
    peers.push({ ws: await connected, c, got });
  }
  return { wss, peers };
}

const until = async (cond: () => boolean, ms = 10_000) => {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
};

it('a burst of broadcasts in one tick, with filters and each socket\'s own sends in between, arrives whole and in order', async () => {
  const { wss, peers } = await setup(4);
  const rand = prng(16);
  const want: string[][] = peers.map(() => []);
  // ~600 frames of 20-400 bytes: more than one 16 KiB broadcast slab.
  for (let i = 0; i < 600; i++) {
    const msg = `m${i}:` + 'x'.repeat(Math.floor(rand() * 380) + 16);
    const r = rand();
    if (r < 0.6) {
      wss.broadcast(msg);
      want.forEach((w) => w.push(msg));
    } else if (r < 0.8) {
      const skip = peers[i % 4].ws;
      wss.broadcast(msg, { filter: (ws) => ws !== skip });
      want.forEach((w, k) => { if (peers[k].ws !== skip) w.push(msg); });
    } else {
      const k = i % 4;
      peers[k].ws.send(msg);
      want[k].push(msg);
    }
  }
  await until(() => peers.every((p, k) => p.got.length >= want[k].length));
  peers.forEach((p, k) => expect(p.got).toEqual(want[k]));
});

it('a peer that stops reading still gets every broadcast intact once it reads again', async () => {
  const { wss, peers } = await setup(2, 64 * 1024 * 1024);
  const slow = peers[1];
  slow.c.pause();
  const want: string[] = [];
  // 128 ticks of 64 frames of ~1 KiB (8 MiB): more than loopback's socket buffers take at once.
  for (let t = 0; t < 128; t++) {
    for (let i = 0; i < 64; i++) {
      const msg = `t${t}i${i}:` + String.fromCharCode(97 + ((t + i) % 26)).repeat(1000);
      wss.broadcast(msg);
      want.push(msg);
    }
    await new Promise((r) => setImmediate(r));
  }
  expect(slow.ws.bufferedAmount).toBeGreaterThan(0);
  slow.c.resume();
  await until(() => slow.got.length >= want.length && peers[0].got.length >= want.length, 20_000);
  expect(peers[0].got).toEqual(want);
  expect(slow.got).toEqual(want);
});

it('batches sized from the last tick: a busy tick, a quiet one, a busy one again, bytes intact', async () => {
  const { peers } = await setup(1);
  const { ws, got } = peers[0];
  const rand = prng(61);
  const want: string[] = [];
  for (const count of [200, 1, 0, 150, 2, 300, 1]) {
    for (let i = 0; i < count; i++) {
      const msg = `${want.length}:` + 'abcdefghij'.repeat(Math.floor(rand() * 200));
      ws.send(msg);
      want.push(msg);
    }
    await new Promise((r) => setImmediate(r));
  }
  await until(() => got.length >= want.length);
  expect(got).toEqual(want);
});
