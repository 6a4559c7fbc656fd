// A server-side WebSocket endpoint on the wasmsocket codec, independent of any
// I/O API: feed it the bytes read from a TCP connection with receive(), and it
// writes through the transport you give it. The Deno (Deno.listen) and Bun
// (Bun.listen) echo servers next to this folder are ~60 lines of glue around it.
//
// It speaks RFC 6455 without extensions: the HTTP/1.1 upgrade (with a cap on
// the request head and a handshake timeout), echo of every message with its
// type, pong for every ping, the close handshake (the reply echoes the peer's
// code and reason; the server closes TCP first, §7.1.1), and fails the
// connection with the decoder's close code on any protocol error.
// Only runtime-agnostic APIs: Uint8Array, TextEncoder/TextDecoder, crypto.subtle,
// setTimeout.
import { FrameDecoder, FrameEncoder, OPCODE, encodeClosePayload, type ProtocolError } from 'wasmsocket/codec';

export interface Transport {
  /** Queues bytes for the peer, in order. */
  write(bytes: Uint8Array): void;
  /** Sends FIN after everything queued (half-close); the peer's FIN or `abort` follows. */
  end(): void;
  /** Tears the connection down now. */
  abort(): void;
}

export interface EndpointOptions {
  /** Largest message accepted (bytes); ws's default is 100 MiB. */
  maxPayload?: number;
  /** Cap on the HTTP request head (bytes), as Node's default max header size. */
  maxHeaderBytes?: number;
  /** Time allowed for the HTTP upgrade request to arrive (ms). */
  handshakeTimeout?: number;
  /** Time to wait for the peer's close frame, or for its FIN after ours (ms). */
  closeTimeout?: number;
  /** Called with each message; the default echoes it with the same type. */
  onMessage?: (endpoint: ServerEndpoint, data: Uint8Array, isBinary: boolean) => void;
}

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const KEY = /^[A-Za-z0-9+/]{21}[AQgw]==$/; // base64 of exactly 16 bytes
const latin1 = new TextDecoder('latin1');
const encoder = new TextEncoder();
const STATUS: Record<number, string> = { 400: 'Bad Request', 405: 'Method Not Allowed', 426: 'Upgrade Required', 431: 'Request Header Fields Too Large' };

class HttpError extends Error {
  constructor(readonly status: number, message: string, readonly headers: [string, string][] = []) { super(message); }
}

/** Sec-WebSocket-Accept for a key (RFC 6455 §4.2.2): base64(SHA-1(key + GUID)). */
export async function acceptValue(key: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-1', encoder.encode(key + GUID)));
  return btoa(String.fromCharCode(...digest));
}

const tokens = (v: string | undefined) => (v ?? '').split(',').map((t) => t.trim().toLowerCase()).filter(Boolean);

/** Parses and checks an upgrade request head (RFC 6455 §4.2.1); throws HttpError. */
export function parseUpgrade(head: string): { path: string; key: string; protocol?: string } {
  const lines = head.split('\r\n');
  const m = /^([A-Z]+) (\S+) HTTP\/(\d)\.(\d)$/.exec(lines[0]);
  if (!m) throw new HttpError(400, 'Malformed request line');
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const i = line.indexOf(':');
    const name = line.slice(0, i).toLowerCase();
    if (i <= 0 || !TOKEN.test(name)) throw new HttpError(400, 'Malformed header line');
    const value = line.slice(i + 1).trim();
    headers.set(name, headers.has(name) ? `${headers.get(name)}, ${value}` : value);
  }
  if (m[1] !== 'GET') throw new HttpError(405, 'Method Not Allowed', [['Allow', 'GET']]);
  if (Number(m[3]) * 10 + Number(m[4]) < 11) throw new HttpError(400, 'HTTP/1.1 required');
  if (!headers.get('host')) throw new HttpError(400, 'Missing Host');
  if (!tokens(headers.get('upgrade')).includes('websocket')) throw new HttpError(426, 'Upgrade Required', [['Upgrade', 'websocket'], ['Connection', 'Upgrade']]);
  if (!tokens(headers.get('connection')).includes('upgrade')) throw new HttpError(400, 'Missing Connection: Upgrade');
  const version = headers.get('sec-websocket-version');
  if (version === undefined) throw new HttpError(400, 'Missing Sec-WebSocket-Version');
  if (version !== '13') throw new HttpError(426, 'Unsupported WebSocket version', [['Sec-WebSocket-Version', '13']]);
  const key = headers.get('sec-websocket-key') ?? '';
  if (!KEY.test(key)) throw new HttpError(400, 'Invalid Sec-WebSocket-Key');
  let protocol: string | undefined;
  const offered = headers.get('sec-websocket-protocol');
  if (offered !== undefined) {
    const list = offered.split(',').map((p) => p.trim());
    if (!list.every((p) => TOKEN.test(p))) throw new HttpError(400, 'Invalid Sec-WebSocket-Protocol');
    protocol = list[0]; // as ws does without handleProtocols: the first one offered
  }
  return { path: m[2], key, protocol };
}

export class ServerEndpoint {
  state: 'handshake' | 'open' | 'closing' | 'closed' = 'handshake';
  path = '';
  protocol: string | undefined;
  private head: Uint8Array[] = [];
  private headLength = 0;
  private upgrading = false;
  private readonly decoder: FrameDecoder;
  private readonly encoder = new FrameEncoder({ mask: false });
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly opts: Required<Omit<EndpointOptions, 'onMessage'>> & Pick<EndpointOptions, 'onMessage'>;

