// Binary data as one Buffer, for everything that writes it: send() and the
// fan-out's frame-once broadcast (both above this layer).
import { Buffer } from 'node:buffer';

/** The binary forms send() and broadcast() accept (ws's list, fragments included). */
export type BinaryData = Buffer | ArrayBuffer | ArrayBufferView | readonly Buffer[] | readonly number[];

/** Any binary send() accepts, as one Buffer (a view where possible, no copy). */
export function toBuffer(data: BinaryData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) {
    // ws's 'fragments' binaryType hands out Buffer[]: echoing it sends the bytes.
    return data.every((d) => Buffer.isBuffer(d)) ? Buffer.concat(data as Buffer[]) : Buffer.from(data as number[]);
  }
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.from(data as unknown as Uint8Array);
}
