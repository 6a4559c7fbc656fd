// Collects what a FrameDecoder reports, for codec tests.
import { FrameDecoder, type DecoderOptions, type ProtocolError } from '../../src/codec/index.ts';

export type Event =
  | { type: 'message'; data: Uint8Array; isBinary: boolean; compressed: boolean }
  | { type: 'ping' | 'pong'; data: Uint8Array }
  | { type: 'close'; code: number; reason: string }
  | { type: 'error'; closeCode: number; code: string; message: string };

export function collector(options: DecoderOptions): { decoder: FrameDecoder; events: Event[] } {
  const events: Event[] = [];
  const decoder = new FrameDecoder({
    onMessage: (data, isBinary, compressed) => events.push({ type: 'message', data, isBinary, compressed }),
    onPing: (data) => events.push({ type: 'ping', data }),
    onPong: (data) => events.push({ type: 'pong', data }),
    onClose: (code, reason) => events.push({ type: 'close', code, reason }),
    onError: (e: ProtocolError) => events.push({ type: 'error', closeCode: e.closeCode, code: e.code, message: e.message }),
  }, options);
  return { decoder, events };
}

export function decodeAll(bytes: Uint8Array, options: DecoderOptions, splits: number[] = []): Event[] {
  const { decoder, events } = collector(options);
  let prev = 0;
  for (const s of [...splits, bytes.length]) {
    decoder.push(bytes.subarray(prev, s));
    prev = s;
  }
  return events;
}

export const hex = (s: string): Uint8Array => Uint8Array.from(s.replace(/\s+/g, '').match(/../g) ?? [], (b) => parseInt(b, 16));

export { prng } from './prng.ts';

/** Byte equality that stays fast on megabytes (deep toEqual walks every element). */
export function expectBytes(actual: Uint8Array, expected: Uint8Array): void {
  if (actual.length !== expected.length) throw new Error(`length ${actual.length} !== expected ${expected.length}`);
  const a = Buffer.from(actual.buffer, actual.byteOffset, actual.length);
  const b = Buffer.from(expected.buffer, expected.byteOffset, expected.length);
  if (!a.equals(b)) {
    let i = 0;
    while (a[i] === b[i]) i++;
    throw new Error(`bytes differ at ${i} of ${a.length}: ${a[i]} !== expected ${b[i]}`);
  }
}
