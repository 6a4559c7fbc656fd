// The decoder frees the message buffers it lets go of (grown past, trimmed,
// dropped) where the runtime can detach an ArrayBuffer, instead of leaving them
// to the GC (src/codec/decoder.ts, release()); what it delivers stays intact.
import { describe, expect, it } from 'vitest';
import { FrameDecoder, FrameEncoder, OPCODE } from '../src/codec/index.ts';

const canDetach = typeof (ArrayBuffer.prototype as { transfer?: unknown }).transfer === 'function';
const client = new FrameEncoder({ mask: true });
const KiB = 1024;

function decoderWith(allocated: Uint8Array[], delivered: Uint8Array[]): FrameDecoder {
  return new FrameDecoder({
    onMessage: (d) => delivered.push(d), onPing() {}, onPong() {}, onClose() {}, onError: (e) => { throw e; },
  }, { isServer: true, maxPayload: 16 * 1024 * KiB, alloc: (n) => { const b = new Uint8Array(n); allocated.push(b); return b; } });
}

describe.skipIf(!canDetach)('message buffers the decoder lets go of are detached at once', () => {
  it('a fragmented message: the buffers it grew past are detached, the one delivered is whole', () => {
    const allocated: Uint8Array[] = [], delivered: Uint8Array[] = [];
    const d = decoderWith(allocated, delivered);
    const part = (i: number) => new Uint8Array(96 * KiB).fill(i + 1);
    d.push(client.frame(OPCODE.binary, part(0), { fin: false }));
    d.push(client.frame(OPCODE.continuation, part(1), { fin: false }));
    d.push(client.frame(OPCODE.continuation, part(2)));
    expect(delivered).toHaveLength(1);
    const msg = delivered[0]!;
    expect(msg.length).toBe(3 * 96 * KiB);
    expect([msg[0], msg[96 * KiB], msg[msg.length - 1]]).toEqual([1, 2, 3]);
    const gone = allocated.filter((b) => b !== msg);
    expect(gone.length).toBeGreaterThan(0);
    expect(gone.every((b) => b.byteLength === 0)).toBe(true); // detached: the memory is back now
    expect(msg.byteLength).toBe(3 * 96 * KiB);
  });

  it('a message still arriving when the connection ends is detached by reset()', () => {
    const allocated: Uint8Array[] = [], delivered: Uint8Array[] = [];
    const d = decoderWith(allocated, delivered);
    d.push(client.frame(OPCODE.binary, new Uint8Array(128 * KiB), { fin: false }));
    expect(allocated.at(-1)!.byteLength).toBeGreaterThan(0);
    d.reset();
    expect(allocated.every((b) => b.byteLength === 0)).toBe(true);
    expect(delivered).toHaveLength(0);
  });

  it('never a buffer that shares its ArrayBuffer (a pool slice)', () => {
    const pool = new ArrayBuffer(1024 * KiB);
    let off = 0;
    const delivered: Uint8Array[] = [];
    const d = new FrameDecoder({ onMessage: (m) => delivered.push(m), onPing() {}, onPong() {}, onClose() {}, onError: (e) => { throw e; } },
      { isServer: true, alloc: (n) => { const b = new Uint8Array(pool, off, n); off += n; return b; } });
    d.push(client.frame(OPCODE.binary, new Uint8Array(100 * KiB), { fin: false }));
    d.push(client.frame(OPCODE.continuation, new Uint8Array(100 * KiB)));
    d.reset();
    expect(pool.byteLength).toBe(1024 * KiB);
    expect(delivered[0]!.length).toBe(200 * KiB);
  });
});
