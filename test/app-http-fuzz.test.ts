// Differential fuzzing of wasmsocket/app's request-head reader and parser
// (src/app/http-head.ts) against llhttp, Node's own HTTP parser: seeded heads
// (valid, mutated, hostile), each fed whole, split at every byte into two
// reads, byte by byte, and placed inside a larger buffer of random bytes (a
// read past its bounds would change the outcome). Ours must never throw, must
// give the same outcome under every split, and must accept exactly what
// llhttp accepts, with the same fields, but for the differences named in
// DIFFERENCES (src/app/http-head.ts).
//   npm test: a short run.   FUZZ_SECONDS=n: a long one.
import { describe, expect, it } from 'vitest';
import { DIFFERENCES } from '../src/app/http-head.ts';
import { ChunkedBody } from '../src/app/chunked.ts';
import { MAX_HEADER_SIZE, differencesOf, disagreement, generator, llhttp, ours, type Outcome } from './helpers/http-fuzz.ts';
import { prng } from './helpers/prng.ts';

const LONG_SECONDS = Number(process.env.FUZZ_SECONDS ?? 0);
const SHORT_CASES = 4_000;
const SEED = Number(process.env.FUZZ_SEED ?? 0x4ead);

const same = (a: Outcome, b: Outcome): boolean => JSON.stringify(a) === JSON.stringify(b);

