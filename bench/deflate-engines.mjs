// Which deflate engine for permessage-deflate, by message size (issue 12).
//
//   node bench/deflate-engines.mjs [--time MS] [--sizes 64,1024,...] [--engines a,b]
//
// Each engine keeps one raw-deflate stream per direction for the whole run
// (context takeover, windowBits 15, level/memLevel as zlib's defaults), compresses
// each message with a sync flush and strips 00 00 ff ff (RFC 7692 §7.2.1), and
// inflates the result with the tail put back, exactly what a connection does.
// Messages cycle through 8 different JSON-like chat lines of the size (the bench's
// text payload), so the window helps but no message is a pure repeat.
// Prints, per size, messages/s for compress and inflate (one thread, this
// process) and the compressed size. Engines:
//   node-async  Node's zlib stream, write + flush(Z_SYNC_FLUSH, cb): the thread
//               pool, one job per message (what src/node did before issue 12);
//               run one message at a time, so it shows the per-message latency
//   node-sync   the same native zlib, called synchronously through the stream's
//               handle (handle.writeSync, what zlib.*Sync use internally)
//   pako        pako 3's zlib port in JS, low-level API (ZStream, Z_SYNC_FLUSH)
//   fflate      fflate's streaming Deflate/Inflate (flush(true)); fflate has no
//               windowBits option, so it could not honour a negotiated window < 15
import zlib from 'node:zlib';
import * as pako from 'pako';
import * as fflate from 'fflate';

const args = process.argv.slice(2);
const arg = (n, d) => { const i = args.indexOf(n); return i >= 0 ? args[i + 1] : d; };
const TIME = Number(arg('--time', 300));
const SIZES = arg('--sizes', '64,256,1024,4096,16384,65536,262144,1048576').split(',').map(Number);
const ENGINES = arg('--engines', 'node-async,node-sync,pako,fflate').split(',');
const TAIL = new Uint8Array([0, 0, 0xff, 0xff]);

function prng(seed) {
  let s = seed >>> 0 || 1;
  return () => { s ^= s << 13; s ^= s >>> 17; s ^= s << 5; return (s >>> 0) / 4294967296; };
}
const WORDS = ('the quick brown fox jumps over lazy dog user message hello world id type chat ' +
  'room alice bob carol price qty order status ok update delta value time seq').split(' ');
function textPayload(size, seed) {
  const r = prng(seed);
  let s = '';
  let n = 0;
  while (s.length < size) s += `{"id":${n++},"t":"${WORDS[(r() * WORDS.length) | 0]}","v":"${WORDS[(r() * WORDS.length) | 0]} ${(r() * 1e4) | 0}"},`;
  return Buffer.from(s.slice(0, size), 'latin1');
}
const withTail = (b) => { const o = new Uint8Array(b.length + 4); o.set(b); o.set(TAIL, b.length); return o; };
const strip = (b) => b.subarray(0, b.length - 4);

// ---- engines: make() -> { deflate(buf) -> bytes without tail, inflate(bytesWithTail) -> bytes } (sync or async)

const nodeAsync = () => {
  const d = zlib.createDeflateRaw({ windowBits: 15 });
  const i = zlib.createInflateRaw({ windowBits: 15 });
  const run = (s, buf) => new Promise((res, rej) => {
    const chunks = [];
    const on = (c) => chunks.push(c);
    s.on('data', on);
    s.once('error', rej);
    s.write(buf);
    s.flush(zlib.constants.Z_SYNC_FLUSH, () => { s.off('data', on); s.off('error', rej); res(Buffer.concat(chunks)); });
  });
  return { async: true, deflate: async (b) => strip(await run(d, b)), inflate: (b) => run(i, b) };
};

function handleRun(stream, input, out) {
  const h = stream._handle;
  const st = stream._writeState;
  const chunks = [];
  let inOff = 0;
  let inLen = input.length;
  let total = 0;
  let err = null;
  h.onerror = (message, errno) => { err = new Error(`zlib: ${message} (${errno})`); };
  for (;;) {
    h.writeSync(zlib.constants.Z_SYNC_FLUSH, input, inOff, inLen, out, 0, out.length);
    if (err !== null) throw err;
    const produced = out.length - st[0];
    if (produced > 0) { chunks.push(Uint8Array.prototype.slice.call(out, 0, produced)); total += produced; }
    inOff += inLen - st[1];
    inLen = st[1];
    if (st[0] !== 0) break; // output space left: zlib is done with this flush
  }
  return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, total);
}
const nodeSync = () => {
  const d = zlib.createDeflateRaw({ windowBits: 15 });
  const i = zlib.createInflateRaw({ windowBits: 15 });
  const out = Buffer.allocUnsafe(64 * 1024);
  return { deflate: (b) => strip(handleRun(d, b, out)), inflate: (b) => handleRun(i, b, out) };
};

