// UTF-8 validation in wasm (assembly/utf8.ts), run against both builds:
// build/wasmsocket.wasm (SIMD) and build/wasmsocket.scalar.wasm (no SIMD).
// Build first: npx asc assembly/index.ts --target release && npx asc assembly/index.ts --target scalar
//
// Checked against a byte-by-byte reference (Unicode Table 3-7 / RFC 3629)
// that reports the first byte at which no valid continuation exists and the
// exact pending state after every byte; the reference itself is checked
// against Node's buffer.isUtf8 by brute force on the vector table.
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { isUtf8 } from 'node:buffer';
import { prng } from './helpers/prng.ts';

// ---- vectors --------------------------------------------------------------

interface Case { name: string; hex: string; valid: boolean }
const VECTORS: Case[] = JSON.parse(readFileSync(new URL('./vectors/utf8.json', import.meta.url), 'utf8')).cases;
const fromHex = (s: string): Uint8Array => Uint8Array.from(s.split(' ').filter(Boolean), (b) => parseInt(b, 16));

// ---- reference ------------------------------------------------------------

// Well-formed UTF-8 byte sequences (Unicode 15, Table 3-7 = RFC 3629 §4):
// [first byte lo, hi, ranges of the following bytes].
const ROWS: [number, number, [number, number][]][] = [
  [0x00, 0x7f, []],
  [0xc2, 0xdf, [[0x80, 0xbf]]],
  [0xe0, 0xe0, [[0xa0, 0xbf], [0x80, 0xbf]]],
  [0xe1, 0xec, [[0x80, 0xbf], [0x80, 0xbf]]],
  [0xed, 0xed, [[0x80, 0x9f], [0x80, 0xbf]]],
  [0xee, 0xef, [[0x80, 0xbf], [0x80, 0xbf]]],
  [0xf0, 0xf0, [[0x90, 0xbf], [0x80, 0xbf], [0x80, 0xbf]]],
  [0xf1, 0xf3, [[0x80, 0xbf], [0x80, 0xbf], [0x80, 0xbf]]],
  [0xf4, 0xf4, [[0x80, 0x8f], [0x80, 0xbf], [0x80, 0xbf]]],
];
const ROW_OF: ([number, number][] | null)[] = Array.from({ length: 256 }, (_, b) => {
  const r = ROWS.find(([lo, hi]) => b >= lo && b <= hi);
  return r ? r[2] : null;
});
// The state format of utf8Validate: (bytesStillNeeded << 16) | (lo << 8) | hi.
const pendingState = (need: number, [lo, hi]: [number, number]): number => (need << 16) | (lo << 8) | hi;

interface Ref {
  valid: boolean;
  bad: number; // index of the first byte that no valid UTF-8 can contain there, or -1
  states: Int32Array; // states[i] = state after the first i bytes (for i <= bad)
}

function reference(b: Uint8Array): Ref {
  const n = b.length;
  const states = new Int32Array(n + 1);
  let i = 0;
  while (i < n) {
    const rest = ROW_OF[b[i]];
    if (rest === null) return { valid: false, bad: i, states };
    states[i + 1] = rest.length ? pendingState(rest.length, rest[0]) : 0;
    for (let k = 0; k < rest.length; k++) {
      const j = i + 1 + k;
      if (j >= n) return { valid: false, bad: -1, states }; // truncated at the end
      if (b[j] < rest[k][0] || b[j] > rest[k][1]) return { valid: false, bad: j, states };
      const left = rest.length - k - 1;
      states[j + 1] = left ? pendingState(left, rest[k + 1]) : 0;
    }
    i += 1 + rest.length;
  }
  return { valid: true, bad: -1, states };
}

// ---- wasm harness ---------------------------------------------------------

interface Wasm {
  name: string;
  simd: boolean;
  mem: Uint8Array;
  slot: number; // where pieces are written: guard bytes before and after
  cap: number;
  validate: (ptr: number, len: number, state: number) => number;
}

// UTF8_TEST_WASM=<file> runs the SIMD-build tests against another module
// (used to check that deliberately broken builds fail these tests).
const BUILDS: [string, string][] = process.env.UTF8_TEST_WASM
  ? [['simd', process.env.UTF8_TEST_WASM]]
  : [['simd', 'build/wasmsocket.wasm'], ['scalar', 'build/wasmsocket.scalar.wasm']];