describe('request-head fuzz against llhttp', () => {
  it(LONG_SECONDS > 0 ? `long run: ${LONG_SECONDS} s` : `${SHORT_CASES.toLocaleString('en')} seeded heads: same outcome under every split, llhttp's language but for the named differences`, () => {
    const next = generator(SEED);
    const rnd = prng(SEED ^ 0x5a5a);
    const until = LONG_SECONDS > 0 ? Date.now() + LONG_SECONDS * 1000 : Infinity;
    const count = LONG_SECONDS > 0 ? Number.MAX_SAFE_INTEGER : SHORT_CASES;
    const totals = { cases: 0, accepted: 0, refused: 0, incomplete: 0, bothAccept: 0, llhttpOnly: 0, mutated: 0, splits: 0 };
    const named: Record<string, number> = {};
    for (let i = 0; i < count && Date.now() < until; i++) {
      const c = next();
      const b = c.bytes, n = b.length;
      totals.cases++;
      if (c.mutated) totals.mutated++;
      const whole = ours(b, 0, n);
      totals[whole.t]++;
      // Every split into two reads, and one byte per read.
      for (let k = 1; k < n; k++) {
        const split = ours(b, 0, n, [k]);
        totals.splits++;
        if (!same(split, whole)) expect.fail(`case ${i}: split at ${k} gives ${JSON.stringify(split)}, whole ${JSON.stringify(whole)}; bytes ${JSON.stringify(Buffer.from(b).toString('latin1'))}`);
      }
      const bytewise = ours(b, 0, n, Array.from({ length: Math.max(0, n - 1) }, (_, k) => k + 1));
      if (!same(bytewise, whole)) expect.fail(`case ${i}: byte by byte gives ${JSON.stringify(bytewise)}, whole ${JSON.stringify(whole)}`);
      // Inside random bytes: the outcome may not depend on what lies outside the head.
      const pad = 1 + Math.floor(rnd() * 64);
      const big = new Uint8Array(pad + n + pad).map(() => Math.floor(rnd() * 256));
      for (const x of [13, 10, 13, 10]) big[pad + n + Math.floor(rnd() * pad)] = x;
      big.set(b, pad);
      const embedded = ours(big, pad, pad + n);
      if (!same(embedded, whole)) expect.fail(`case ${i}: inside other bytes gives ${JSON.stringify(embedded)}, alone ${JSON.stringify(whole)}`);

      const ref = llhttp(b);
      if (whole.t === 'accepted' && ref.t === 'accepted') totals.bothAccept++;
      if (whole.t !== 'accepted' && ref.t === 'accepted') {
        totals.llhttpOnly++;
        for (const d of differencesOf(b)) named[d] = (named[d] ?? 0) + 1;
      }
      const why = disagreement(b, whole, ref);
      if (why !== '') expect.fail(`case ${i} (seed ${SEED}): ${why}; bytes ${JSON.stringify(Buffer.from(b).toString('latin1'))}`);
    }
    console.log(`[http fuzz] ${JSON.stringify(totals)}; llhttp-only accepts by named difference: ${JSON.stringify(named)}`);
    // The generator must reach every outcome, or the run proves little.
    expect(totals.bothAccept).toBeGreaterThan(totals.cases / 5);
    expect(totals.refused).toBeGreaterThan(totals.cases / 10);
    expect(totals.incomplete).toBeGreaterThan(0);
    for (const k of Object.keys(named)) expect(Object.keys(DIFFERENCES)).toContain(k);
  }, LONG_SECONDS > 0 ? LONG_SECONDS * 1000 + 60_000 : 120_000);

  it('bounds: a head past maxHeaderSize is refused with 431 as soon as it is, however it arrives', () => {
    const line = 'X-Fill: ' + 'a'.repeat(100) + '\r\n';
    const head = Buffer.from('GET / HTTP/1.1\r\n' + line.repeat(Math.ceil(MAX_HEADER_SIZE / line.length) + 1) + '\r\n');
    const b = new Uint8Array(head);
    expect(ours(b, 0, b.length)).toEqual({ t: 'refused', status: 431 });
    // Without its end: refused once past the limit, not kept waiting.
    const open = b.subarray(0, MAX_HEADER_SIZE + 1);
    expect(ours(open, 0, open.length, [100, 5000])).toEqual({ t: 'refused', status: 431 });
    expect(ours(open.subarray(0, MAX_HEADER_SIZE), 0, MAX_HEADER_SIZE)).toEqual({ t: 'incomplete' });
    // More header lines than maxHeaders (100).
    const many = new Uint8Array(Buffer.from('GET / HTTP/1.1\r\n' + 'A: b\r\n'.repeat(101) + '\r\n'));
    expect(ours(many, 0, many.length)).toEqual({ t: 'refused', status: 431 });
  });

  it('strict CRLF: a bare LF or CR is refused at once, before the head ends', () => {
    for (const s of ['GET / HTTP/1.1\nHost: a', 'GET / HTTP/1.1\r\nHost: a\rb', 'GET / HTTP/1.1\r\nHost: a\r\n\n', '\nGET']) {
      const b = new Uint8Array(Buffer.from(s, 'latin1'));
      expect(ours(b, 0, b.length), s).toEqual({ t: 'refused', status: 400 });
      expect(llhttp(b).t, s).not.toBe('accepted');
    }
  });

  it('chunked bodies: 2,000 seeded bodies (valid and mutated) decode the same under every split into two reads, never throw, stop at their end', () => {
    const rnd = prng(SEED ^ 0xc4c4);
    const int = (n: number): number => Math.floor(rnd() * n);
    const decode = (b: Uint8Array, cuts: number[]): string => {
      const body = new ChunkedBody(1 << 20), out: number[] = [];
      const sink = { chunk: (x: Uint8Array, s0: number, e0: number) => { for (let i = s0; i < e0; i++) out.push(x[i]); } };
      let p = 0;
      for (const q of [...cuts, b.length]) {
        const r = body.feed(b, p, q, sink);
        if (r < 0) return `refused ${-r} after ${out.length}`;
        if (body.done) return `done at ${r} with ${Buffer.from(out).toString('latin1')}`;
        p = q;
      }
      return `waiting with ${out.length}`;
    };
    let valid = 0, refused = 0;
    for (let i = 0; i < 2000; i++) {
      let s = '', data = '';
      for (let k = int(5); k > 0; k--) {
        const part = 'x'.repeat(int(40)) + String.fromCharCode(97 + int(26));
        data += part;
        const size = part.length.toString(16);
        s += (rnd() < 0.5 ? size.toUpperCase() : size) + (rnd() < 0.2 ? ';ext=1' : '') + '\r\n' + part + '\r\n';
      }
      s += '0\r\n' + (rnd() < 0.2 ? 'X-T: 1\r\n' : '') + '\r\nNEXT';
      const bytes = Array.from(Buffer.from(s, 'latin1'));
      const mutated = rnd() < 0.5;
      if (mutated) bytes[int(bytes.length)] = [13, 10, 48, 59, 0, 255, 32][int(7)];
      const b = Uint8Array.from(bytes);
      const whole = decode(b, []);
      if (!mutated) {
        expect(whole).toBe(`done at ${b.length - 4} with ${data}`);
        valid++;
      }
      if (whole.startsWith('refused')) refused++;
      for (let k = 1; k < b.length; k++) expect(decode(b, [k])).toBe(whole);
    }
    expect(valid).toBeGreaterThan(500);
    expect(refused).toBeGreaterThan(100);
  });
});