  constructor(private readonly transport: Transport, options: EndpointOptions = {}) {
    this.opts = { maxPayload: 100 * 1024 * 1024, maxHeaderBytes: 16 * 1024, handshakeTimeout: 10_000, closeTimeout: 5_000, ...options };
    this.decoder = new FrameDecoder({
      onMessage: (data, isBinary) => {
        if (this.state !== 'open') return;
        if (this.opts.onMessage) this.opts.onMessage(this, data, isBinary);
        else this.send(data, isBinary);
      },
      onPing: (data) => { if (this.state === 'open') this.transport.write(this.encoder.frame(OPCODE.pong, data)); },
      onPong: () => {},
      onClose: (code, _reason, payload) => {
        if (this.state === 'open') {
          // Echo the peer's code and reason (an empty close is answered empty).
          this.transport.write(this.encoder.frame(OPCODE.close, code === 1005 ? new Uint8Array(0) : payload));
        }
        this.finish();
      },
      onError: (err: ProtocolError) => this.fail(err.closeCode),
    }, { isServer: true, maxPayload: this.opts.maxPayload });
    this.timer = setTimeout(() => this.destroy(), this.opts.handshakeTimeout);
  }

  /** Feeds bytes read from the connection. */
  receive(chunk: Uint8Array): void {
    if (this.state === 'open' || this.state === 'closing') { this.decoder.push(chunk); return; }
    if (this.state !== 'handshake') return;
    // The request head (and any frames right behind it) waits here until the
    // accept value is computed.
    this.head.push(chunk.slice());
    this.headLength += chunk.length;
    if (!this.upgrading) this.tryUpgrade();
  }

  /** Sends a message. */
  send(data: Uint8Array | string, isBinary = typeof data !== 'string'): void {
    if (this.state !== 'open') return;
    const bytes = typeof data === 'string' ? encoder.encode(data) : data;
    this.transport.write(this.encoder.frame(isBinary ? OPCODE.binary : OPCODE.text, bytes));
  }

  /** Starts the closing handshake; TCP closes once the peer answers (or after closeTimeout). */
  close(code?: number, reason?: string): void {
    if (this.state !== 'open') return;
    this.transport.write(this.encoder.frame(OPCODE.close, encodeClosePayload(code, reason)));
    this.state = 'closing';
    this.arm(this.opts.closeTimeout);
  }

  /** The transport reports that the peer closed or reset the connection. */
  connectionClosed(): void {
    clearTimeout(this.timer);
    this.state = 'closed';
    this.decoder.reset();
  }

  private tryUpgrade(): void {
    const all = this.head.length === 1 ? this.head[0] : concat(this.head, this.headLength);
    this.head = [all];
    const end = indexOfHeadEnd(all);
    if (end < 0) {
      if (all.length > this.opts.maxHeaderBytes) this.reject(new HttpError(431, 'Request head too large'));
      return;
    }
    if (end > this.opts.maxHeaderBytes) { this.reject(new HttpError(431, 'Request head too large')); return; }
    let req: ReturnType<typeof parseUpgrade>;
    try {
      req = parseUpgrade(latin1.decode(all.subarray(0, end)));
    } catch (e) {
      this.reject(e instanceof HttpError ? e : new HttpError(400, 'Bad request'));
      return;
    }
    this.upgrading = true;
    acceptValue(req.key).then((accept) => {
      if (this.state !== 'handshake') return;
      const lines = ['HTTP/1.1 101 Switching Protocols', 'Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Accept: ${accept}`];
      if (req.protocol) lines.push(`Sec-WebSocket-Protocol: ${req.protocol}`);
      this.transport.write(encoder.encode(lines.join('\r\n') + '\r\n\r\n'));
      clearTimeout(this.timer);
      this.path = req.path;
      this.protocol = req.protocol;
      this.state = 'open';
      // Frames that came with the request, or while the accept was computed.
      const rest = concat(this.head, this.headLength).subarray(end + 4);
      this.head = [];
      if (rest.length > 0) this.decoder.push(rest);
    }, () => this.reject(new HttpError(400, 'Bad request')));
  }

  private reject(e: HttpError): void {
    const body = encoder.encode(e.message + '\n');
    const lines = [`HTTP/1.1 ${e.status} ${STATUS[e.status] ?? 'Error'}`, 'Connection: close', 'Content-Type: text/plain',
      `Content-Length: ${body.length}`, ...e.headers.map(([k, v]) => `${k}: ${v}`)];
    this.transport.write(concat([encoder.encode(lines.join('\r\n') + '\r\n\r\n'), body]));
    this.head = [];
    this.finish();
  }

  // _Fail the WebSocket Connection_ (§7.1.7): our close frame, then TCP.
  private fail(code: number): void {
    if (this.state === 'open') this.transport.write(this.encoder.frame(OPCODE.close, encodeClosePayload(code)));
    this.finish();
  }

  // Our side is done: FIN after what is queued, then wait (bounded) for the peer's.
  private finish(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.transport.end();
    this.arm(this.opts.closeTimeout);
  }

  private arm(ms: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.destroy(), ms);
  }

  private destroy(): void {
    this.state = 'closed';
    this.decoder.reset();
    this.transport.abort();
  }
}

function indexOfHeadEnd(b: Uint8Array): number {
  for (let i = 3; i < b.length; i++) {
    if (b[i] === 10 && b[i - 1] === 13 && b[i - 2] === 10 && b[i - 3] === 13) return i - 3;
  }
  return -1;
}

function concat(parts: Uint8Array[], total = parts.reduce((n, p) => n + p.length, 0)): Uint8Array {
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}
