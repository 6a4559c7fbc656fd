// The bytes a process puts on a Redis channel or stream entry for one message:
//
//   0..3   "WSB1"   magic + format version: anything else is foreign and ignored
//   4      flags    bit 0 binary, bit 1 compress, bit 2 broadcast (no topic)
//   5..12  origin   the publishing process's random id (it skips its own messages)
//   13..14 n        topic length in bytes (uint16 BE), then n bytes of UTF-8 topic
//   ...    payload  the message itself, byte-exact
//
// Binary-safe and self-describing, so a payload from another program on the
// same channel is recognised and counted instead of delivered.
import { Buffer, isUtf8 } from 'node:buffer';
import { randomBytes } from 'node:crypto';

const MAGIC = 0x57534231; // "WSB1"
const HEADER = 15;
const BINARY = 1, COMPRESS = 2, BROADCAST = 4;
export const ORIGIN_BYTES = 8;

export interface Envelope {
  origin: Buffer;
  topic: string | null;
  binary: boolean;
  compress: boolean;
  payload: Buffer;
}

export function newOrigin(): Buffer {
  return randomBytes(ORIGIN_BYTES);
}

export function encode(origin: Buffer, topic: string | null, payload: Uint8Array, binary: boolean, compress: boolean): Buffer {
  const topicLength = topic === null ? 0 : Buffer.byteLength(topic);
  if (topicLength > 0xffff) throw new RangeError('Topic longer than 65535 bytes');
  const out = Buffer.allocUnsafe(HEADER + topicLength + payload.length);
  out.writeUInt32BE(MAGIC, 0);
  out[4] = (binary ? BINARY : 0) | (compress ? COMPRESS : 0) | (topic === null ? BROADCAST : 0);
  origin.copy(out, 5);
  out.writeUInt16BE(topicLength, 13);
  if (topic !== null) out.write(topic, HEADER);
  out.set(payload, HEADER + topicLength); // a Buffer or, from the Web Streams door, a Uint8Array
  return out;
}

/** The envelope in `bytes`, or null when they are not one of ours (foreign or damaged). */
export function decode(bytes: Buffer): Envelope | null {
  if (bytes.length < HEADER || bytes.readUInt32BE(0) !== MAGIC) return null;
  const flags = bytes[4]!;
  if (flags & ~(BINARY | COMPRESS | BROADCAST)) return null;
  const topicLength = bytes.readUInt16BE(13);
  if (HEADER + topicLength > bytes.length) return null;
  const broadcast = (flags & BROADCAST) !== 0;
  if (broadcast && topicLength !== 0) return null;
  let topic: string | null = null;
  if (!broadcast) {
    const raw = bytes.subarray(HEADER, HEADER + topicLength);
    if (!isUtf8(raw)) return null;
    topic = raw.toString();
  }
  return {
    origin: bytes.subarray(5, 5 + ORIGIN_BYTES),
    topic,
    binary: (flags & BINARY) !== 0,
    compress: (flags & COMPRESS) !== 0,
    payload: bytes.subarray(HEADER + topicLength),
  };
}