function pakoRun(strm, fn, input, out) {
  strm.input = input; strm.next_in = 0; strm.avail_in = input.length;
  const chunks = [];
  let total = 0;
  for (;;) {
    strm.output = out; strm.next_out = 0; strm.avail_out = out.length;
    const rc = fn(strm, pako.Z_SYNC_FLUSH);
    if (rc < 0 && rc !== pako.Z_BUF_ERROR) throw new Error(`pako ${rc} ${strm.msg}`);
    const produced = out.length - strm.avail_out;
    if (produced > 0) { chunks.push(Uint8Array.prototype.slice.call(out, 0, produced)); total += produced; }
    if (strm.avail_out !== 0) break;
  }
  return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, total);
}
const pakoEngine = () => {
  const d = new pako.ZStream();
  pako.zlibDeflateInit2(d, 6, 8, -15, 8, pako.Z_DEFAULT_STRATEGY);
  const i = new pako.ZStream();
  pako.zlibInflateInit2(i, -15);
  const out = new Uint8Array(64 * 1024);
  return { deflate: (b) => strip(pakoRun(d, pako.zlibDeflate, b, out)), inflate: (b) => pakoRun(i, pako.zlibInflate, b, out) };
};

const fflateEngine = () => {
  let got = [];
  const collect = (c) => got.push(c);
  const d = new fflate.Deflate({ level: 6 }, collect);
  const i = new fflate.Inflate(collect);
  const take = () => { const r = got.length === 1 ? got[0] : Buffer.concat(got); got = []; return r; };
  return {
    deflate: (b) => { d.push(b); d.flush(true); return strip(take()); },
    inflate: (b) => { i.push(b); return take(); },
  };
};

const MAKERS = { 'node-async': nodeAsync, 'node-sync': nodeSync, pako: pakoEngine, fflate: fflateEngine };

async function measure(fn, isAsync) {
  let n = 0;
  const t0 = performance.now();
  const end = t0 + TIME;
  let now = t0;
  while (now < end) {
    for (let k = 0; k < 8; k++) { if (isAsync) await fn(n++); else fn(n++); }
    now = performance.now();
  }
  return (n * 1000) / (now - t0);
}

const rows = [];
for (const size of SIZES) {
  const msgs = Array.from({ length: 8 }, (_, k) => textPayload(size, k + 1));
  for (const name of ENGINES) {
    const e = MAKERS[name]();
    // Correctness first: a fresh pair round-trips the 8 messages.
    const chk = MAKERS[name]();
    const compressed = [];
    let broken = false;
    for (const m of msgs) {
      try {
        const c = await chk.deflate(m);
        const back = await chk.inflate(withTail(c));
        if (Buffer.compare(Buffer.from(back), m) !== 0) broken = 'inflated bytes differ';
        compressed.push(withTail(c));
      } catch (e) {
        broken = e.message;
        break;
      }
    }
    if (broken) {
      rows.push({ size, name, broken });
      continue;
    }
    const ratio = compressed.reduce((a, c) => a + c.length - 4, 0) / (8 * size);
    const comp = await measure((k) => e.deflate(msgs[k & 7]), !!e.async);
    // Inflate needs the stream that matches its own deflater's history: replay one.
    const src = MAKERS[name]();
    const stream = [];
    for (let k = 0; k < 64; k++) stream.push(withTail(await src.deflate(msgs[k & 7])));
    let inf = MAKERS[name]();
    let pos = 0;
    const infl = await measure((k) => {
      if (pos === stream.length) { inf = MAKERS[name](); pos = 0; }
      return inf.inflate(stream[pos++]);
    }, !!e.async);
    rows.push({ size, name, comp, infl, ratio });
    process.stderr.write('.');
  }
}
process.stderr.write('\n');

const fmt = (n) => Math.round(n).toLocaleString('en-US');
console.log(`deflate engines, windowBits 15, level 6, context takeover; ${TIME} ms per cell; node ${process.version}`);
console.log('| size | engine | compress msg/s | inflate msg/s | compressed/original |');
console.log('|---:|---|---:|---:|---:|');
for (const r of rows) {
  if (r.broken) { console.log(`| ${r.size} | ${r.name} | round trip FAILED (${r.broken}) | | |`); continue; }
  console.log(`| ${r.size} | ${r.name} | ${fmt(r.comp)} | ${fmt(r.infl)} | ${(r.ratio * 100).toFixed(1)}% |`);
}