function load(name: string, file: string): Wasm {
  const inst = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(file)), {});
  const ex = inst.exports as any;
  const mem = new Uint8Array((ex.memory as WebAssembly.Memory).buffer);
  const base = ex.inPtr() as number;
  return {
    name,
    simd: !!ex.simd(),
    mem,
    slot: base + 64,
    cap: (ex.inCap() as number) - 128,
    validate: ex.validateUtf8,
  };
}

// Where each piece goes, in turn:
// - in the scratch region, with guard bytes around it: an implementation that
//   looked before ptr or past ptr+len would see a lead byte (needing
//   continuations) or a continuation / invalid byte, and its answer would change;
// - flush against the end of linear memory: reading past ptr+len traps;
// - at address 0: reading before ptr wraps around and traps.
// (The test owns its instance and calls only validateUtf8, so the bytes it
// overwrites at either end of memory are not used by anything else.)
const GUARDS = [0xf0, 0x80, 0xff, 0xe0, 0xc2, 0x41];
let guardTurn = 0;

/** Validates `bytes` as the pieces [0,c0), [c0,c1), ... [ck,len). Returns one state per call made (stops after a negative). */
function run(w: Wasm, bytes: Uint8Array, cuts: number[]): number[] {
  const g = GUARDS[guardTurn++ % GUARDS.length];
  const out: number[] = [];
  let state = 0;
  let a = 0;
  for (let p = 0; p <= cuts.length; p++) {
    const b = p < cuts.length ? cuts[p] : bytes.length;
    const n = b - a;
    const where = (guardTurn + p) % 4;
    let at: number;
    if (where === 2) at = w.mem.length - n;
    else if (where === 3) at = 0;
    else {
      at = w.slot + ((a + guardTurn) & 15); // vary alignment
      w.mem.fill(g, at - 32, at);
      w.mem.fill(g, at + n, at + n + 32);
    }
    w.mem.set(bytes.subarray(a, b), at);
    try {
      state = w.validate(at, n, state);
    } catch (e) {
      throw new Error(`${w.name}: validateUtf8 trapped (${(e as Error).message}) on a piece of ${n} bytes at ${at === 0 ? 'address 0' : 'the end of memory'}: ${Buffer.from(bytes.subarray(a, b)).toString('hex')}`);
    }
    out.push(state);
    if (state < 0) break;
    a = b;
  }
  return out;
}

/** Expected per-call states for the pieces (negative on the piece holding ref.bad, then stop). */
function expected(ref: Ref, len: number, cuts: number[]): number[] {
  const out: number[] = [];
  let a = 0;
  for (let p = 0; p <= cuts.length; p++) {
    const b = p < cuts.length ? cuts[p] : len;
    if (ref.bad >= a && ref.bad < b) { out.push(-1); break; }
    out.push(ref.states[b]);
    a = b;
  }
  return out;
}

/** Compares wasm to reference: exact pending states, failing piece, final verdict. Returns a message or null. */
function check(w: Wasm, bytes: Uint8Array, ref: Ref, cuts: number[]): string | null {
  const got = run(w, bytes, cuts).map((s) => (s < 0 ? -1 : s));
  const want = expected(ref, bytes.length, cuts);
  const okVerdict = (got[got.length - 1] === 0 && got.length === cuts.length + 1) === ref.valid;
  if (okVerdict && got.length === want.length && got.every((s, i) => s === want[i])) return null;
  const hex = Buffer.from(bytes).toString('hex');
  return `${w.name}: bytes=${hex.length > 400 ? hex.slice(0, 400) + '…' : hex} len=${bytes.length} cuts=[${cuts}] got=[${got.map((s) => s.toString(16))}] want=[${want.map((s) => s.toString(16))}] bad=${ref.bad}`;
}

function allTwoSplits(n: number): number[][] {
  const out: number[][] = [];
  for (let c = 0; c <= n; c++) out.push([c]);
  return out;
}
function allThreeSplits(n: number): number[][] {
  const out: number[][] = [];
  for (let c1 = 0; c1 <= n; c1++) for (let c2 = c1; c2 <= n; c2++) out.push([c1, c2]);
  return out;
}

