import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isUtf8 as nodeIsUtf8 } from 'node:buffer';
import { FrameDecoder, FrameEncoder, OPCODE, encodeClosePayload, maskBytes, forceScalar, getCodec } from '../src/codec/index.ts';
import { collector, decodeAll, expectBytes, hex, prng, type Event } from './helpers/codec-harness.ts';

const text = (s: string) => new TextEncoder().encode(s);
const server = { isServer: true, maxPayload: 100 * 1024 * 1024 };
const client = { isServer: false, maxPayload: 100 * 1024 * 1024 };
const KEY = 0x3d21fa37; // the RFC's key 37 fa 21 3d as a little-endian u32

function msg(e: Event) {
  expect(e.type).toBe('message');
  return e as Extract<Event, { type: 'message' }>;
}

function collectorFor(out: string[]): FrameDecoder {
  return new FrameDecoder({
    onMessage: (d) => out.push(new TextDecoder().decode(d)), onPing() {}, onPong() {}, onClose() {},
    onError(e) { throw e; },
  }, { isServer: true });
}

function jsMask(bytes: Uint8Array, key: number, rot = 0): Uint8Array {
  const out = bytes.slice();
  for (let i = 0; i < out.length; i++) out[i] ^= (key >>> (((i + rot) & 3) * 8)) & 0xff;
  return out;
}

function maskedFrame(b0: number, payload: Uint8Array, key = KEY, lenBytes?: Uint8Array): Uint8Array {
  const len = payload.length;
  const head = lenBytes ?? (len < 126 ? Uint8Array.of(len) : len < 65536 ? Uint8Array.of(126, len >> 8, len & 255)
    : Uint8Array.of(127, 0, 0, 0, 0, len >>> 24, (len >>> 16) & 255, (len >>> 8) & 255, len & 255));
  head[0] |= 0x80;
  const k = Uint8Array.of(key & 255, (key >>> 8) & 255, (key >>> 16) & 255, key >>> 24);
  return Uint8Array.from([b0, ...head, ...k, ...jsMask(payload, key)]);
}

