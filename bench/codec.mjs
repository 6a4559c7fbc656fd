// `npm run bench:codec`: the codec's hot paths against the field, per size.
// Masking (wasm kernel in wasm memory, wasm through copies, a JS loop, bufferutil),
// UTF-8 validation (wasm, buffer.isUtf8, utf-8-validate, TextDecoder fatal) and
// frames/s parsing a buffer of 1,000 small frames (ours vs ws's Receiver).
// Runs on the built package (dist/); ratios matter, absolute figures are noisy.
// Also runs in Deno (`npm run bench:codec:deno`) and Bun (`npm run bench:codec:bun`):
// the comparisons whose modules do not load there (native addons, ws) are left
// out, wasm vs TextDecoder vs the JS loop always run.
import { Bench } from 'tinybench';
import { createRequire } from 'node:module';
import { Buffer, isUtf8 } from 'node:buffer';
import { getCodec, maskBytes, isValidUtf8, FrameDecoder, FrameEncoder } from '../dist/codec.js';

const require = createRequire(import.meta.url);
const optional = (load) => { try { return load(); } catch { return undefined; } };
const bufferutil = optional(() => require('bufferutil'));
const utf8Validate = optional(() => require('utf-8-validate'));
// ws does not export its Receiver; load it by path.
const Receiver = optional(() => require(require.resolve('ws').replace(/index\.js$/, 'lib/receiver.js')));
const runtime = globalThis.Deno ? `deno ${globalThis.Deno.version.deno}` : globalThis.Bun ? `bun ${globalThis.Bun.version}` : `node ${process.version}`;

const json = process.argv.includes('--json');
const quick = process.argv.includes('--quick');
const time = quick ? 100 : 400;
const SIZES = [16, 125, 1024, 64 * 1024, 1024 * 1024];
const codec = getCodec();
const rows = [];

function mixedText(n) {
  // English with ~20% non-ASCII: Cyrillic, CJK, emoji (1- to 4-byte sequences).
  const parts = ['The quick brown fox jumps over the lazy dog. ', 'Съешь же ещё этих мягких булок. ', '速い茶色の狐 ', '🦊🐶 '];
  const weights = [0.8, 0.1, 0.06, 0.04];
  const out = [];
  let len = 0, seed = 1;
  while (len < n) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    const r = seed / 2 ** 32;
    let i = 0, acc = weights[0];
    while (r > acc && i < 3) acc += weights[++i];
    const b = Buffer.from(parts[i]);
    out.push(b);
    len += b.length;
  }
  const all = Buffer.concat(out);
  // cut back to a character boundary at or below n
  let end = Math.min(n, all.length);
  while (end > 0 && (all[end] & 0xc0) === 0x80) end--;
  return all.subarray(0, end);
}

async function run(name, tasks, bytes) {
  const bench = new Bench({ time, warmupTime: time / 4 });
  for (const [label, fn] of Object.entries(tasks)) bench.add(label, fn);
  await bench.run();
  for (const t of bench.tasks) {
    const hz = t.result?.throughput?.mean ?? t.result?.hz ?? 0;
    rows.push({ group: name, task: t.name, opsPerSec: hz, gbPerSec: bytes ? (hz * bytes) / 1e9 : null });
  }
}

for (const size of SIZES) {
  const data = Buffer.alloc(size, 0x61);
  for (let i = 0; i < size; i++) data[i] = (i * 131) & 255;
  const key = 0x3d21fa37;
  const keyBuf = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);
  const out = Buffer.alloc(size);
  const inWasm = size <= codec.inCap;
  if (inWasm) codec.u8.set(data, codec.inPtr);
  await run(`mask ${size} B`, {
    ...(inWasm ? { 'wasm kernel (in wasm memory)': () => codec.exports.mask(codec.inPtr, size, key, 0) } : {}),
    'wasm maskBytes (copy in + out)': () => maskBytes(data, key),
    'JS loop': () => { for (let i = 0; i < size; i++) data[i] ^= keyBuf[i & 3]; },
    ...(bufferutil ? {
      'bufferutil unmask (in place)': () => bufferutil.unmask(data, keyBuf),
      'bufferutil mask (to output)': () => bufferutil.mask(data, keyBuf, out, 0, size),
    } : {}),
  }, size);

  const text = mixedText(size);
  if (text.length <= codec.inCap) codec.u8.set(text, codec.inPtr);
  const decoder = new TextDecoder('utf-8', { fatal: true });
  await run(`utf8 ${size} B mixed`, {
    ...(text.length <= codec.inCap ? { 'wasm (in wasm memory)': () => codec.exports.validateUtf8(codec.inPtr, text.length, 0) } : {}),
    'wasm isValidUtf8 (copy in)': () => isValidUtf8(text),
    ...(isUtf8 ? { 'buffer.isUtf8': () => isUtf8(text) } : {}),
    ...(utf8Validate ? { 'utf-8-validate': () => utf8Validate(text) } : {}),
    'TextDecoder fatal': () => decoder.decode(text),
  }, text.length);
}

// Frames/s: one buffer holding 1,000 masked small text frames, as a client sends them.
{
  const enc = new FrameEncoder({ mask: true });
  const frames = [];
  for (let i = 0; i < 1000; i++) frames.push(enc.frame(1, Buffer.from(`message number ${i} ..........`)));
  const buf = Buffer.concat(frames);
  let count = 0;
  const ours = new FrameDecoder({
    onMessage() { count++; }, onPing() {}, onPong() {}, onClose() {}, onError(e) { throw e; },
  }, { isServer: true, maxPayload: 0, alloc: (n) => Buffer.allocUnsafe(n) });
  const theirs = optional(() => new Receiver({ isServer: true, maxPayload: 0 }));
  theirs?.on('message', () => { count++; });
  theirs?.on('error', (e) => { throw e; });
  await run('parse 1,000 frames', {
    'wasmsocket FrameDecoder': () => ours.push(buf),
    // ws unmasks in place, so it gets a fresh copy each run (ours copies into wasm memory itself).
    ...(theirs ? { [`ws Receiver (${bufferutil ? 'bufferutil' : 'JS masking'})`]: () => theirs.write(Buffer.from(buf)) } : {}),
  }, 0);
  for (const r of rows.filter((r) => r.group === 'parse 1,000 frames')) r.framesPerSec = r.opsPerSec * 1000;
  if (count === 0) throw new Error('no frames parsed');
}

if (json) {
  console.log(JSON.stringify({ simd: codec.simd, node: process.version, runtime, rows }, null, 2));
} else {
  console.log(`wasm build: ${codec.simd ? 'SIMD' : 'scalar'}; ${runtime}`);
  let group = '';
  for (const r of rows) {
    if (r.group !== group) { group = r.group; console.log(`\n${group}`); }
    const rate = r.framesPerSec !== undefined ? `${(r.framesPerSec / 1e6).toFixed(2)} M frames/s`
      : `${(r.gbPerSec ?? 0).toFixed(r.gbPerSec < 1 ? 3 : 2)} GB/s`;
    console.log(`  ${r.task.padEnd(34)} ${rate.padStart(18)}  ${(r.opsPerSec / 1e3).toFixed(1).padStart(10)} k ops/s`);
  }
}