// ---- input builders -------------------------------------------------------

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}
const ascii = (n: number, c = 0x61): Uint8Array => new Uint8Array(n).fill(c);
// Valid mixed text of exactly n bytes (whole characters, topped up with ASCII).
const MIXED_CHARS = [...'aé€😀Жx中🎉'].map((ch) => Buffer.from(ch, 'utf8'));
function mixed(n: number): Uint8Array {
  const out = new Uint8Array(n);
  let o = 0;
  for (;;) {
    const ch = MIXED_CHARS[(o * 7) % MIXED_CHARS.length];
    if (o + ch.length > n) break;
    out.set(ch, o);
    o += ch.length;
  }
  out.fill(0x62, o);
  return out;
}

const INTERESTING = [
  0x00, 0x20, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xe1,
  0xec, 0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf3, 0xf4, 0xf5, 0xf7, 0xf8, 0xfb, 0xfc, 0xfd, 0xfe, 0xff,
];
const INVALID_SNIPPETS = VECTORS.filter((c) => !c.valid).map((c) => fromHex(c.hex));

class Gen {
  rnd: () => number;
  buf = new Uint8Array(70000);
  constructor(seed: number) { this.rnd = prng(seed); }
  int(n: number): number { return (this.rnd() * n) | 0; }
  // Appends one random valid code point at o; returns the new offset.
  cp(o: number, asciiBias: number): number {
    const b = this.buf;
    const r = this.rnd();
    let c: number;
    if (r < asciiBias) c = this.int(0x80);
    else {
      const k = this.int(8);
      if (k === 0) c = 0x80 + this.int(0x780);
      else if (k === 1) c = 0x800 + this.int(0xd800 - 0x800);
      else if (k === 2) c = 0xe000 + this.int(0x2000);
      else if (k <= 4) c = 0x10000 + this.int(0x100000);
      else if (k === 5) c = [0x80, 0x7ff, 0x800, 0xd7ff, 0xe000, 0xffff, 0x10000, 0x10ffff, 0xfffd, 0xfeff][this.int(10)];
      else if (k === 6) c = 0x400 + this.int(0x100); // Cyrillic
      else c = 0x4e00 + this.int(0x5000); // CJK
    }
    if (c < 0x80) b[o++] = c;
    else if (c < 0x800) { b[o++] = 0xc0 | (c >> 6); b[o++] = 0x80 | (c & 63); }
    else if (c < 0x10000) { b[o++] = 0xe0 | (c >> 12); b[o++] = 0x80 | ((c >> 6) & 63); b[o++] = 0x80 | (c & 63); }
    else { b[o++] = 0xf0 | (c >> 18); b[o++] = 0x80 | ((c >> 12) & 63); b[o++] = 0x80 | ((c >> 6) & 63); b[o++] = 0x80 | (c & 63); }
    return o;
  }
  valid(n: number, asciiBias: number): number {
    let o = 0;
    while (o < n) o = this.cp(o, asciiBias);
    return o; // may overshoot n by up to 3
  }
  /** A random input of one of several kinds, length about maxLen at most (+3). */
  input(maxLen: number): Uint8Array {
    const b = this.buf;
    const n = this.int(maxLen + 1);
    const kind = this.int(8);
    let len: number;
    switch (kind) {
      case 0: // pure ASCII (sometimes with one non-ASCII byte)
        for (let i = 0; i < n; i++) b[i] = this.int(0x80);
        if (n && this.rnd() < 0.3) b[this.int(n)] = INTERESTING[this.int(INTERESTING.length)];
        len = n; break;
      case 1: // valid, mostly ASCII
        len = this.valid(n, 0.8); break;
      case 2: // valid, any mix
        len = this.valid(n, this.rnd()); break;
      case 3: { // valid with one corrupted byte
        len = this.valid(n, this.rnd());
        if (len) b[this.int(len)] = this.rnd() < 0.7 ? INTERESTING[this.int(INTERESTING.length)] : this.int(256);
        break;
      }
      case 4: // valid, truncated anywhere
        len = this.valid(n, this.rnd());
        len = len ? len - this.int(Math.min(len, 3) + 1) : 0;
        break;
      case 5: { // valid with an invalid snippet inserted
        len = this.valid(n, this.rnd());
        const s = INVALID_SNIPPETS[this.int(INVALID_SNIPPETS.length)];
        const at = len ? this.int(len) : 0;
        b.copyWithin(at + s.length, at, len);
        b.set(s, at);
        len += s.length;
        break;
      }
      case 6: // random bytes from the interesting set
        for (let i = 0; i < n; i++) b[i] = INTERESTING[this.int(INTERESTING.length)];
        len = n; break;
      default: // uniformly random bytes
        for (let i = 0; i < n; i++) b[i] = this.int(256);
        len = n;
    }
    return b.subarray(0, len);
  }
  cuts(len: number, maxPieces: number): number[] {
    const k = this.int(maxPieces); // 0 .. maxPieces-1 cuts
    const c: number[] = [];
    for (let i = 0; i < k; i++) c.push(this.int(len + 1));
    return c.sort((x, y) => x - y);
  }
}

