// The HTTP/1.1 side of RFC 6455 §4 on bytes and strings only (no sockets): the
// server parses and checks an upgrade request and builds the 101 or the error
// response; the client builds its request and checks the server's answer.
// The one extension is permessage-deflate (RFC 7692): its negotiation is the
// codec's MessageDeflate; here its header values go in and out.
import type { MessageDeflate } from '../codec/index.js';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const KEY = /^[A-Za-z0-9+/]{21}[AQgw]==$/; // base64 of exactly 16 bytes
const utf8 = new TextEncoder();
const STATUS: Record<number, string> = {
  400: 'Bad Request', 405: 'Method Not Allowed', 408: 'Request Timeout', 426: 'Upgrade Required', 431: 'Request Header Fields Too Large',
};

/** A refused upgrade: the status and headers answered, and why. */
export class HandshakeError extends Error {
  constructor(readonly status: number, message: string, readonly headers: [string, string][] = []) { super(message); }
}

/** Sec-WebSocket-Accept for a key (RFC 6455 §4.2.2): base64(SHA-1(key + GUID)). */
export async function acceptValue(key: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-1', utf8.encode(key + GUID)));
  return btoa(String.fromCharCode(...digest));
}

/** Index of the blank line ending an HTTP head (the CR of CRLFCRLF), or -1. */
export function indexOfHeadEnd(b: Uint8Array, from = 0): number {
  for (let i = Math.max(3, from); i < b.length; i++) {
    if (b[i] === 10 && b[i - 1] === 13 && b[i - 2] === 10 && b[i - 3] === 13) return i - 3;
  }
  return -1;
}

const tokens = (v: string | undefined) => (v ?? '').split(',').map((t) => t.trim().toLowerCase()).filter(Boolean);

function parseHeaders(lines: string[]): Map<string, string> {
  const headers = new Map<string, string>();
  for (const line of lines) {
    const i = line.indexOf(':');
    const name = line.slice(0, i).toLowerCase();
    if (i <= 0 || !TOKEN.test(name)) throw new HandshakeError(400, 'Malformed header line');
    const value = line.slice(i + 1).trim();
    headers.set(name, headers.has(name) ? `${headers.get(name)}, ${value}` : value);
  }
  return headers;
}

export interface UpgradeRequest {
  /** The request target, e.g. `/chat?room=1`. */
  path: string;
  key: string;
  /** Header names in lower case; repeated headers joined with ", ". */
  headers: Map<string, string>;
  /** Sec-WebSocket-Protocol values offered, in order. */
  protocols: string[];
}

/** Parses and checks an upgrade request head (RFC 6455 §4.2.1); throws HandshakeError. */
export function parseUpgrade(head: string): UpgradeRequest {
  const lines = head.split('\r\n');
  const m = /^([A-Z]+) (\S+) HTTP\/(\d)\.(\d)$/.exec(lines[0]);
  if (!m) throw new HandshakeError(400, 'Malformed request line');
  const headers = parseHeaders(lines.slice(1));
  if (m[1] !== 'GET') throw new HandshakeError(405, 'Method Not Allowed', [['Allow', 'GET']]);
  if (Number(m[3]) * 10 + Number(m[4]) < 11) throw new HandshakeError(400, 'HTTP/1.1 required');
  if (!headers.get('host')) throw new HandshakeError(400, 'Missing Host');
  if (!tokens(headers.get('upgrade')).includes('websocket')) {
    throw new HandshakeError(426, 'Upgrade Required', [['Upgrade', 'websocket'], ['Connection', 'Upgrade']]);
  }
  if (!tokens(headers.get('connection')).includes('upgrade')) throw new HandshakeError(400, 'Missing Connection: Upgrade');
  const version = headers.get('sec-websocket-version');
  if (version === undefined) throw new HandshakeError(400, 'Missing Sec-WebSocket-Version');
  // 8 (hybi-08, same framing) as ws and our Node server accept it; 426 otherwise (RFC 6455 §4.4).
  if (version !== '13' && version !== '8') throw new HandshakeError(426, 'Unsupported WebSocket version', [['Sec-WebSocket-Version', '13, 8']]);
  const key = headers.get('sec-websocket-key') ?? '';
  if (!KEY.test(key)) throw new HandshakeError(400, 'Invalid Sec-WebSocket-Key');
  const offered = headers.get('sec-websocket-protocol');
  const protocols = offered === undefined ? [] : offered.split(',').map((p) => p.trim());
  if (offered !== undefined && !protocols.every((p) => TOKEN.test(p))) throw new HandshakeError(400, 'Invalid Sec-WebSocket-Protocol');
  return { path: m[2], key, headers, protocols };
}

