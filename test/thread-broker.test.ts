// ThreadBroker between real worker threads (BroadcastChannel): what one thread
// publishes is delivered in the other; a thread that stops handling messages
// (blocked in Atomics.wait) holds the publisher to maxPendingBytes (publishes
// past it are dropped, counted) until it catches up and acknowledges; a thread
// that ends without closing its broker stops holding anyone back once it has
// been silent for STALE_MS; the ws door's wss.publish()/broadcast() cross threads
// on it too. The worker runs the built package (dist/index.js).
import { afterEach, describe, expect, it } from 'vitest';
import { Worker } from 'node:worker_threads';
import WebSocket from 'ws';
import { ThreadBroker } from '../src/core/thread-broker.ts';
import { WebSocketServer } from '../src/index.ts';
import { ACK_STEP, MESSAGE_OVERHEAD, STALE_MS } from '../src/core/thread-ledger.ts';

const DIST = new URL('../dist/index.js', import.meta.url).href;
const LIMIT = 1024 * 1024;
const SIZE = 16 * 1024;

// The other thread: a ThreadBroker whose sink counts bytes; 'block' parks the thread in
// Atomics.wait until the shared flag is set, 'count' answers what it delivered.
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
import(workerData.dist).then(({ ThreadBroker }) => {
  const broker = new ThreadBroker({ name: workerData.name });
  let delivered = 0, bytes = 0;
  broker.attach({ deliver(topic, payload) { delivered++; bytes += payload.byteLength; return 1; }, topics: () => [] });
  const flag = new Int32Array(workerData.flag);
  parentPort.on('message', (m) => {
    if (m === 'block') { parentPort.postMessage('blocked'); Atomics.wait(flag, 0, 0, 20000); }
    else if (m === 'count') parentPort.postMessage({ delivered, bytes });
  });
  parentPort.postMessage('ready');
});
`;

const workers: Worker[] = [];
const brokers: ThreadBroker[] = [];
afterEach(async () => {
  for (const b of brokers.splice(0)) await b.close();
  for (const w of workers.splice(0)) await w.terminate();
});

function startWorker(name: string): { worker: Worker; flag: Int32Array; next: () => Promise<unknown> } {
  const sab = new SharedArrayBuffer(4);
  const worker = new Worker(WORKER, { eval: true, workerData: { name, dist: DIST, flag: sab } });
  workers.push(worker);
  const queue: unknown[] = [];
  const waiting: Array<(m: unknown) => void> = [];
  worker.on('message', (m) => { const w = waiting.shift(); if (w) w(m); else queue.push(m); });
  const next = () => (queue.length ? Promise.resolve(queue.shift()) : new Promise((r, j) => {
    const t = setTimeout(() => j(new Error('worker did not answer in 20 s')), 20_000);
    waiting.push((m) => { clearTimeout(t); r(m); });
  }));
  return { worker, flag: new Int32Array(sab), next };
}

const tick = (ms = 20) => new Promise((r) => setTimeout(r, ms));

async function count(w: ReturnType<typeof startWorker>): Promise<{ delivered: number; bytes: number }> {
  w.worker.postMessage('count');
  return (await w.next()) as { delivered: number; bytes: number };
}

/** A publisher in this thread, attached to a sink that takes nothing. */
function publisher(name: string): ThreadBroker {
  const b = new ThreadBroker({ name, maxPendingBytes: LIMIT });
  b.attach({ deliver: () => 0, topics: () => [] });
  brokers.push(b);
  return b;
}

describe('ThreadBroker between worker threads', () => {
  it('delivers publishes to the other thread', async () => {
    const name = `tb-${process.pid}-deliver`;
    const w = startWorker(name);
    expect(await w.next()).toBe('ready');
    const b = publisher(name);
    await tick(100); // the worker's hello
    for (let i = 0; i < 10; i++) b.publish('t', new Uint8Array(100).fill(i), true, false);
    for (let i = 0; i < 100 && (await count(w)).delivered < 10; i++) await tick();
    expect(await count(w)).toEqual({ delivered: 10, bytes: 1000 });
    expect(b.stats.sent).toBe(10);
  }, 30_000);

  it('holds a publisher to maxPendingBytes while another thread is blocked, then lets it go on', async () => {
    const name = `tb-${process.pid}-block`;
    const w = startWorker(name);
    expect(await w.next()).toBe('ready');
    const b = publisher(name);
    await tick(100);
    w.worker.postMessage('block');
    expect(await w.next()).toBe('blocked');
    // 4 MiB offered to a thread that reads nothing: at most LIMIT of it goes out.
    for (let i = 0; i < (4 * LIMIT) / SIZE; i++) b.publish('t', new Uint8Array(SIZE), true, false);
    expect(b.stats.dropped).toBeGreaterThan(0);
    expect(b.stats.sent * (SIZE + MESSAGE_OVERHEAD)).toBeLessThanOrEqual(LIMIT);
    const sentWhileBlocked = b.stats.sent;
    // Unblocked, it delivers what was queued and acknowledges: publishes go out again.
    Atomics.store(w.flag, 0, 1);
    Atomics.notify(w.flag, 0);
    for (let i = 0; i < 250 && (await count(w)).delivered < sentWhileBlocked; i++) await tick();
    expect((await count(w)).delivered).toBe(sentWhileBlocked);
    await tick(100); // its acks
    const dropped = b.stats.dropped;
    for (let i = 0; i < Math.floor((LIMIT - ACK_STEP) / (SIZE + MESSAGE_OVERHEAD)); i++) b.publish('t', new Uint8Array(SIZE), true, false);
    expect(b.stats.dropped).toBe(dropped);
  }, 60_000);

  it('a thread that ends without closing its broker holds nobody back past STALE_MS', async () => {
    const name = `tb-${process.pid}-stale`;
    const w = startWorker(name);
    expect(await w.next()).toBe('ready');
    const b = publisher(name);
    await tick(100);
    await w.worker.terminate(); // no bye
    for (let i = 0; i < (2 * LIMIT) / SIZE; i++) b.publish('t', new Uint8Array(SIZE), true, false);
    expect(b.stats.dropped).toBeGreaterThan(0);
    await tick(STALE_MS + 200);
    const dropped = b.stats.dropped;
    for (let i = 0; i < 8; i++) b.publish('t', new Uint8Array(SIZE), true, false);
    expect(b.stats.dropped).toBe(dropped);
  }, 30_000);
});

// The ws door on the same seam: a WebSocketServer in a worker thread and one here.
const WSS_WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
import(workerData.dist).then(({ WebSocketServer, ThreadBroker }) => {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  wss.useBroker(new ThreadBroker({ name: workerData.name }));
  wss.on('connection', (ws) => {
    ws.subscribe('room');
    ws.on('message', (data) => { const t = String(data); if (t === 'broadcast') wss.broadcast('b-from-worker'); else wss.publish('room', t); });
  });
  wss.on('listening', () => parentPort.postMessage(wss.address().port));
});
`;

