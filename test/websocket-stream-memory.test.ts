// The slow reader: 100 MiB flow through a WebSocketStream pair whose reading
// side pauses after every message. Memory must stay bounded on both sides:
// backpressure reaches the writer (its writes wait) instead of queues growing.
// The reader runs in its own process (test/peers/slow-reader-server.mjs); each
// side reports its peak process.memoryUsage() above its own baseline.
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { WebSocketStream } from '../src/index.ts';
import * as web from '../src/web/index.ts';
import { ensureDist } from './helpers/dist.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MiB = 1024 * 1024;
const TOTAL = 100 * MiB;
const CHUNK = 64 * 1024;
const PAUSE_MS = 1; // after every 64 KiB message: ~1,600 pauses, slower than the writer

// What either side may really hold (ArrayBuffers + JS heap after a full GC,
// sampled every 4 MiB) while 100 MiB flow: the readable's 16 KiB queue, a
// socket read or two, the message being written; kernel buffers are outside
// the process. Measured: 0.4-0.6 MiB on the writer, 1.9-2.4 MiB on the reader
// (the printed line). A queue that grew with what the writer sent would pass
// 16 MiB within the first sixth of the transfer.
const LIVE_BOUND = 16 * MiB;
// Sampled every 10 ms, garbage included: only catches gross growth (measured
// 9-26 MiB of rss above the baseline).
const RSS_BOUND = 128 * MiB;

interface Peak { rss: number; arrayBuffers: number; heapUsed: number; live: number }

// A full GC on demand in this (vitest) process, for the live samples.
v8.setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function startReader(mode: 'node' | 'web'): Promise<{ port: number; result: Promise<{ bytes: number; messages: number; intact: boolean; peak: Peak }>; kill(): void }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', 'test/peers/slow-reader-server.mjs', `${ROOT}dist`, mode, String(TOTAL), String(PAUSE_MS)],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let resolveResult!: (v: any) => void;
    let rejectResult!: (e: Error) => void;
    const result = new Promise<any>((r, j) => { resolveResult = r; rejectResult = j; });
    result.catch(() => {});
    child.stderr.on('data', (d) => { err += d; });
    child.stdout.on('data', (d) => {
      out += d;
      const port = /^LISTENING (\d+)$/m.exec(out);
      if (port) resolve({ port: Number(port[1]), result, kill: () => child.kill('SIGKILL') });
      const res = /^RESULT (.*)$/m.exec(out);
      if (res) resolveResult(JSON.parse(res[1]));
    });
    child.on('close', (code) => {
      reject(new Error(`reader exited (${code}) before listening: ${err}`));
      rejectResult(new Error(`reader exited (${code}) without a result: ${err}${out}`));
    });
  });
}

async function writeAll(stream: WebSocketStream | web.WebSocketStream) {
  gc();
  const base = process.memoryUsage();
  const peak: Peak = { rss: 0, arrayBuffers: 0, heapUsed: 0, live: 0 };
  const sampleLive = async () => { // twice, a turn apart (see slow-reader-server.mjs)
    gc();
    await new Promise((r) => setTimeout(r, 5));
    gc();
    const m = process.memoryUsage();
    peak.live = Math.max(peak.live, m.arrayBuffers + m.heapUsed - base.arrayBuffers - base.heapUsed);
  };
  const sample = () => {
    const m = process.memoryUsage();
    peak.rss = Math.max(peak.rss, m.rss - base.rss);
    peak.arrayBuffers = Math.max(peak.arrayBuffers, m.arrayBuffers - base.arrayBuffers);
    peak.heapUsed = Math.max(peak.heapUsed, m.heapUsed - base.heapUsed);
  };
  const sampler = setInterval(sample, 10);
  const { writable } = await stream.opened;
  const writer = writable.getWriter();
  const chunk = new Uint8Array(CHUNK);
  const t0 = Date.now();
  for (let i = 0; i < TOTAL / CHUNK; i++) {
    chunk.fill(i & 255);
    await writer.write(chunk); // resolves once the transport took it: the writer waits for the slow reader
    sample();
    if (i % 64 === 0) await sampleLive();
  }
  clearInterval(sampler);
  return { peak, ms: Date.now() - t0 };
}

const mb = (n: number) => `${(n / MiB).toFixed(1)} MiB`;

describe('slow reader: 100 MiB through a WebSocketStream pair, memory bounded on both sides', () => {
  ensureDist();

  it.each([
    ['node', 'package root: WebSocketStream client -> our WebSocketServer + WebSocketStream.from(ws)'],
    ['web', 'wasmsocket/web: WebSocketStream client -> accept() on node:net (Duplex.toWeb)'],
  ] as const)('%s (%s)', async (mode, _label) => {
    const reader = await startReader(mode);
    try {
      const url = `ws://127.0.0.1:${reader.port}/slow`;
      const stream = mode === 'node' ? new WebSocketStream(url)
        : new web.WebSocketStream(url, { connect: (u) => Duplex.toWeb(net.connect(Number(u.port), u.hostname)) as web.BytePair });
      const wrote = await writeAll(stream);
      const read = await reader.result;
      await stream.closed;
      console.log(`slow reader (${mode}): ${mb(read.bytes)} in ${read.messages} messages, ${(wrote.ms / 1000).toFixed(1)} s; ` +
        `peak above baseline: writer live ${mb(wrote.peak.live)} (rss ${mb(wrote.peak.rss)}, arrayBuffers ${mb(wrote.peak.arrayBuffers)} with garbage); ` +
        `reader live ${mb(read.peak.live)} (rss ${mb(read.peak.rss)}, arrayBuffers ${mb(read.peak.arrayBuffers)} with garbage)`);
      expect(read.bytes).toBe(TOTAL);
      expect(read.intact).toBe(true);
      for (const [side, p] of [['writer', wrote.peak], ['reader', read.peak]] as const) {
        expect(p.live, `${side} live bytes`).toBeLessThan(LIVE_BOUND);
        expect(p.rss, `${side} rss`).toBeLessThan(RSS_BOUND);
      }
    } finally {
      reader.kill();
    }
  }, 120_000);
});
