// uWebSockets.js's compression options (its CompressOptions bit layout: the
// compressor in the low byte, window bits in bits 4-7, the decompressor's
// window bits in bits 8-11) and what each means for permessage-deflate's
// negotiation (RFC 7692 §7.1) through the codec's negotiation options.
import type { DeflateNegotiationOptions } from '../codec/permessage-deflate.js';

export const DISABLED = 0;
export const SHARED_COMPRESSOR = 1;
export const SHARED_DECOMPRESSOR = 1 << 8;
export const DEDICATED_DECOMPRESSOR_32KB = 15 << 8;
export const DEDICATED_DECOMPRESSOR_16KB = 14 << 8;
export const DEDICATED_DECOMPRESSOR_8KB = 13 << 8;
export const DEDICATED_DECOMPRESSOR_4KB = 12 << 8;
export const DEDICATED_DECOMPRESSOR_2KB = 11 << 8;
export const DEDICATED_DECOMPRESSOR_1KB = 10 << 8;
export const DEDICATED_DECOMPRESSOR_512B = 9 << 8;
export const DEDICATED_DECOMPRESSOR = DEDICATED_DECOMPRESSOR_32KB;
export const DEDICATED_COMPRESSOR_3KB = (9 << 4) | 1;
export const DEDICATED_COMPRESSOR_4KB = (9 << 4) | 2;
export const DEDICATED_COMPRESSOR_8KB = (10 << 4) | 3;
export const DEDICATED_COMPRESSOR_16KB = (11 << 4) | 4;
export const DEDICATED_COMPRESSOR_32KB = (12 << 4) | 5;
export const DEDICATED_COMPRESSOR_64KB = (13 << 4) | 6;
export const DEDICATED_COMPRESSOR_128KB = (14 << 4) | 7;
export const DEDICATED_COMPRESSOR_256KB = (15 << 4) | 8;
export const DEDICATED_COMPRESSOR = DEDICATED_COMPRESSOR_256KB;

/**
 * The negotiation a compression option asks for, or null for DISABLED.
 * A shared compressor keeps no context between messages (server_no_context_takeover);
 * a dedicated one keeps a window of its size (server_max_window_bits below 15).
 * A shared decompressor (the default when none is named) needs the client to
 * reset its context (client_no_context_takeover); a dedicated one limits the
 * client's window (client_max_window_bits below 15).
 */
export function negotiationFor(compression: number): DeflateNegotiationOptions | null {
  const compressor = compression & 0xff, decompressorBits = (compression >> 8) & 0x0f;
  if (compressor === 0 && decompressorBits === 0) return null;
  const o: DeflateNegotiationOptions = {};
  if (compressor === SHARED_COMPRESSOR) o.serverNoContextTakeover = true;
  else if (compressor !== 0) {
    const bits = (compressor >> 4) & 0x0f;
    if (bits < 15) o.serverMaxWindowBits = bits;
  }
  if (decompressorBits <= 1) o.clientNoContextTakeover = true;
  else if (decompressorBits < 15) o.clientMaxWindowBits = decompressorBits;
  return o;
}
