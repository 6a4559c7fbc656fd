// The whole receive path, per message size: a masked binary frame (as a client
// sends it) fed in 64 KiB socket-sized chunks, parsed, unmasked and handed out
// as a Buffer. Ours (FrameDecoder: copy into wasm memory, unmask, copy out) vs
// ws's Receiver with bufferutil (concat across chunks, unmask in place, slice).
// Binary frames, so feeding ws the same (now unmasked) bytes again stays valid.
//
//   node bench/receive-path.mjs [--quick] [--json]
import { Bench } from 'tinybench';
import { createRequire } from 'node:module';
import { FrameDecoder, FrameEncoder } from '../dist/codec.js';

const require = createRequire(import.meta.url);
// ws does not export its Receiver; load it by path.
const Receiver = require(require.resolve('ws').replace(/index\.js$/, 'lib/receiver.js'));

const quick = process.argv.includes('--quick');
const json = process.argv.includes('--json');
const time = quick ? 150 : 500;
const CHUNK = 64 * 1024; // what a Node socket read hands over
const rows = [];

for (const size of [16, 125, 1024, 64 * 1024, 1024 * 1024]) {
  const frame = Buffer.from(new FrameEncoder({ mask: true }).frame(2, Buffer.alloc(size, 7)));
  const chunks = [];
  for (let o = 0; o < frame.length; o += CHUNK) chunks.push(frame.subarray(o, o + CHUNK));
  let got = 0;
  const ours = new FrameDecoder({
    onMessage(d) { got += d.length; }, onPing() {}, onPong() {}, onClose() {}, onError(e) { throw e; },
  }, { isServer: true, maxPayload: 0, alloc: (n) => Buffer.allocUnsafe(n) });
  const theirs = new Receiver({ isServer: true, maxPayload: 0 });
  theirs.on('message', (d) => { got += d.length; });
  theirs.on('error', (e) => { throw e; });
  const bench = new Bench({ time, warmupTime: time / 4 });
  bench.add('wasmsocket', () => { for (const c of chunks) ours.push(c); });
  bench.add('ws + bufferutil', () => { for (const c of chunks) theirs.write(c); });
  await bench.run();
  if (got === 0) throw new Error('nothing received');
  const [a, b] = bench.tasks.map((t) => t.result?.throughput?.mean ?? t.result?.hz ?? 0);
  rows.push({ size, oursMsgsPerSec: a, wsMsgsPerSec: b, ratio: a / b, oursGBps: (a * size) / 1e9, wsGBps: (b * size) / 1e9 });
}

if (json) console.log(JSON.stringify(rows, null, 2));
else {
  console.log('receive path (parse + unmask + hand-out), masked binary frame in 64 KiB chunks');
  console.log('size        wasmsocket            ws+bufferutil         ours/ws');
  for (const r of rows) {
    const f = (hz, gb) => `${(hz / 1e3).toFixed(1).padStart(8)} k/s ${gb.toFixed(2).padStart(6)} GB/s`;
    console.log(`${String(r.size).padEnd(10)}  ${f(r.oursMsgsPerSec, r.oursGBps)}  ${f(r.wsMsgsPerSec, r.wsGBps)}  ${r.ratio.toFixed(2)}x`);
  }
}