/** The 101 answer (RFC 6455 §4.2.2). */
export async function acceptResponse(req: UpgradeRequest, protocol: string | undefined, extensions = ''): Promise<Uint8Array> {
  const lines = ['HTTP/1.1 101 Switching Protocols', 'Upgrade: websocket', 'Connection: Upgrade',
    `Sec-WebSocket-Accept: ${await acceptValue(req.key)}`];
  if (protocol) lines.push(`Sec-WebSocket-Protocol: ${protocol}`);
  if (extensions) lines.push(`Sec-WebSocket-Extensions: ${extensions}`);
  return utf8.encode(lines.join('\r\n') + '\r\n\r\n');
}

/** An HTTP error answer that closes the connection. */
export function errorResponse(e: HandshakeError): Uint8Array {
  const body = e.message + '\n';
  const lines = [`HTTP/1.1 ${e.status} ${STATUS[e.status] ?? 'Error'}`, 'Connection: close', 'Content-Type: text/plain',
    `Content-Length: ${utf8.encode(body).length}`, ...e.headers.map(([k, v]) => `${k}: ${v}`)];
  return utf8.encode(lines.join('\r\n') + '\r\n\r\n' + body);
}

/** The client's upgrade request (RFC 6455 §4.1) and the key it carries. */
export function upgradeRequest(url: URL, protocols: readonly string[], extensions = ''): { bytes: Uint8Array; key: string } {
  const key = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
  const lines = [`GET ${url.pathname || '/'}${url.search} HTTP/1.1`, `Host: ${url.host}`, 'Upgrade: websocket', 'Connection: Upgrade',
    `Sec-WebSocket-Key: ${key}`, 'Sec-WebSocket-Version: 13'];
  if (protocols.length > 0) lines.push(`Sec-WebSocket-Protocol: ${protocols.join(', ')}`);
  if (extensions) lines.push(`Sec-WebSocket-Extensions: ${extensions}`);
  return { bytes: utf8.encode(lines.join('\r\n') + '\r\n\r\n'), key };
}

/** Checks the server's answer head (RFC 6455 §4.1, client steps 1-6); returns the protocol chosen. */
export async function checkResponse(head: string, key: string, protocols: readonly string[], deflate?: MessageDeflate | null):
  Promise<{ protocol: string; extensions: string }> {
  const lines = head.split('\r\n');
  const status = /^HTTP\/1\.1 (\d{3})/.exec(lines[0]);
  if (!status || status[1] !== '101') throw new Error(`Unexpected server response: ${status ? status[1] : JSON.stringify(lines[0].slice(0, 80))}`);
  const headers = parseHeaders(lines.slice(1));
  if (!tokens(headers.get('upgrade')).includes('websocket')) throw new Error('Invalid Upgrade header');
  if (!tokens(headers.get('connection')).includes('upgrade')) throw new Error('Invalid Connection header');
  if (headers.get('sec-websocket-accept') !== await acceptValue(key)) throw new Error('Invalid Sec-WebSocket-Accept header');
  const protocol = headers.get('sec-websocket-protocol') ?? '';
  if (protocol && !protocols.includes(protocol)) throw new Error('Server sent an invalid subprotocol');
  if (!protocol && protocols.length > 0 && headers.has('sec-websocket-protocol')) throw new Error('Server sent no subprotocol');
  // An extension we did not offer is a protocol violation (§9.1); so is a permessage-deflate answer we cannot honour.
  const extensions = headers.get('sec-websocket-extensions') ?? '';
  if (extensions && !deflate) throw new Error('Server sent a Sec-WebSocket-Extensions header but no extension was requested');
  if (extensions && deflate) {
    try {
      deflate.acceptResponse(extensions);
    } catch (e) {
      throw new Error(`Invalid Sec-WebSocket-Extensions header: ${(e as Error).message}`);
    }
  }
  return { protocol, extensions: deflate?.active ? extensions : '' };
}
