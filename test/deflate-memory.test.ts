// Idle permessage-deflate connections hold no deflate stream (issue: ~256 KiB of
// zlib state per idle connection). Real sockets: our server, ws clients with
// their defaults (context takeover on both sides), as in bench/deflate-idle.mjs.
// Assertions are on zlibStats() counters and compressed sizes, not on timings;
// the waits only let the idle period pass.
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WS from 'ws';
import { WebSocketServer, type WebSocket } from '../src/index.ts';
import {
  DEFAULT_DEFLATE_IDLE_RELEASE, DEFAULT_MAX_IDLE_DEFLATE_STREAMS, zlibStats,
} from '../src/node/deflate/permessage-deflate.ts';

const N = 200;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls until `done()` or the deadline; returns whether it got there. */
async function until(done: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) return false;
    await sleep(25);
  }
  return true;
}

/** A compressible 4 KiB text message (JSON-like, like a typical feed). */
function message(seed: number): string {
  let s = '';
  for (let i = 0; s.length < 4096; i++) s += JSON.stringify({ id: seed * 1000 + i, user: `user${(seed + i) % 7}`, text: 'idle connection warm-up message' }) + '\n';
  return s.slice(0, 4096);
}

function nextMessage(c: WS): Promise<string> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => { c.off('message', onMessage); reject(err); };
    const onMessage = (d: WS.RawData): void => { c.off('error', onError); resolve(String(d)); };
    c.once('message', onMessage);
    c.once('error', onError);
  });
}

describe(`${N} idle deflate connections (default options)`, () => {
  let wss: WebSocketServer;
  const serverSide: WebSocket[] = [];
  const clients: WS[] = [];

  beforeAll(async () => {
    wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: true });
    wss.on('connection', (ws) => {
      serverSide.push(ws);
      ws.on('message', (d: Buffer, isBinary: boolean) => ws.send(d, { binary: isBinary }));
    });
    await new Promise((r) => wss.once('listening', r));
    const url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`;
    for (let i = 0; i < N; i += 50) {
      clients.push(...await Promise.all(Array.from({ length: Math.min(50, N - i) }, (_, j) => new Promise<WS>((resolve, reject) => {
        const c = new WS(url, { perMessageDeflate: true });
        c.once('error', reject);
        c.once('open', () => {
          const m = message(i + j);
          nextMessage(c).then((echo) => (echo === m ? resolve(c) : reject(new Error('bad echo'))), reject);
          c.send(m);
        });
      }))));
    }
  });

  afterAll(async () => {
    for (const c of clients) c.terminate();
    await new Promise((r) => wss.close(() => r(undefined)));
  });

  it('after the idle period none of them holds a deflate stream; each still holds the peer\'s inflate window', async () => {
    expect(clients.every((c) => c.extensions.includes('permessage-deflate'))).toBe(true);
    expect(serverSide.length).toBe(N);
    // Right after the exchange: at most maxIdleDeflateStreams are kept (the most recent senders).
    const now = zlibStats();
    expect(now.maxIdleDeflateStreams).toBe(DEFAULT_MAX_IDLE_DEFLATE_STREAMS);
    expect(now.deflateKept).toBeLessThanOrEqual(DEFAULT_MAX_IDLE_DEFLATE_STREAMS);
    expect(now.deflateHeld).toBeLessThanOrEqual(DEFAULT_MAX_IDLE_DEFLATE_STREAMS);
    expect(now.inflateHeld).toBe(N);

    expect(await until(() => zlibStats().deflateHeld === 0, DEFAULT_DEFLATE_IDLE_RELEASE + 3000)).toBe(true);
    const idle = zlibStats();
    expect(idle.deflateHeld).toBe(0);
    expect(idle.deflateKept).toBe(0);
    expect(idle.inflateHeld).toBe(N); // context takeover from the client: its window must stay
    for (const ws of serverSide) expect(ws._pmd?.holdsZlib).toEqual({ deflate: false, inflate: true });

    // Every connection speaks again: a fresh deflate stream on our side, read by ws's
    // persistent inflater on the other (which still has the first message in its window).
    await Promise.all(clients.map(async (c, i) => {
      const m = message(i + 1);
      const echo = nextMessage(c);
      c.send(m);
      expect(await echo).toBe(m);
    }));
  });

  it('a connection that keeps sending keeps its stream (and its ratio) among idle ones', async () => {
    expect(await until(() => zlibStats().deflateHeld === 0, DEFAULT_DEFLATE_IDLE_RELEASE + 3000)).toBe(true);
    const busy = serverSide[0] as WebSocket;
    const client = clients[0] as WS;
    const pmd = busy._pmd!;
    const sizes: number[] = [];
    const compress = pmd.compress.bind(pmd);
    pmd.compress = (data, fin, cb) => compress(data, fin, (err, out) => {
      if (out) sizes.push(out.length);
      cb(err, out);
    });
    // Messages this size are compressed in-thread (compressSync).
    const compressSync = pmd.compressSync.bind(pmd);
    pmd.compressSync = (data, fin) => {
      const out = compressSync(data, fin);
      if (out) sizes.push(out.length);
      return out;
    };
    const m = message(12345);
    const send = async (): Promise<void> => {
      const got = nextMessage(client);
      busy.send(m);
      expect(await got).toBe(m);
    };

    // Send the same 4 KiB message every period / 8 for 2.5 periods.
    const rounds = 20;
    for (let i = 0; i < rounds; i++) {
      await send();
      expect(pmd.holdsZlib.deflate).toBe(true);
      expect(zlibStats().deflateHeld).toBe(1); // only the busy connection's
      await sleep(DEFAULT_DEFLATE_IDLE_RELEASE / 8);
    }
    expect(sizes.length).toBe(rounds);
    const [first, ...rest] = sizes as [number, ...number[]];
    for (const s of rest) expect(s).toBeLessThan(first / 4); // refers back into the kept window

    // Quiet for the idle period: released; the next message starts a fresh stream.
    expect(await until(() => !pmd.holdsZlib.deflate, DEFAULT_DEFLATE_IDLE_RELEASE + 3000)).toBe(true);
    expect(zlibStats().deflateHeld).toBe(0);
    await send();
    expect(sizes[rounds]).toBe(first);
  });
});
