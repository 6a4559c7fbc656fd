// The 101 Switching Protocols that res.upgrade() writes (RFC 6455 §4.2.2), with
// permessage-deflate negotiated per the route's compression option by the
// codec's MessageDeflate (RFC 7692 §5: a header we cannot honour is declined,
// the connection goes on uncompressed). No Node imports: the accept value's SHA-1
// comes from the platform.
import { MessageDeflate } from '../codec/permessage-deflate.js';
import { SHARED_COMPRESSOR, negotiationFor } from './compression.js';

/** A Sec-WebSocket-Key is the base64 of 16 bytes (RFC 6455 §4.1). */
const KEY = /^[A-Za-z0-9+/]{21}[AQgw]==$/;
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

export function isValidKey(key: string): boolean { return KEY.test(key); }

export interface Handshake {
  /** The response head to write. */
  head: string;
  /** permessage-deflate for the connection, or null (not asked for, or declined). */
  deflate: MessageDeflate | null;
  /** The subprotocol chosen ('' for none). */
  protocol: string;
}

/**
 * The 101 for `key`, choosing the first of `protocol`'s comma-separated
 * subprotocols that is a token (uWS.js takes the first too) and answering `extensions` per
 * `compression` (the codec's MessageDeflate negotiates; messages up to
 * `maxPayload` inflated). `extraHeaders` are the lines the handler wrote
 * before upgrading. Throws on a key that is not one.
 */
export function handshake(acceptKey: (key: string) => string, key: string, protocol: string, extensions: string, compression: number,
  maxPayload: number, extraHeaders = ''): Handshake {
  key = key.trim();
  if (!isValidKey(key)) throw new TypeError('Invalid Sec-WebSocket-Key');
  let head = `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptKey(key)}\r\n`;
  // The first offer that is a token (RFC 6455 §4.1): the client's header reaches here
  // unchecked when there is no upgrade handler, and a bad one must not throw out of
  // the read (it took the process down); a value that is no token is not chosen.
  const chosen = protocol.split(',').map((p) => p.trim()).find((p) => TOKEN.test(p)) ?? '';
  if (chosen !== '') head += `Sec-WebSocket-Protocol: ${chosen}\r\n`;
  let deflate: MessageDeflate | null = null;
  const negotiation = negotiationFor(compression);
  if (negotiation !== null && extensions !== '') {
    // Every message the App compresses is asked for by send(..., compress): no size threshold.
    const pmd = new MessageDeflate({ ...negotiation, isServer: true, maxPayload, threshold: 0, sharedCompressor: (compression & 0xff) === SHARED_COMPRESSOR });
    const answer = pmd.acceptOffers(extensions);
    if (answer !== null) {
      deflate = pmd;
      head += `Sec-WebSocket-Extensions: ${answer}\r\n`;
    }
  }
  return { head: head + extraHeaders + '\r\n', deflate, protocol: chosen };
}
