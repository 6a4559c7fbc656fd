// Close frame payloads (RFC 6455 §5.5.1, §7.4).
import { invalidCloseCode, invalidCloseLength, invalidUtf8, ProtocolError } from './errors.js';
import { isValidUtf8 } from './utf8.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Codes a peer may put on the wire: 1000-1003, 1007-1014 and 3000-4999.
 * 1004 is reserved, 1005/1006/1015 are never sent, 1016-2999 are unassigned.
 */
export function isValidCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) ||
    (code >= 3000 && code <= 4999);
}

/** The payload of a close frame we send; throws on a code or reason the RFC forbids. */
export function encodeClosePayload(code?: number, reason?: string | Uint8Array): Uint8Array {
  if (code === undefined) {
    if (reason !== undefined && reason.length > 0) throw new TypeError('A close reason needs a close code');
    return new Uint8Array(0);
  }
  if (typeof code !== 'number' || !isValidCloseCode(code)) throw new TypeError(`Invalid close code: ${code}`);
  const r = reason === undefined ? new Uint8Array(0) : typeof reason === 'string' ? encoder.encode(reason) : reason;
  if (r.length > 123) throw new RangeError('The close reason must not be longer than 123 bytes');
  const out = new Uint8Array(2 + r.length);
  out[0] = code >>> 8;
  out[1] = code & 0xff;
  out.set(r, 2);
  return out;
}

export interface ClosePayload { code: number; reason: string; reasonBytes: Uint8Array }

/** Parses a received close payload: 1005 when empty, a ProtocolError when invalid. */
export function decodeClosePayload(payload: Uint8Array): ClosePayload | ProtocolError {
  if (payload.length === 0) return { code: 1005, reason: '', reasonBytes: payload };
  if (payload.length === 1) return invalidCloseLength();
  const code = (payload[0] << 8) | payload[1];
  if (!isValidCloseCode(code)) return invalidCloseCode(code);
  const reasonBytes = payload.subarray(2);
  if (!isValidUtf8(reasonBytes)) return invalidUtf8();
  return { code, reason: decoder.decode(reasonBytes), reasonBytes };
}
