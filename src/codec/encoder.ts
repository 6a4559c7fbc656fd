// Sans-I/O frame encoder: messages in, frame bytes out (RFC 6455 §5.2).
// A client masks every frame with a fresh random key (§5.3); a server never masks.
import { getCodec } from './wasm.js';
import { decoding } from './decoder.js';
import { maskBytes, randomMaskKey } from './mask.js';

export const OPCODE = { continuation: 0, text: 1, binary: 2, close: 8, ping: 9, pong: 10 } as const;

export interface FrameOptions { fin?: boolean; rsv1?: boolean }

/** Header length for a payload of `len` bytes. */
export function headerLength(len: number, masked: boolean): number {
  return (len < 126 ? 2 : len < 65536 ? 4 : 10) + (masked ? 4 : 0);
}

/**
 * Writes a frame header into `target` at `offset`; returns the offset after it.
 * `maskKey` < 0 means unmasked; otherwise the key as a little-endian u32.
 */
export function writeHeader(target: Uint8Array, offset: number, opcode: number, len: number,
  fin: boolean, rsv1: boolean, maskKey: number): number {
  target[offset] = (fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode;
  const m = maskKey >= 0 ? 0x80 : 0;
  let o = offset + 2;
  if (len < 126) {
    target[offset + 1] = m | len;
  } else if (len < 65536) {
    target[offset + 1] = m | 126;
    target[o] = len >>> 8;
    target[o + 1] = len & 0xff;
    o += 2;
  } else {
    target[offset + 1] = m | 127;
    const hi = Math.floor(len / 0x100000000);
    target[o] = 0; target[o + 1] = 0; target[o + 2] = hi >>> 8; target[o + 3] = hi & 0xff;
    target[o + 4] = len >>> 24; target[o + 5] = (len >>> 16) & 0xff;
    target[o + 6] = (len >>> 8) & 0xff; target[o + 7] = len & 0xff;
    o += 8;
  }
  if (m) {
    target[o] = maskKey & 0xff; target[o + 1] = (maskKey >>> 8) & 0xff;
    target[o + 2] = (maskKey >>> 16) & 0xff; target[o + 3] = maskKey >>> 24;
    o += 4;
  }
  return o;
}

export interface EncoderOptions {
  /** true for a client: every frame masked with a fresh random key. */
  mask: boolean;
  /** Allocates the output bytes (Node passes Buffer.allocUnsafe). */
  alloc?: (size: number) => Uint8Array;
  /** Key source, for reproducible tests; defaults to crypto randomness. */
  maskKey?: () => number;
}

export interface FrameSpec { opcode: number; payload: Uint8Array; fin?: boolean; rsv1?: boolean }

export class FrameEncoder {
  readonly mask: boolean;
  private readonly alloc: (size: number) => Uint8Array;
  private readonly nextKey: () => number;

  constructor(options: EncoderOptions) {
    this.mask = options.mask;
    this.alloc = options.alloc ?? ((n) => new Uint8Array(n));
    this.nextKey = options.maskKey ?? randomMaskKey;
  }

  /** One whole frame: header and (masked, for a client) payload in one buffer. */
  frame(opcode: number, payload: Uint8Array, options: FrameOptions = {}): Uint8Array {
    const len = payload.length;
    const key = this.mask ? this.nextKey() : -1;
    const out = this.alloc(headerLength(len, this.mask) + len);
    const o = writeHeader(out, 0, opcode, len, options.fin !== false, options.rsv1 === true, key);
    out.set(payload, o);
    if (key >= 0) maskBytes(out.subarray(o), key);
    return out;
  }

  /** Only the header, for writing a large unmasked payload without copying it. */
  header(opcode: number, len: number, options: FrameOptions = {}, maskKey = -1): Uint8Array {
    const out = this.alloc(headerLength(len, maskKey >= 0));
    writeHeader(out, 0, opcode, len, options.fin !== false, options.rsv1 === true, maskKey);
    return out;
  }

  /**
   * Many frames into one buffer (one write for many small messages). Batches
   * that fit wasm memory are framed and masked there in one call.
   */
  frames(specs: readonly FrameSpec[]): Uint8Array {
    let total = 0;
    let payloadBytes = 0;
    for (const s of specs) {
      total += headerLength(s.payload.length, this.mask) + s.payload.length;
      payloadBytes += s.payload.length;
    }
    const c = getCodec();
    // IN is busy while a decoder dispatches (frames() called from a handler): frame in JS then.
    if (specs.length > c.batchMax || total > c.outCap || payloadBytes > c.inCap || decoding()) {
      const out = this.alloc(total);
      let o = 0;
      for (const s of specs) {
        const f = this.frame(s.opcode, s.payload, s);
        out.set(f, o);
        o += f.length;
      }
      return out;
    }
    // Payloads go to IN (free between decoder calls), frames come out of OUT.
    let src = c.inPtr;
    for (let i = 0, j = 0; i < specs.length; i++, j += 4) {
      const s = specs[i];
      c.u8.set(s.payload, src);
      c.batch[j] = (s.fin !== false ? 0x80 : 0) | (s.rsv1 ? 0x40 : 0) | s.opcode | (this.mask ? 0x100 : 0);
      c.batch[j + 1] = src;
      c.batch[j + 2] = s.payload.length;
      c.batch[j + 3] = this.mask ? this.nextKey() : 0;
      src += s.payload.length;
    }
    const n = c.exports.encodeBatch(specs.length);
    const out = this.alloc(n);
    out.set(c.u8.subarray(c.outPtr, c.outPtr + n));
    return out;
  }
}
