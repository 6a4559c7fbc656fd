// Differential fuzzing of the frame decoder: seeded, reproducible streams
// (valid, mutated, hostile) fed under random splits, one byte at a time too,
// to both wasm builds, compared with a reference decoder that follows ws's
// Receiver rule for rule (test/helpers/fuzz.ts; the differences that are ours
// on purpose are named there in DIFFERENCES). The reference itself is checked
// against ws's own Receiver on the same generator.
//   npm test: a short run.   npm run fuzz: FUZZ_SECONDS (default 180) per build, printing cases/s and totals.
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { createRequire } from 'node:module';
import { forceScalar, getCodec } from '../src/codec/index.ts';
import { generate, referenceDecode, runFuzz, sameEvents, summary, type Ev } from './helpers/fuzz.ts';
import { prng } from './helpers/prng.ts';

const LONG_SECONDS = Number(process.env.FUZZ_SECONDS ?? 0);
const SHORT_CASES = 20_000;
const SEED = Number(process.env.FUZZ_SEED ?? 0x13f00d);

for (const build of ['simd', 'scalar'] as const) {
  describe(`decoder fuzz (${build} build)`, () => {
    beforeAll(() => forceScalar(build === 'scalar'));
    afterAll(() => forceScalar(false));

    it(LONG_SECONDS > 0 ? `long run: ${LONG_SECONDS} s` : `${SHORT_CASES.toLocaleString('en')} seeded cases agree with the reference under random splits`, () => {
      expect(getCodec().simd).toBe(build === 'simd');
      const started = Date.now();
      const until = LONG_SECONDS > 0 ? started + LONG_SECONDS * 1000 : Infinity;
      const count = LONG_SECONDS > 0 ? Number.MAX_SAFE_INTEGER : SHORT_CASES;
      // Seeds run in batches, so a long run reports progress and a failure names its seed.
      const total = { cases: 0, bytes: 0, same: 0, nonMinimalLength: 0, utf8AtFragment: 0, headerErrorWhenWhole: 0, lengthTopBit: 0, byteByByte: 0, errors: 0, messages: 0 };
      const offset = build === 'scalar' ? 1_000_000 : 0; // the builds run different streams
      let seed = SEED + offset;
      const batch = LONG_SECONDS > 0 ? 50_000 : count;
      let lastPrint = started;
      while (total.cases < count && Date.now() < until) {
        const { totals, failure } = runFuzz(seed, Math.min(batch, count - total.cases), until);
        for (const k of Object.keys(total) as Array<keyof typeof total>) total[k] += totals[k];
        if (failure) {
          console.error(`[fuzz ${build}] FAILURE (reproduce: FUZZ_SEED=${failure.seed - offset}, batch seed ${failure.seed}, case #${failure.index}):`, JSON.stringify(failure, null, 1));
          expect.fail(`seed ${failure.seed} case ${failure.index}: ${failure.why.slice(0, 2000)}`);
        }
        seed++;
        if (LONG_SECONDS > 0 && Date.now() - lastPrint > 10_000) {
          lastPrint = Date.now();
          console.log(`[fuzz ${build}] ${total.cases.toLocaleString('en')} cases, ${(total.cases / ((lastPrint - started) / 1000)).toFixed(0)} cases/s`);
        }
      }
      const secs = (Date.now() - started) / 1000;
      console.log(`[fuzz ${build}] ${total.cases.toLocaleString('en')} cases in ${secs.toFixed(1)} s (${(total.cases / secs).toFixed(0)} cases/s), ` +
        `${(total.bytes / 2 ** 20).toFixed(1)} MiB; identical ${total.same}, named differences: non-minimal length ${total.nonMinimalLength}, ` +
        `UTF-8 at fragment ${total.utf8AtFragment}, header error when whole ${total.headerErrorWhenWhole}, 64-bit length top bit ${total.lengthTopBit}; byte-by-byte ${total.byteByByte}; ${total.messages} messages, ${total.errors} errors`);
      expect(total.cases).toBeGreaterThan(0);
      // The generator must reach both outcomes and the split modes, or the run proves little.
      expect(total.errors).toBeGreaterThan(total.cases / 20);
      expect(total.messages).toBeGreaterThan(total.cases);
      expect(total.byteByByte).toBeGreaterThan(total.cases / 20);
    }, LONG_SECONDS > 0 ? LONG_SECONDS * 1000 + 120_000 : 120_000);
  });
}

describe("the reference decoder agrees with ws's Receiver", () => {
  const { Receiver } = createRequire(import.meta.url)('ws') as { Receiver: new (o: object) => NodeJS.WritableStream & { on(e: string, f: (...a: any[]) => void): void } };

  function wsDecode(bytes: Uint8Array, isServer: boolean, maxPayload: number): Promise<Ev[]> {
    return new Promise((resolve) => {
      const events: Ev[] = [];
      const rx = new Receiver({ isServer, maxPayload, allowSynchronousEvents: true });
      rx.on('message', (data: Buffer, isBinary: boolean) => events.push({ t: 'message', binary: isBinary, data: new Uint8Array(data) }));
      rx.on('ping', (data: Buffer) => events.push({ t: 'ping', data: new Uint8Array(data) }));
      rx.on('pong', (data: Buffer) => events.push({ t: 'pong', data: new Uint8Array(data) }));
      rx.on('conclude', (code: number, reason: Buffer) => events.push({ t: 'close', code, reason: new Uint8Array(reason) }));
      rx.on('error', (err: Error) => {
        const sym = Object.getOwnPropertySymbols(err).find((s) => s.description === 'status-code')!;
        events.push({ t: 'error', code: (err as any)[sym], why: (err as any).code });
      });
      rx.write(Buffer.from(bytes));
      setImmediate(() => setImmediate(() => resolve(events)));
    });
  }

  it('on 3,000 generated streams: same events, same close codes', async () => {
    const r = prng(SEED ^ 0x5a5a);
    let checked = 0;
    for (let i = 0; i < 3000; i++) {
      const c = generate(r);
      const ref = referenceDecode(c).events;
      const ws = await wsDecode(c.bytes, c.isServer, c.maxPayload);
      if (!sameEvents(ref, ws)) expect.fail(`case ${i} (${Buffer.from(c.bytes).toString('hex').slice(0, 400)}): reference ${summary(ref)} vs ws ${summary(ws)}`);
      checked++;
    }
    expect(checked).toBe(3000);
  }, 120_000);
});