for (const build of ['simd', 'scalar'] as const) {
  describe(`codec (${build} build)`, () => {
    beforeAll(() => forceScalar(build === 'scalar'));
    afterAll(() => forceScalar(false));
    it('loads the expected build', () => {
      expect(getCodec().simd).toBe(build === 'simd');
    });

    describe('RFC 6455 §5.7 examples', () => {
      it('a single-frame unmasked text message', () => {
        const ev = decodeAll(hex('810548656c6c6f'), client);
        expect(ev).toHaveLength(1);
        expect(new TextDecoder().decode(msg(ev[0]).data)).toBe('Hello');
        expect(msg(ev[0]).isBinary).toBe(false);
        expect(new FrameEncoder({ mask: false }).frame(OPCODE.text, text('Hello'))).toEqual(hex('810548656c6c6f'));
      });
      it('a single-frame masked text message', () => {
        const bytes = hex('818537fa213d7f9f4d5158');
        const ev = decodeAll(bytes, server);
        expect(new TextDecoder().decode(msg(ev[0]).data)).toBe('Hello');
        expect(new FrameEncoder({ mask: true, maskKey: () => KEY }).frame(OPCODE.text, text('Hello'))).toEqual(bytes);
      });
      it('a fragmented unmasked text message', () => {
        const bytes = hex('010348656c 80026c6f');
        const ev = decodeAll(bytes, client);
        expect(ev).toHaveLength(1);
        expect(new TextDecoder().decode(msg(ev[0]).data)).toBe('Hello');
        const enc = new FrameEncoder({ mask: false });
        expect(enc.frames([{ opcode: OPCODE.text, payload: text('Hel'), fin: false },
          { opcode: OPCODE.continuation, payload: text('lo') }])).toEqual(bytes);
      });
      it('unmasked ping and masked pong', () => {
        expect(decodeAll(hex('890548656c6c6f'), client)).toEqual([{ type: 'ping', data: text('Hello') }]);
        expect(decodeAll(hex('8a8537fa213d7f9f4d5158'), server)).toEqual([{ type: 'pong', data: text('Hello') }]);
        expect(new FrameEncoder({ mask: true, maskKey: () => KEY }).frame(OPCODE.pong, text('Hello'))).toEqual(hex('8a8537fa213d7f9f4d5158'));
      });
      it('256 bytes binary in a 16-bit length frame', () => {
        const payload = Uint8Array.from({ length: 256 }, (_, i) => i);
        const bytes = Uint8Array.from([0x82, 0x7e, 0x01, 0x00, ...payload]);
        expect(new FrameEncoder({ mask: false }).frame(OPCODE.binary, payload)).toEqual(bytes);
        const ev = decodeAll(bytes, client);
        expect(msg(ev[0]).data).toEqual(payload);
        expect(msg(ev[0]).isBinary).toBe(true);
      });
      it('64 KiB binary in a 64-bit length frame', () => {
        const payload = Uint8Array.from({ length: 65536 }, (_, i) => (i * 7) & 255);
        const bytes = new Uint8Array(10 + 65536);
        bytes.set([0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0]);
        bytes.set(payload, 10);
        expectBytes(new FrameEncoder({ mask: false }).frame(OPCODE.binary, payload), bytes);
        expectBytes(msg(decodeAll(bytes, client)[0]).data, payload);
      });
    });

    describe('header forms', () => {
      for (const len of [0, 1, 125, 126, 127, 65535, 65536, 70000]) {
        for (const masked of [false, true]) {
          it(`${len} bytes, ${masked ? 'masked' : 'unmasked'}, split at every header byte`, () => {
            const payload = Uint8Array.from({ length: len }, (_, i) => (i * 31 + 7) & 255);
            const enc = new FrameEncoder({ mask: masked, maskKey: () => 0xa1b2c3d4 });
            const bytes = enc.frame(OPCODE.binary, payload);
            const hl = bytes.length - len;
            expect(hl).toBe((len < 126 ? 2 : len < 65536 ? 4 : 10) + (masked ? 4 : 0));
            for (let s = 0; s <= hl + 1 && s <= bytes.length; s++) {
              const ev = decodeAll(bytes, masked ? server : client, [s]);
              expect(ev).toHaveLength(1);
              expectBytes(msg(ev[0]).data, payload);
            }
          });
        }
      }
    });

    describe('protocol errors', () => {
      const cases: Array<[string, Uint8Array, number, string, object?]> = [
        ['RSV2 set', maskedFrame(0x81 | 0x20, text('a')), 1002, 'WS_ERR_UNEXPECTED_RSV_2_3'],
        ['RSV3 set', maskedFrame(0x81 | 0x10, text('a')), 1002, 'WS_ERR_UNEXPECTED_RSV_2_3'],
        ['RSV1 without deflate', maskedFrame(0xc1, text('a')), 1002, 'WS_ERR_UNEXPECTED_RSV_1'],
        ['RSV1 on a control frame with deflate', maskedFrame(0xc9, text('a')), 1002, 'WS_ERR_UNEXPECTED_RSV_1', { perMessageDeflate: true }],
        ['RSV1 on a continuation with deflate', Uint8Array.from([...maskedFrame(0x41, text('a')), ...maskedFrame(0xc0, text('b'))]), 1002, 'WS_ERR_UNEXPECTED_RSV_1', { perMessageDeflate: true }],
        ...[3, 4, 5, 6, 7, 11, 12, 13, 14, 15].map((op): [string, Uint8Array, number, string] =>
          [`reserved opcode ${op}`, maskedFrame(0x80 | op, text('a')), 1002, 'WS_ERR_INVALID_OPCODE']),
        ['fragmented ping', maskedFrame(0x09, text('a')), 1002, 'WS_ERR_EXPECTED_FIN'],
        ['126-byte ping', maskedFrame(0x89, new Uint8Array(126)), 1002, 'WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH'],
        ['continuation without a message', maskedFrame(0x80, text('a')), 1002, 'WS_ERR_INVALID_OPCODE'],
        ['text inside a fragmented message', Uint8Array.from([...maskedFrame(0x01, text('a')), ...maskedFrame(0x81, text('b'))]), 1002, 'WS_ERR_INVALID_OPCODE'],
        ['non-minimal 16-bit length', maskedFrame(0x82, new Uint8Array(100), KEY, Uint8Array.of(126, 0, 100)), 1002, 'WS_ERR_INVALID_PAYLOAD_LENGTH'],
        ['non-minimal 64-bit length', maskedFrame(0x82, new Uint8Array(200), KEY, Uint8Array.of(127, 0, 0, 0, 0, 0, 0, 0, 200)), 1002, 'WS_ERR_INVALID_PAYLOAD_LENGTH'],
        ['64-bit length with the top bit set', Uint8Array.of(0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4), 1002, 'WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH'],
        ['invalid UTF-8', maskedFrame(0x81, Uint8Array.of(0x61, 0xc0, 0x80)), 1007, 'WS_ERR_INVALID_UTF8'],
        ['truncated UTF-8 at the end of a message', maskedFrame(0x81, Uint8Array.of(0x61, 0xe2, 0x82)), 1007, 'WS_ERR_INVALID_UTF8'],
        ['close with 1 byte', maskedFrame(0x88, Uint8Array.of(3)), 1002, 'WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH'],
        ...[0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000].map((code): [string, Uint8Array, number, string] =>
          [`close code ${code}`, maskedFrame(0x88, Uint8Array.of(code >> 8, code & 255)), 1002, 'WS_ERR_INVALID_CLOSE_CODE']),
        ['close reason with invalid UTF-8', maskedFrame(0x88, Uint8Array.of(0x03, 0xe8, 0xff)), 1007, 'WS_ERR_INVALID_UTF8'],
        ['message above maxPayload', maskedFrame(0x82, new Uint8Array(101)), 1009, 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH', { maxPayload: 100 }],
      ];
      for (const [name, bytes, closeCode, code, extra] of cases) {
        it(name, () => {
          const ev = decodeAll(bytes, { ...server, ...extra });
          expect(ev.at(-1)).toMatchObject({ type: 'error', closeCode, code });
          expect(ev.filter((e) => e.type === 'error')).toHaveLength(1);
        });
      }
      it('an unmasked frame to a server and a masked frame to a client', () => {
        expect(decodeAll(hex('810548656c6c6f'), server)[0]).toMatchObject({ closeCode: 1002, code: 'WS_ERR_EXPECTED_MASK' });
        expect(decodeAll(hex('818537fa213d7f9f4d5158'), client)[0]).toMatchObject({ closeCode: 1002, code: 'WS_ERR_UNEXPECTED_MASK' });
      });
      it('maxPayload is checked from the header, before the payload arrives', () => {
        const header = Uint8Array.of(0x82, 0xff, 0, 0, 0, 0, 0, 0x10, 0, 0, 1, 2, 3, 4); // 1 MiB declared
        expect(decodeAll(header, { isServer: true, maxPayload: 1024 })).toEqual([expect.objectContaining({ closeCode: 1009 })]);
      });
      it('maxPayload counts the whole fragmented message', () => {
        const bytes = Uint8Array.from([...maskedFrame(0x02, new Uint8Array(60)), ...maskedFrame(0x80, new Uint8Array(60))]);
        expect(decodeAll(bytes, { isServer: true, maxPayload: 100 }).at(-1)).toMatchObject({ closeCode: 1009 });
        expect(msg(decodeAll(bytes, { isServer: true, maxPayload: 120 })[0]).data).toHaveLength(120);
      });
      it('invalid UTF-8 fails on the fragment that carries it, before the message ends', () => {
        const first = maskedFrame(0x01, Uint8Array.of(0x61, 0xed, 0xa0)); // surrogate prefix
        expect(decodeAll(first, server)).toEqual([expect.objectContaining({ type: 'error', closeCode: 1007 })]);
        const ok = Uint8Array.from([...maskedFrame(0x01, Uint8Array.of(0xe2, 0x82)), ...maskedFrame(0x80, Uint8Array.of(0xac))]);
        expect(new TextDecoder().decode(msg(decodeAll(ok, server)[0]).data)).toBe('€');
      });
      it('whole text messages can be validated by an injected whole-buffer validator', () => {
        let calls = 0;
        const opts = { ...server, isUtf8: (b: Uint8Array) => { calls++; return nodeIsUtf8(b); }, wholeMessageUtf8Min: 4 };
        expect(decodeAll(maskedFrame(0x81, Uint8Array.of(0x61, 0x62, 0xc0, 0x80)), opts)).toEqual([expect.objectContaining({ closeCode: 1007 })]);
        expect(calls).toBe(1);
        expect(msg(decodeAll(maskedFrame(0x81, text('héllo')), opts)[0]).data).toEqual(text('héllo'));
        expect(calls).toBe(2);
        // below the threshold, and fragmented messages, stay with the wasm validator
        expect(decodeAll(maskedFrame(0x81, Uint8Array.of(0xc0, 0x80)), opts)).toEqual([expect.objectContaining({ closeCode: 1007 })]);
        expect(decodeAll(maskedFrame(0x01, Uint8Array.of(0x61, 0x62, 0xc0, 0x80)), opts)).toEqual([expect.objectContaining({ closeCode: 1007 })]);
        expect(calls).toBe(2);
      });
      it('an all-ASCII whole message needs no validator call; one byte past ASCII anywhere takes it there', () => {
        let calls = 0;
        const opts = { ...server, isUtf8: (b: Uint8Array) => { calls++; return nodeIsUtf8(b); }, wholeMessageUtf8Min: 4 };
        for (const len of [4, 15, 16, 17, 63, 64, 65, 100, 1000, 1030]) {
          const ascii = new Uint8Array(len).fill(0x7a);
          calls = 0;
          expect(msg(decodeAll(maskedFrame(0x81, ascii), opts)[0]).data).toEqual(ascii);
          expect(calls).toBe(0);
          // A lone 0x80 (invalid) and a two-byte é (valid) at the start, in the SIMD blocks and in the tail.
          for (const at of new Set([0, len >> 1, len - 8, len - 2].filter((i) => i >= 0))) {
            const bad = ascii.slice();
            bad[at] = 0x80;
            calls = 0;
            expect(decodeAll(maskedFrame(0x81, bad), opts)).toEqual([expect.objectContaining({ closeCode: 1007 })]);
            expect(calls).toBe(1);
            const good = ascii.slice();
            good[at] = 0xc3; good[at + 1] = 0xa9;
            expect(msg(decodeAll(maskedFrame(0x81, good), opts)[0]).data).toEqual(good);
            expect(calls).toBe(2);
          }
        }
      });
      it('a push made from inside a handler (into this or another decoder) waits for the running dispatch, then runs in order', () => {
        const { decoder: b, events: bEvents } = collector(server);
        const order: string[] = [];
        let a: FrameDecoder;
        a = new FrameDecoder({
          onMessage: (d) => {
            const t = new TextDecoder().decode(d);
            order.push(`a:${t}`);
            if (t === 'one') { b.push(maskedFrame(0x81, text('to b'))); a.push(maskedFrame(0x81, text('again'))); order.push('pushed'); }
          },
          onPing() {}, onPong() {}, onClose() {}, onError(e) { throw e; },
        }, server);
        a.push(Uint8Array.from([...maskedFrame(0x81, text('one')), ...maskedFrame(0x81, text('two'))]));
        // Nothing ran inside the handler: 'two' (same dispatch) first, then the deferred pushes in order.
        expect(order).toEqual(['a:one', 'pushed', 'a:two', 'a:again']);
        expect(bEvents.map((e) => new TextDecoder().decode(msg(e).data))).toEqual(['to b']);
      });
      it('input after an error or a close is ignored', () => {
        const bytes = Uint8Array.from([...maskedFrame(0x88, encodeClosePayload(1000, 'bye')), ...maskedFrame(0x81, text('late'))]);
        expect(decodeAll(bytes, server)).toEqual([{ type: 'close', code: 1000, reason: 'bye' }]);
      });
    });

    describe('control frames and fragmentation', () => {
      it('control frames interleaved in a fragmented message, split at every byte', () => {
        const bytes = Uint8Array.from([
          ...maskedFrame(0x01, text('Hel')), ...maskedFrame(0x89, text('p1')),
          ...maskedFrame(0x00, text('lo ')), ...maskedFrame(0x8a, text('p2')), ...maskedFrame(0x80, text('world')),
          ...maskedFrame(0x88, encodeClosePayload(4000, 'done')),
        ]);
        for (let s = 0; s <= bytes.length; s++) {
          const ev = decodeAll(bytes, server, [s]);
          expect(ev).toEqual([
            { type: 'ping', data: text('p1') }, { type: 'pong', data: text('p2') },
            { type: 'message', data: text('Hello world'), isBinary: false, compressed: false },
            { type: 'close', code: 4000, reason: 'done' },
          ]);
        }
      });
      it('an empty close gives 1005', () => {
        expect(decodeAll(maskedFrame(0x88, new Uint8Array(0)), server)).toEqual([{ type: 'close', code: 1005, reason: '' }]);
      });
      it('a 4 MiB message in 65,536 fragments of 64 bytes arrives whole', () => {
        const payload = Uint8Array.from({ length: 4 << 20 }, (_, i) => i & 255);
        const enc = new FrameEncoder({ mask: true });
        const parts: Uint8Array[] = [];
        for (let i = 0; i < 65536; i++) {
          parts.push(enc.frame(i === 0 ? OPCODE.binary : OPCODE.continuation, payload.subarray(i * 64, i * 64 + 64), { fin: i === 65535 }));
        }
        const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
        let o = 0;
        for (const p of parts) { all.set(p, o); o += p.length; }
        const ev = decodeAll(all, server, [1000, 70000, 300000, 2000000]);
        expect(ev).toHaveLength(1);
        expectBytes(msg(ev[0]).data, payload);
      });
      it('a flood of empty fragments pins no memory', () => {
        const enc = new FrameEncoder({ mask: true });
        const empty = enc.frame(OPCODE.continuation, new Uint8Array(0), { fin: false });
        const flood = new Uint8Array(empty.length * 100000);
        for (let i = 0; i < 100000; i++) flood.set(empty, i * empty.length);
        const start = enc.frame(OPCODE.text, text('a'), { fin: false });
        const end = enc.frame(OPCODE.continuation, text('b'));
        const { decoder, events } = collector(server);
        decoder.push(start);
        const pinnedAfterStart = decoder.bufferedBytes;
        for (let o = 0; o < flood.length; o += 65536) decoder.push(flood.subarray(o, o + 65536));
        // 100,000 empty fragments later, the decoder holds no more than it did after the first one
        expect(decoder.bufferedBytes).toBe(pinnedAfterStart);
        expect(pinnedAfterStart).toBeLessThanOrEqual(64 + 6);
        decoder.push(end);
        expect(events).toEqual([{ type: 'message', data: text('ab'), isBinary: false, compressed: false }]);
      });
    });

    describe('re-entrancy', () => {
      it('a handler that pushes to another decoder and batch-encodes frames leaves the running decode intact', () => {
        const enc = new FrameEncoder({ mask: true });
        const inner: string[] = [];
        const outer: string[] = [];
        const innerDecoder = collectorFor(inner);
        const outerDecoder = new FrameDecoder({
          onMessage: (d) => {
            outer.push(new TextDecoder().decode(d));
            // runs while the outer decoder's descriptors are being dispatched
            // (1 KiB payloads: staged where the outer frames still wait in wasm memory)
            innerDecoder.push(enc.frames([{ opcode: OPCODE.text, payload: text(`inner ${outer.length}`.padEnd(1024, '.')) }]));
          },
          onPing() {}, onPong() {}, onClose() {}, onError(e) { throw e; },
        }, server);
        const bytes = enc.frames(Array.from({ length: 20 }, (_, i) => ({ opcode: OPCODE.text, payload: text(`outer message ${i}`) })));
        outerDecoder.push(bytes);
        expect(outer).toEqual(Array.from({ length: 20 }, (_, i) => `outer message ${i}`));
        expect(inner).toEqual(Array.from({ length: 20 }, (_, i) => `inner ${i + 1}`.padEnd(1024, '.')));
      });
    });

    describe('properties (seeded)', () => {
      it('decode(encode(x)) == x for random messages and random split points', () => {
        const rnd = prng(build === 'simd' ? 1 : 2);
        for (let round = 0; round < 300; round++) {
          const masked = rnd() < 0.5;
          const enc = new FrameEncoder({ mask: masked });
          const msgs: Array<{ bin: boolean; data: Uint8Array }> = [];
          const frames: Uint8Array[] = [];
          const count = 1 + Math.floor(rnd() * 8);
          for (let m = 0; m < count; m++) {
            const r = rnd();
            const len = r < 0.6 ? Math.floor(rnd() * 130) : r < 0.9 ? Math.floor(rnd() * 70000) : Math.floor(rnd() * 300000);
            const data = new Uint8Array(len);
            for (let i = 0; i < len; i++) data[i] = rnd() < 0.5 ? 0x20 + Math.floor(rnd() * 90) : Math.floor(rnd() * 128);
            const bin = rnd() < 0.5;
            msgs.push({ bin, data });
            const nfrag = rnd() < 0.3 ? 1 + Math.floor(rnd() * 4) : 1;
            const step = Math.ceil(len / nfrag) || 1;
            for (let f = 0, off = 0; f < nfrag; f++, off += step) {
              frames.push(enc.frame(f === 0 ? (bin ? OPCODE.binary : OPCODE.text) : OPCODE.continuation,
                data.subarray(off, Math.min(len, off + step)), { fin: f === nfrag - 1 }));
              if (rnd() < 0.2) frames.push(enc.frame(OPCODE.ping, new Uint8Array(Math.floor(rnd() * 126))));
            }
          }
          const total = frames.reduce((n, f) => n + f.length, 0);
          const all = new Uint8Array(total);
          let o = 0;
          for (const f of frames) { all.set(f, o); o += f.length; }
          const splits = Array.from({ length: Math.floor(rnd() * 6) }, () => Math.floor(rnd() * total)).sort((a, b) => a - b);
          const ev = decodeAll(all, masked ? server : client, splits).filter((e) => e.type === 'message');
          expect(ev).toHaveLength(msgs.length);
          ev.forEach((e, i) => expectBytes(msg(e).data, msgs[i].data));
          expect(ev.map((e) => msg(e).isBinary)).toEqual(msgs.map((m) => m.bin));
        }
      });
      it('wasm masking agrees with a JS reference on random inputs, lengths and rotations', () => {
        const rnd = prng(build === 'simd' ? 3 : 4);
        let bytes = 0;
        for (let round = 0; round < 20000; round++) {
          const len = round % 100 === 0 ? Math.floor(rnd() * 300000) : Math.floor(rnd() * 600);
          const data = new Uint8Array(len);
          for (let i = 0; i < len; i++) data[i] = (rnd() * 256) | 0;
          const key = (rnd() * 0x100000000) >>> 0;
          const rot = (rnd() * 4) | 0;
          const got = data.slice();
          maskBytes(got, key, rot);
          expectBytes(got, jsMask(data, key, rot));
          bytes += len;
        }
        expect(bytes).toBeGreaterThan(1_000_000);
      });
    });
  });
}