// ---- the reference is the definition: check it against isUtf8 --------------

// Continuation-byte representatives of every range boundary in Table 3-7.
const EXT = [0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf];
function extendable(p: Uint8Array): boolean {
  if (isUtf8(p)) return true;
  const tail = (k: number, q: Uint8Array): boolean =>
    k === 0 ? false : EXT.some((e) => { const r = concat(q, Uint8Array.of(e)); return isUtf8(r) || tail(k - 1, r); });
  return tail(3, p);
}

describe('utf8 reference validator', () => {
  it('matches isUtf8 and brute-force extendability on every vector', () => {
    for (const c of VECTORS) {
      const b = fromHex(c.hex);
      const ref = reference(b);
      expect(ref.valid, c.name).toBe(c.valid);
      expect(isUtf8(b), c.name).toBe(c.valid);
      let bad = -1;
      for (let i = 0; i < b.length; i++) if (!extendable(b.subarray(0, i + 1))) { bad = i; break; }
      expect(ref.bad, c.name).toBe(bad);
    }
  });
  it('matches isUtf8 and brute-force extendability on 3000 random short inputs', () => {
    const g = new Gen(7);
    for (let t = 0; t < 3000; t++) {
      const b = g.input(12).slice();
      const ref = reference(b);
      expect(ref.valid).toBe(isUtf8(b));
      let bad = -1;
      for (let i = 0; i < b.length; i++) if (!extendable(b.subarray(0, i + 1))) { bad = i; break; }
      expect(ref.bad, Buffer.from(b).toString('hex')).toBe(bad);
    }
  });
});

// ---- both builds ----------------------------------------------------------

