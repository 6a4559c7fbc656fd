// XOR masking of bytes outside wasm memory, and the random masking keys.
import { getCodec } from './wasm.js';

// Up to 48 bytes a JS loop beats copying into wasm memory and back. Measured on
// this kind of machine, ns per call, JS loop vs wasm (copy in, mask, copy out):
// 32 B 50 vs 75, 48 B 70 vs 79, 64 B 93 vs 80, 128 B 186 vs 78. (ws draws the
// same line for bufferutil at 48 B.)
const JS_MASK_MAX = 48;

/** XORs `bytes` in place with the 4-byte key (read as a little-endian u32 of the header bytes). */
export function maskBytes(bytes: Uint8Array, key: number, rot = 0): void {
  const n = bytes.length;
  if (n <= JS_MASK_MAX) {
    for (let i = 0; i < n; i++) bytes[i] ^= (key >>> (((i + rot) & 3) << 3)) & 0xff;
    return;
  }
  const c = getCodec();
  const ptr = c.outPtr;
  const cap = c.outCap & ~3; // keeps the key phase per chunk
  for (let off = 0; off < n; off += cap) {
    const m = Math.min(cap, n - off);
    const part = bytes.subarray(off, off + m);
    c.u8.set(part, ptr);
    c.exports.mask(ptr, m, key, rot);
    part.set(c.u8.subarray(ptr, ptr + m));
  }
}

// Keys come from an 8 KiB pool of crypto randomness (one getRandomValues per
// 2,048 frames, like ws) so a small send does not pay a crypto call.
const POOL_SIZE = 8192;
const pool = new Uint8Array(POOL_SIZE);
const poolWords = new Uint32Array(pool.buffer);
let poolIndex = POOL_SIZE / 4;

/** A fresh random masking key, as a little-endian u32 of its 4 header bytes. */
export function randomMaskKey(): number {
  if (poolIndex === POOL_SIZE / 4) {
    globalThis.crypto.getRandomValues(pool);
    poolIndex = 0;
  }
  return poolWords[poolIndex++] >>> 0;
}