describe('the ws door over ThreadBroker', () => {
  it('wss.publish and wss.broadcast in one thread reach the sockets of another', async () => {
    const name = `tb-${process.pid}-wss`;
    const worker = new Worker(WSS_WORKER, { eval: true, workerData: { name, dist: DIST } });
    workers.push(worker);
    const workerPort = await new Promise<number>((r, j) => { worker.once('message', r); worker.once('error', j); });
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    const broker = new ThreadBroker({ name });
    wss.useBroker(broker);
    wss.on('connection', (ws) => ws.subscribe('room'));
    await new Promise((r) => wss.once('listening', r));
    const open = (port: number) => new Promise<{ ws: WebSocket; got: string[] }>((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
      const got: string[] = [];
      ws.on('message', (d) => got.push(String(d)));
      ws.on('open', () => resolve({ ws, got }));
      ws.on('error', reject);
    });
    const here = await open((wss.address() as { port: number }).port);
    const there = await open(workerPort);
    const until = async (cond: () => boolean) => { for (let i = 0; i < 250 && !cond(); i++) await tick(); };
    there.ws.send('to-room');
    await until(() => here.got.includes('to-room'));
    expect(here.got).toContain('to-room');
    there.ws.send('broadcast');
    await until(() => here.got.includes('b-from-worker'));
    expect(here.got).toContain('b-from-worker');
    wss.publish('room', 'from-main');
    await until(() => there.got.includes('from-main'));
    expect(there.got).toContain('from-main');
    here.ws.close();
    there.ws.close();
    await new Promise((r) => wss.close(r));
  }, 30_000);
});