for (const [name, file] of BUILDS) {
  describe(`utf8Validate (${name} build)`, () => {
    const w = load(name, file);

    it('is the build it claims to be', () => {
      expect(w.simd).toBe(name === 'simd');
    });

    it('keeps a negative state negative and a pending state on empty input', () => {
      w.mem.set([0x41, 0x42], w.slot);
      expect(w.validate(w.slot, 2, -1)).toBeLessThan(0);
      expect(w.validate(w.slot, 0, -1)).toBeLessThan(0);
      expect(w.validate(w.slot, 0, 0)).toBe(0);
      const pend = pendingState(2, [0xa0, 0xbf]);
      expect(w.validate(w.slot, 0, pend)).toBe(pend);
    });

    it(`vectors (${VECTORS.length}) in one piece, split in 2 at every byte, and in 3 at every pair (<= 32 bytes)`, () => {
      const fails: string[] = [];
      for (const c of VECTORS) {
        const b = fromHex(c.hex);
        const ref = reference(b);
        const splits = [[], ...allTwoSplits(b.length), ...(b.length <= 32 ? allThreeSplits(b.length) : [])];
        for (const cuts of splits) {
          const m = check(w, b, ref, cuts);
          if (m) fails.push(`${c.name}: ${m}`);
        }
        const one = run(w, b, []);
        if ((one[0] === 0) !== c.valid) fails.push(`${c.name}: one-piece verdict ${one[0]}`);
      }
      expect(fails.slice(0, 10)).toEqual([]);
    });

    const PRE = [...Array(18).keys(), 29, 30, 31, 32, 33, 34, 35, 45, 46, 47, 48, 49, 50, 63, 64, 65];
    const POST = [0, 1, 15, 20, 40, 70];
    it(`vectors embedded in ASCII and in mixed text at ${PRE.length} offsets x ${POST.length} tails, split in 2 at every byte`, () => {
      const fails: string[] = [];
      let inputs = 0;
      for (const c of VECTORS) {
        const v = fromHex(c.hex);
        for (const pre of PRE) for (const post of POST) for (const fill of [ascii, mixed]) {
          const b = concat(fill(pre), v, ascii(post, 0x7a));
          inputs++;
          const ref = reference(b);
          if (ref.valid !== c.valid) fails.push(`${c.name}: reference says ${ref.valid} at pre=${pre} post=${post}`);
          for (const cuts of [[], ...allTwoSplits(b.length)]) {
            const m = check(w, b, ref, cuts);
            if (m) fails.push(`${c.name} pre=${pre} post=${post}: ${m}`);
          }
          if (fails.length > 20) break;
        }
      }
      expect(inputs).toBe(VECTORS.length * PRE.length * POST.length * 2);
      expect(fails.slice(0, 10)).toEqual([]);
    });

    it('every block boundary: one bad byte at each position of 100 bytes of text', () => {
      const fails: string[] = [];
      for (const fill of [ascii, mixed]) {
        const base = fill(100);
        for (let pos = 0; pos < base.length; pos++) for (const bad of INTERESTING) {
          const b = base.slice();
          b[pos] = bad;
          const ref = reference(b);
          for (const cuts of [[], [pos], [pos + 1], [pos & ~15], [(pos + 16) & ~15]]) {
            const m = check(w, b, ref, cuts.filter((x) => x <= b.length));
            if (m) fails.push(m);
          }
        }
      }
      expect(fails.slice(0, 10)).toEqual([]);
    });

    const SHORT = 600_000;
    it(`random: ${SHORT.toLocaleString('en')} inputs of 0-300 bytes, random splits into 1-4 pieces, vs reference and isUtf8`, () => {
      const g = new Gen(name === 'simd' ? 0x5eed1 : 0x5eed2);
      const fails: string[] = [];
      let bytes = 0;
      for (let t = 0; t < SHORT && fails.length < 10; t++) {
        const b = g.input(300);
        bytes += b.length;
        const ref = reference(b);
        if (ref.valid !== isUtf8(b)) fails.push(`reference disagrees with isUtf8 on ${Buffer.from(b).toString('hex')}`);
        const m = check(w, b, ref, g.cuts(b.length, 4));
        if (m) fails.push(m);
      }
      expect(fails).toEqual([]);
      expect(bytes).toBeGreaterThan(SHORT * 100);
    });

    const LONG = 300;
    it(`random: ${LONG} inputs up to 64 KiB, random splits into 1-6 pieces, vs reference and isUtf8`, () => {
      const g = new Gen(name === 'simd' ? 0x1091 : 0x1092);
      const fails: string[] = [];
      for (let t = 0; t < LONG && fails.length < 5; t++) {
        // Mostly valid or nearly valid text, so the error lands deep in the input.
        let b: Uint8Array;
        const kind = t % 4;
        const n = g.int(65536 - 4);
        if (kind === 0) b = g.buf.subarray(0, g.valid(n, 0.8));
        else if (kind === 1) { b = g.buf.subarray(0, g.valid(n, g.rnd())); if (b.length) b[g.int(b.length)] = INTERESTING[g.int(INTERESTING.length)]; }
        else if (kind === 2) { const l = g.valid(n, 0.9); b = g.buf.subarray(0, l ? l - g.int(Math.min(l, 3) + 1) : 0); }
        else { b = g.buf.subarray(0, n); for (let i = 0; i < n; i++) b[i] = g.int(0x80); if (n && t % 8 === 3) b[g.int(n)] = 0x80 | g.int(0x80); }
        const ref = reference(b);
        if (ref.valid !== isUtf8(b)) fails.push('reference disagrees with isUtf8');
        const m = check(w, b, ref, g.cuts(b.length, 6));
        if (m) fails.push(m);
      }
      expect(fails).toEqual([]);
    });
  });
}
