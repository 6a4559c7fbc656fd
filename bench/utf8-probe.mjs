// Scratch measurement for assembly/utf8.ts (not a test, not part of `npm run bench`).
//   node bench/utf8-probe.mjs [throughput [simd.wasm]]  throughput on 64 KiB: wasm (SIMD / scalar build) vs TextDecoder(fatal) vs buffer.isUtf8
//   node bench/utf8-probe.mjs threshold A.wasm B.wasm
//                                             ns per call for short inputs, module A vs module B
// Build first: npx asc assembly/index.ts --target release && npx asc assembly/index.ts --target scalar
import { readFileSync } from 'node:fs';
import { isUtf8 } from 'node:buffer';

function load(file) {
  const ex = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(file)), {}).exports;
  return { file, ex, mem: new Uint8Array(ex.memory.buffer), ptr: ex.inPtr(), validate: ex.validateUtf8 };
}

// Deterministic text: English words, ~20% of the words Cyrillic / CJK / emoji.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const EN = 'the quick brown fox jumps over lazy dog and then some more words appear in this fairly ordinary english sentence with punctuation, numbers 12345 and so on.'.split(' ');
const RU = 'съешь же ещё этих мягких французских булок да выпей чаю'.split(' ');
const ZH = '我能吞下玻璃而不伤身体 这是一个测试 中文字符 网络套接字'.split(' ');
const EMOJI = ['😀', '🎉', '👍🏽', '🚀', '❤️', '🇺🇦', '🙂'];
function text(bytes, nonAsciiShare, seed) {
  const r = rng(seed);
  let s = '';
  while (Buffer.byteLength(s) < bytes + 64) {
    const x = r();
    s += (x < nonAsciiShare / 2 ? RU[(r() * RU.length) | 0] : x < nonAsciiShare * 0.8 ? ZH[(r() * ZH.length) | 0] : x < nonAsciiShare ? EMOJI[(r() * EMOJI.length) | 0] : EN[(r() * EN.length) | 0]) + ' ';
  }
  let b = Buffer.from(s, 'utf8').subarray(0, bytes);
  while (!isUtf8(b)) b = b.subarray(0, b.length - 1); // end on a character boundary
  const out = Buffer.alloc(bytes, 0x20);
  b.copy(out);
  return out;
}

function time(fn, bytes, minMs = 400) {
  // warm up, then run batches until minMs elapsed; best of 5 rounds
  for (let i = 0; i < 200; i++) fn();
  let best = Infinity;
  for (let round = 0; round < 5; round++) {
    let n = 0;
    const t0 = process.hrtime.bigint();
    let t1 = t0;
    while (Number(t1 - t0) < (minMs * 1e6) / 5) {
      for (let i = 0; i < 50; i++) fn();
      n += 50;
      t1 = process.hrtime.bigint();
    }
    best = Math.min(best, Number(t1 - t0) / n);
  }
  return { nsPerCall: best, gbps: bytes / best };
}

const mode = process.argv[2] ?? 'throughput';
if (mode === 'throughput') {
  const simd = load(process.argv[3] ?? 'build/wasmsocket.wasm');
  const scalar = load('build/wasmsocket.scalar.wasm');
  const N = 64 * 1024;
  const inputs = {
    ascii: Buffer.alloc(N, 'All work and no play makes Jack a dull boy. '),
    'mixed ~20%': text(N, 0.12, 1),
    'mixed ~1/3': text(N, 0.2, 1),
  };
  const td = new TextDecoder('utf-8', { fatal: true });
  console.log(`node ${process.version}, ${N} bytes per call; GB/s (best of 5 rounds)`);
  for (const [name, buf] of Object.entries(inputs)) {
    let nonAscii = 0;
    for (const b of buf) if (b >= 0x80) nonAscii++;
    for (const w of [simd, scalar]) w.mem.set(buf, w.ptr);
    const check = [simd.validate(simd.ptr, N, 0), scalar.validate(scalar.ptr, N, 0), isUtf8(buf)];
    if (check[0] !== 0 || check[1] !== 0 || !check[2]) throw new Error(`${name}: sample not valid? ${check}`);
    const rows = {
      'wasm SIMD validateUtf8': time(() => simd.validate(simd.ptr, N, 0), N),
      'wasm scalar validateUtf8': time(() => scalar.validate(scalar.ptr, N, 0), N),
      'TextDecoder(fatal).decode': time(() => td.decode(buf), N),
      'buffer.isUtf8': time(() => isUtf8(buf), N),
    };
    console.log(`\n${name} (${((100 * nonAscii) / N).toFixed(1)}% non-ASCII bytes)`);
    const tdRate = rows['TextDecoder(fatal).decode'].gbps;
    for (const [k, v] of Object.entries(rows)) {
      console.log(`  ${k.padEnd(28)} ${v.gbps.toFixed(2).padStart(7)} GB/s  ${(v.gbps / tdRate).toFixed(1).padStart(6)}x TextDecoder`);
    }
  }
} else if (mode === 'threshold') {
  const [a, b] = [load(process.argv[3]), load(process.argv[4])];
  const mixed = text(8192, 0.12, 2);
  const ascii = Buffer.alloc(8192, 'hello world, ');
  // 64 start offsets at character boundaries; each call validates len bytes.
  const starts = new Int32Array(64);
  for (let j = 0, o = 0; j < 64; j++, o += 97) { let s = o; while ((mixed[s] & 0xc0) === 0x80) s++; starts[j] = s; }
  for (const w of [a, b]) w.mem.set(mixed, w.ptr), w.mem.set(ascii, w.ptr + 8192);
  // A plain loop of calls (no closure per call); best of 7 rounds; minus the cost of a len-0 call.
  const loop = (w, base, len, calls) => {
    const v = w.validate, p = w.ptr + base;
    let acc = 0;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < calls; i++) acc |= v(p + starts[i & 63], len, 0);
    const ns = Number(process.hrtime.bigint() - t0) / calls;
    if (acc < 0) throw new Error('invalid sample');
    return ns;
  };
  const best = (w, base, len) => { let m = Infinity; for (let r = 0; r < 7; r++) m = Math.min(m, loop(w, base, len, 200_000)); return m; };
  // Warm up well past V8's Liftoff -> TurboFan tier-up.
  for (const w of [a, b]) for (let r = 0; r < 20; r++) loop(w, 0, 64, 100_000), loop(w, 8192, 64, 100_000);
  const zero = { A: best(a, 0, 0), B: best(b, 0, 0) };
  console.log(`ns per call minus an empty call (A ${zero.A.toFixed(1)} ns, B ${zero.B.toFixed(1)} ns), avg over 64 start offsets`);
  console.log(`A=${a.file}  B=${b.file}`);
  for (const len of [8, 12, 15, 16, 20, 24, 32, 40, 48, 64, 96, 128, 256]) {
    const row = [];
    for (const [kind, base] of [['mixed', 0], ['ascii', 8192]]) for (const [tag, w] of [['A', a], ['B', b]]) {
      row.push(`${kind} ${tag} ${(best(w, base, len) - zero[tag]).toFixed(1).padStart(5)}`);
    }
    console.log(`len ${String(len).padStart(3)}: ${row.join(' | ')}`);
  }
}
