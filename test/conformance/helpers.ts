// Raw-byte RFC 6455 conformance helpers.
//
// Everything here is deliberately independent of the library under test: the
// HTTP upgrade is written by hand, client/server frames are built byte by byte,
// and frames coming back are parsed by the small parser below. The library is
// only used as the thing being tested (WebSocketServer / WebSocket).
//
// The implementation under test is chosen with WS_IMPL:
//   WS_IMPL=ws  -> the `ws` package (used to shake out the tests themselves)
//   otherwise   -> ../../src/index.ts (wasmsocket)
//
// The transport with CONFORMANCE_TRANSPORT (vitest.config.ts runs the suite both ways):
//   unset / tcp -> a TCP connection per WebSocket, HTTP/1.1 Upgrade
//   h2          -> an HTTP/2 stream per WebSocket (RFC 8441 extended CONNECT) on a
//                  cleartext HTTP/2 connection; the frames are the same bytes. Cases
//                  about HTTP/1.1 or TCP themselves skip, with the reason.
//   app         -> the server side is wasmsocket/app (uWS.js's API, src/app) echoing
//                  every message; client cases and cases driving ws's server
//                  objects skip, with the reason (appEchoServer below).
import net from 'node:net';
import http2, { type ClientHttp2Session, type ClientHttp2Stream, type ServerHttp2Session } from 'node:http2';
import type { Duplex } from 'node:stream';
import { once } from 'node:events';
import { createHash, randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type * as WsModule from 'ws';
import { TestRunner } from 'vitest';

type Mod = typeof WsModule;

export const impl: 'ws' | 'wasmsocket' = process.env.WS_IMPL === 'ws' ? 'ws' : 'wasmsocket';
export const isWs = impl === 'ws';
export const overH2 = process.env.CONFORMANCE_TRANSPORT === 'h2';
export const overApp = process.env.CONFORMANCE_TRANSPORT === 'app';
if (overApp && isWs) throw new Error('CONFORMANCE_TRANSPORT=app runs the server side on wasmsocket/app, not ws');
if (overH2 && isWs) throw new Error('CONFORMANCE_TRANSPORT=h2 needs WebSockets over HTTP/2, which ws does not have');
/** The transport, for test titles. */
export const transport = overH2 ? 'h2' : overApp ? 'app' : 'tcp';

/** Skips the running case when the server under test is the App door (a case it cannot apply to: say why). */
export function notOverApp(reason: string): void {
  if (!overApp) return;
  TestRunner.getCurrentTest()?.context.skip(`App door: ${reason}`);
  throw new Error(`App door: ${reason}`);
}

/** Skips the running case when the suite runs over HTTP/2 (a case about HTTP/1.1 or TCP itself). */
export function onlyOverTcp(reason: string): void {
  if (!overH2) return;
  TestRunner.getCurrentTest()?.context.skip(`over HTTP/2: ${reason}`);
  throw new Error(`over HTTP/2: ${reason}`);
}

// A variable specifier keeps the bundler from resolving our implementation when
// WS_IMPL=ws (it may not exist yet); it is resolved relative to this file.
const OURS = '../../src/index.ts';
const mod: Mod = isWs ? await import('ws') : await import(/* @vite-ignore */ OURS);

export const WebSocketServer = mod.WebSocketServer as Mod['WebSocketServer'];
export const WebSocket = mod.WebSocket as Mod['WebSocket'];
export type WebSocketServer = WsModule.WebSocketServer;
export type WebSocket = WsModule.WebSocket;
export type ServerOptions = WsModule.ServerOptions;
export type ClientOptions = WsModule.ClientOptions;

export const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
export const OP = { CONT: 0x0, TEXT: 0x1, BINARY: 0x2, CLOSE: 0x8, PING: 0x9, PONG: 0xa } as const;

export const DEFAULT_TIMEOUT = 2000;

// ---------------------------------------------------------------------------
// small utilities

// mulberry32: seeded PRNG so "random" tests are reproducible.
import { prng } from '../helpers/prng.ts';
export { prng };

export function randomBuf(rand: () => number, n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (rand() * 256) | 0;
  return b;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export const bytes = (...xs: number[]) => Buffer.from(xs);
export const utf8 = (s: string) => Buffer.from(s, 'utf8');

export function acceptFor(key: string): string {
  return createHash('sha1').update(key + GUID).digest('base64');
}

export function newKey(): string {
  return randomBytes(16).toString('base64');
}

const maskRand = prng(0x5eed1234);

/** Bounded wait for a condition that is re-checked whenever `sig` fires. */
class Signal {
  private waiters = new Set<() => void>();
  fire(): void {
    for (const w of [...this.waiters]) w();
  }
  async until<T>(get: () => T | undefined, timeoutMs: number, what: string, dead?: () => string | undefined): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = get();
      if (v !== undefined) return v;
      const d = dead?.();
      if (d) throw new Error(`${what}: ${d}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(t);
          this.waiters.delete(done);
          resolve();
        };
        const t = setTimeout(done, left);
        this.waiters.add(done);
      });
    }
  }
}

// ---------------------------------------------------------------------------
// frame building (independent of the library's codec)

export interface FrameSpec {
  opcode: number;
  payload?: Uint8Array | string;
  /** default true */
  fin?: boolean;
  rsv1?: boolean;
  rsv2?: boolean;
  rsv3?: boolean;
  /** a 4-byte key, true (random key), or false (unmasked). Default: true. */
  mask?: Uint8Array | boolean;
  /** force a length encoding, even a non-minimal one */
  lengthForm?: 7 | 16 | 64;
  /** write this value in the length field instead of payload.length (lying / header-only frames) */
  declaredLength?: number | bigint;
  /** only emit the header (+ mask key), not the payload */
  headerOnly?: boolean;
}

export function buildFrame(spec: FrameSpec): Buffer {
  const payload = typeof spec.payload === 'string' ? utf8(spec.payload) : Buffer.from(spec.payload ?? Buffer.alloc(0));
  const fin = spec.fin ?? true;
  const declared = BigInt(spec.declaredLength ?? payload.length);
  const form = spec.lengthForm ?? (declared < 126n ? 7 : declared < 65536n ? 16 : 64);
  let key: Buffer | undefined;
  const m = spec.mask ?? true;
  if (m === true) key = randomBuf(maskRand, 4);
  else if (m !== false) key = Buffer.from(m);
  if (key && key.length !== 4) throw new Error('mask key must be 4 bytes');

  const b0 = (fin ? 0x80 : 0) | (spec.rsv1 ? 0x40 : 0) | (spec.rsv2 ? 0x20 : 0) | (spec.rsv3 ? 0x10 : 0) | (spec.opcode & 0x0f);
  const maskBit = key ? 0x80 : 0;
  let head: Buffer;
  if (form === 7) {
    if (declared > 125n) throw new Error('7-bit form cannot carry ' + declared);
    head = Buffer.from([b0, maskBit | Number(declared)]);
  } else if (form === 16) {
    if (declared > 0xffffn) throw new Error('16-bit form cannot carry ' + declared);
    head = Buffer.from([b0, maskBit | 126, Number(declared >> 8n) & 0xff, Number(declared) & 0xff]);
  } else {
    head = Buffer.alloc(10);
    head[0] = b0;
    head[1] = maskBit | 127;
    head.writeBigUInt64BE(declared, 2);
  }
  if (spec.headerOnly) return key ? Buffer.concat([head, key]) : head;
  if (!key) return Buffer.concat([head, payload]);
  const masked = Buffer.allocUnsafe(payload.length);
  for (let i = 0; i < payload.length; i++) masked[i] = payload[i] ^ key[i & 3];
  return Buffer.concat([head, key, masked]);
}

/** A masked frame, as a client must send it. */
export const cf = (spec: FrameSpec) => buildFrame({ mask: true, ...spec });
/** An unmasked frame, as a server must send it. */
export const sf = (spec: FrameSpec) => buildFrame({ ...spec, mask: spec.mask ?? false });

export function closePayload(code?: number, reason: string | Uint8Array = ''): Buffer {
  if (code === undefined) return Buffer.alloc(0);
  const r = typeof reason === 'string' ? utf8(reason) : Buffer.from(reason);
  const b = Buffer.alloc(2 + r.length);
  b.writeUInt16BE(code, 0);
  r.copy(b, 2);
  return b;
}

// ---------------------------------------------------------------------------
// frame parsing (independent of the library's codec)

export interface Frame {
  fin: boolean;
  rsv1: boolean;
  rsv2: boolean;
  rsv3: boolean;
  opcode: number;
  masked: boolean;
  maskKey?: Buffer;
  /** unmasked payload */
  payload: Buffer;
  lengthForm: 7 | 16 | 64;
  /** whether the length used the minimal encoding (RFC 6455 §5.2) */
  minimalLength: boolean;
}

/** Parse one frame from the start of `buf`; undefined if incomplete. */
export function parseFrame(buf: Buffer): { frame: Frame; size: number } | undefined {
  if (buf.length < 2) return undefined;
  const b0 = buf[0];
  const b1 = buf[1];
  const masked = (b1 & 0x80) !== 0;
  let len = b1 & 0x7f;
  let off = 2;
  let lengthForm: 7 | 16 | 64 = 7;
  if (len === 126) {
    if (buf.length < 4) return undefined;
    len = buf.readUInt16BE(2);
    off = 4;
    lengthForm = 16;
  } else if (len === 127) {
    if (buf.length < 10) return undefined;
    const big = buf.readBigUInt64BE(2);
    if (big > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error('peer sent a frame with a 64-bit length >= 2^53: ' + big);
    len = Number(big);
    off = 10;
    lengthForm = 64;
  }
  let maskKey: Buffer | undefined;
  if (masked) {
    if (buf.length < off + 4) return undefined;
    maskKey = Buffer.from(buf.subarray(off, off + 4));
    off += 4;
  }
  if (buf.length < off + len) return undefined;
  const payload = Buffer.from(buf.subarray(off, off + len));
  if (maskKey) for (let i = 0; i < payload.length; i++) payload[i] ^= maskKey[i & 3];
  const minimalLength = lengthForm === 7 || (lengthForm === 16 ? len >= 126 : len >= 65536);
  return {
    frame: {
      fin: (b0 & 0x80) !== 0,
      rsv1: (b0 & 0x40) !== 0,
      rsv2: (b0 & 0x20) !== 0,
      rsv3: (b0 & 0x10) !== 0,
      opcode: b0 & 0x0f,
      masked,
      maskKey,
      payload,
      lengthForm,
      minimalLength,
    },
    size: off + len,
  };
}

export function closeInfo(f: Frame): { code?: number; reason: Buffer } {
  if (f.opcode !== OP.CLOSE) throw new Error(`expected a close frame, got opcode ${f.opcode} (${fmt(f)})`);
  if (f.payload.length === 0) return { code: undefined, reason: Buffer.alloc(0) };
  if (f.payload.length === 1) throw new Error('peer sent a close frame with a 1-byte payload');
  return { code: f.payload.readUInt16BE(0), reason: f.payload.subarray(2) };
}

export function fmt(f: Frame): string {
  const p = f.payload.length > 40 ? f.payload.subarray(0, 40).toString('hex') + '…' : f.payload.toString('hex');
  return `op=${f.opcode} fin=${+f.fin} rsv=${+f.rsv1}${+f.rsv2}${+f.rsv3} masked=${+f.masked} len=${f.payload.length} payload=${p}`;
}

// ---------------------------------------------------------------------------
// HTTP

export interface HttpHead {
  startLine: string;
  /** response: status code; request: 0 */
  status: number;
  method: string;
  target: string;
  version: string;
  /** lower-cased names; repeated fields joined with ', ' */
  headers: Record<string, string>;
  rawHeaders: [string, string][];
  body: Buffer;
}

function parseHead(text: string): Omit<HttpHead, 'body'> {
  const lines = text.split('\r\n');
  const startLine = lines[0];
  const parts = startLine.split(' ');
  const isResponse = startLine.startsWith('HTTP/');
  const headers: Record<string, string> = {};
  const rawHeaders: [string, string][] = [];
  for (const line of lines.slice(1)) {
    if (!line) continue;
    const i = line.indexOf(':');
    if (i < 0) throw new Error('bad header line: ' + JSON.stringify(line));
    const name = line.slice(0, i).trim();
    const value = line.slice(i + 1).trim();
    rawHeaders.push([name, value]);
    const k = name.toLowerCase();
    headers[k] = k in headers ? `${headers[k]}, ${value}` : value;
  }
  return {
    startLine,
    status: isResponse ? Number(parts[1]) : 0,
    method: isResponse ? '' : parts[0],
    target: isResponse ? '' : parts[1],
    version: isResponse ? parts[0] : parts[2],
    headers,
    rawHeaders,
  };
}

/** Comma-separated token list of a header, lower-cased. */
export function tokens(value: string | undefined): string[] {
  return (value ?? '').split(',').map((t) => t.trim().toLowerCase()).filter(Boolean);
}

export interface HandshakeOptions {
  key?: string | null;
  path?: string;
  host?: string | null;
  method?: string;
  version?: string | null;
  upgrade?: string | null;
  connection?: string | null;
  /** extra header lines, in order, e.g. [['Sec-WebSocket-Protocol', 'chat']] */
  extra?: [string, string][];
}

export function handshakeRequest(port: number, o: HandshakeOptions = {}): string {
  const lines = [`${o.method ?? 'GET'} ${o.path ?? '/'} HTTP/1.1`];
  const host = o.host === undefined ? `127.0.0.1:${port}` : o.host;
  if (host !== null) lines.push(`Host: ${host}`);
  const upgrade = o.upgrade === undefined ? 'websocket' : o.upgrade;
  if (upgrade !== null) lines.push(`Upgrade: ${upgrade}`);
  const connection = o.connection === undefined ? 'Upgrade' : o.connection;
  if (connection !== null) lines.push(`Connection: ${connection}`);
  if (o.key !== null) lines.push(`Sec-WebSocket-Key: ${o.key ?? newKey()}`);
  const version = o.version === undefined ? '13' : o.version;
  if (version !== null) lines.push(`Sec-WebSocket-Version: ${version}`);
  for (const [k, v] of o.extra ?? []) lines.push(`${k}: ${v}`);
  return lines.join('\r\n') + '\r\n\r\n';
}

export function handshakeResponse(key: string, extra: [string, string][] = []): string {
  const lines = ['HTTP/1.1 101 Switching Protocols', 'Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Accept: ${acceptFor(key)}`];
  for (const [k, v] of extra) lines.push(`${k}: ${v}`);
  return lines.join('\r\n') + '\r\n\r\n';
}

// ---------------------------------------------------------------------------
// a raw TCP connection with a byte buffer we parse ourselves

const live = new Set<RawConn>();
const liveClients = new Set<WebSocket>();

export class RawConn {
  /** A TCP socket, or (over HTTP/2) the WebSocket's stream. */
  readonly sock: net.Socket | ClientHttp2Stream | Duplex;
  /** Over HTTP/2: the session this test connection opened (destroyed with it). */
  session: ClientHttp2Session | undefined;
  /** Over HTTP/2 on the raw server: the CONNECT's headers, and how to answer them. */
  h2: { headers: http2.IncomingHttpHeaders; respond(extra: [string, string][]): void } | undefined;
  private chunks: Buffer[] = [];
  private len = 0;
  ended = false;
  closed = false;
  error: Error | undefined;
  private sig = new Signal();
  /** every frame read so far (for diagnostics) */
  readonly frames: Frame[] = [];

  constructor(sock: net.Socket | Duplex) {
    this.sock = sock;
    live.add(this);
    if (sock instanceof net.Socket) sock.setNoDelay(true);
    sock.on('data', (d: Buffer) => {
      this.chunks.push(d);
      this.len += d.length;
      this.sig.fire();
    });
    sock.on('end', () => {
      this.ended = true;
      // An HTTP/2 stream stays half-open after the peer's END_STREAM; a TCP
      // socket (allowHalfOpen false) answers FIN with FIN. Same peer either way.
      if (!(sock instanceof net.Socket) && !sock.writableEnded) sock.end();
      this.sig.fire();
    });
    sock.on('close', () => {
      this.closed = true;
      live.delete(this);
      this.sig.fire();
    });
    sock.on('error', (e) => {
      this.error = e;
      this.sig.fire();
    });
  }

  static async connect(port: number): Promise<RawConn> {
    const sock = net.connect({ port, host: '127.0.0.1' });
    const c = new RawConn(sock);
    await Promise.race([
      once(sock, 'connect'),
      sleep(DEFAULT_TIMEOUT).then(() => {
        throw new Error('connect timeout');
      }),
    ]);
    return c;
  }

  get buffered(): number {
    return this.len;
  }

  /** all unread bytes (does not consume) */
  peek(): Buffer {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0] ?? Buffer.alloc(0);
  }

  private head(n: number): Buffer {
    // concatenate only enough chunks to see n bytes
    if (!this.chunks.length) return Buffer.alloc(0);
    if (this.chunks[0].length >= n || this.chunks.length === 1) return this.chunks[0];
    let have = 0;
    let k = 0;
    while (k < this.chunks.length && have < n) have += this.chunks[k++].length;
    const merged = Buffer.concat(this.chunks.slice(0, k));
    this.chunks.splice(0, k, merged);
    return merged;
  }

  private consume(n: number): void {
    const all = this.peek();
    const rest = all.subarray(n);
    this.chunks = rest.length ? [rest] : [];
    this.len -= n;
  }

  private deadReason = (): string | undefined => {
    if (this.closed || this.ended) {
      const e = this.error ? ` (${this.error.message})` : '';
      return `connection ${this.closed ? 'closed' : 'ended'} by peer${e}; ${this.len} unread bytes: ${this.peek().subarray(0, 64).toString('hex')}`;
    }
    return undefined;
  };

  write(...data: (Uint8Array | string)[]): void {
    if (this.sock.destroyed) return;
    for (const d of data) this.sock.write(d);
  }

  /** write bytes one (or `step`) at a time with a small pause between writes */
  async writeSlowly(data: Uint8Array | string, step = 1, pauseMs = 1): Promise<void> {
    const b = typeof data === 'string' ? utf8(data) : Buffer.from(data);
    for (let i = 0; i < b.length; i += step) {
      this.write(b.subarray(i, i + step));
      await sleep(pauseMs);
    }
  }

  /** Read the next frame. Fails on timeout or if the peer closes first. */
  readFrame(timeoutMs = DEFAULT_TIMEOUT): Promise<Frame> {
    return this.sig.until(
      () => {
        const hdr = this.head(14);
        if (hdr.length < 2) return undefined;
        // cheap completeness check before concatenating a large buffer
        let need = 2;
        const l7 = hdr[1] & 0x7f;
        if (l7 === 126) need = hdr.length >= 4 ? 4 + hdr.readUInt16BE(2) : Infinity;
        else if (l7 === 127) need = hdr.length >= 10 ? 10 + Number(hdr.readBigUInt64BE(2)) : Infinity;
        else need = 2 + l7;
        if (hdr[1] & 0x80) need += 4;
        if (this.len < need) return undefined;
        const r = parseFrame(this.head(need));
        if (!r) return undefined;
        this.consume(r.size);
        this.frames.push(r.frame);
        return r.frame;
      },
      timeoutMs,
      'a frame',
      this.deadReason,
    );
  }

  /** Read a complete data message (reassembling continuation frames, collecting control frames seen in between). */
  async readMessage(timeoutMs = DEFAULT_TIMEOUT): Promise<{ opcode: number; data: Buffer; frames: Frame[]; control: Frame[] }> {
    const frames: Frame[] = [];
    const control: Frame[] = [];
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const f = await this.readFrame(Math.max(1, deadline - Date.now()));
      if (f.opcode >= 8) {
        if (f.opcode === OP.CLOSE) throw new Error(`expected a message, got a close frame: ${fmt(f)}`);
        control.push(f);
        continue;
      }
      frames.push(f);
      if (f.fin) break;
    }
    return { opcode: frames[0].opcode, data: Buffer.concat(frames.map((f) => f.payload)), frames, control };
  }

  /** Wait for the peer to close the TCP connection (FIN or reset). */
  waitEnd(timeoutMs = DEFAULT_TIMEOUT): Promise<true> {
    return this.sig.until(() => (this.ended || this.closed ? true : undefined), timeoutMs, 'the peer to close the TCP connection');
  }

  /** Wait for the socket to be fully closed. */
  waitClosed(timeoutMs = DEFAULT_TIMEOUT): Promise<true> {
    return this.sig.until(() => (this.closed ? true : undefined), timeoutMs, 'the TCP connection to close');
  }

  /** Assert that nothing at all arrives for `ms` milliseconds. */
  async expectSilence(ms: number): Promise<void> {
    await sleep(ms);
    if (this.len) throw new Error(`expected no bytes, got ${this.len}: ${this.peek().subarray(0, 64).toString('hex')}`);
  }

  /** Read an HTTP head (response or request); for responses with Content-Length, also its body. */
  async readHttp(timeoutMs = DEFAULT_TIMEOUT): Promise<HttpHead> {
    const end = await this.sig.until(
      () => {
        const i = this.peek().indexOf('\r\n\r\n');
        return i >= 0 ? i : undefined;
      },
      timeoutMs,
      'an HTTP head',
      this.deadReason,
    );
    const text = this.peek().subarray(0, end).toString('latin1');
    this.consume(end + 4);
    const head = parseHead(text);
    let body = Buffer.alloc(0);
    const cl = Number(head.headers['content-length'] ?? 0);
    if (head.status !== 101 && cl > 0) {
      try {
        await this.sig.until(() => (this.len >= cl ? true : undefined), timeoutMs, 'the HTTP body', this.deadReason);
        body = Buffer.from(this.peek().subarray(0, cl));
        this.consume(cl);
      } catch {
        body = Buffer.from(this.peek());
      }
    }
    return { ...head, body };
  }

  /** Either an HTTP response, or null if the peer closed/reset without sending one. */
  async readHttpOrClose(timeoutMs = DEFAULT_TIMEOUT): Promise<HttpHead | null> {
    try {
      return await this.readHttp(timeoutMs);
    } catch (e) {
      if ((this.ended || this.closed) && this.peek().indexOf('\r\n\r\n') < 0) return null;
      throw e;
    }
  }

  end(): void {
    this.sock.end();
  }

  destroy(): void {
    this.sock.destroy();
    this.session?.destroy();
    live.delete(this);
  }
}

// ---------------------------------------------------------------------------
// server-under-test side

export interface EchoServer {
  wss: WebSocketServer;
  port: number;
  /** 'error' events emitted by server-side sockets */
  errors: Error[];
  /** server-side sockets, in connection order */
  sockets: WebSocket[];
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------
// external targets: the server-side cases against a server started elsewhere
//
// CONFORMANCE_TARGET points startEchoServer() at already-running echo servers
// (the Deno and Bun ones of runtimes/, see runtimes/run-all.mjs) instead of
// starting ours: a comma-separated list of `host:port` (the server for default
// options, whose maxPayload must be ws's default, 100 MiB) and
// `maxPayload=N@host:port` (the server for startEchoServer({ maxPayload: N })).
// A case that needs what an external server cannot offer (other server
// options, or a handle on the server-side socket) is skipped, with the reason.

export const externalTargets: Map<string, { host: string; port: number }> | undefined = parseTargets(process.env.CONFORMANCE_TARGET);

function parseTargets(spec: string | undefined): Map<string, { host: string; port: number }> | undefined {
  if (!spec) return undefined;
  const map = new Map<string, { host: string; port: number }>();
  for (const item of spec.split(',').map((x) => x.trim()).filter(Boolean)) {
    const m = /^(?:maxPayload=(\d+)@)?([^:@]+):(\d+)$/.exec(item);
    if (!m) throw new Error(`CONFORMANCE_TARGET: cannot parse ${JSON.stringify(item)} (expected host:port or maxPayload=N@host:port)`);
    if (m[2] !== '127.0.0.1' && m[2] !== 'localhost') throw new Error(`CONFORMANCE_TARGET: the suite connects to 127.0.0.1 only, not ${m[2]}`);
    map.set(m[1] ?? 'default', { host: m[2], port: Number(m[3]) });
  }
  return map;
}

/** Skips the running test (with the reason shown by the reporter); throws outside a test. */
function skipForExternal(reason: string): never {
  TestRunner.getCurrentTest()?.context.skip(`external target: ${reason}`);
  throw new Error(`external target: ${reason}`);
}

function externalEchoServer(targets: Map<string, { host: string; port: number }>, options: ServerOptions): EchoServer {
  const used = Object.keys(options).filter((k) => (options as Record<string, unknown>)[k] !== undefined);
  const other = used.filter((k) => k !== 'maxPayload');
  const target = other.length ? undefined : targets.get(options.maxPayload === undefined ? 'default' : String(options.maxPayload));
  const why = other.length ? `needs server option(s) ${other.join(', ')}` : `no server with maxPayload ${options.maxPayload} in CONFORMANCE_TARGET`;
  return {
    get port(): number {
      return target ? target.port : skipForExternal(why);
    },
    get wss(): WebSocketServer {
      return skipForExternal('the case uses the WebSocketServer object');
    },
    get sockets(): WebSocket[] {
      return skipForExternal('the case drives the server-side socket');
    },
    errors: [],
    close: async () => undefined,
  };
}

/** The echo server from the brief: echoes every message with the same type. */
export async function startEchoServer(options: ServerOptions = {}): Promise<EchoServer> {
  if (externalTargets) return externalEchoServer(externalTargets, options);
  if (overApp) return appEchoServer(options);
  let h2: { server: http2.Http2Server; sessions: Set<ServerHttp2Session> } | undefined;
  let wss: WebSocketServer;
  if (overH2) {
    const server = http2.createServer();
    const sessions = new Set<ServerHttp2Session>();
    server.on('session', (s) => { sessions.add(s); s.on('close', () => sessions.delete(s)); });
    h2 = { server, sessions };
    wss = new WebSocketServer({ server: server as never, ...options });
    server.listen(0, '127.0.0.1', () => wss.emit('listening'));
  } else {
    wss = new WebSocketServer({ port: 0, host: '127.0.0.1', ...options });
  }
  const errors: Error[] = [];
  const sockets: WebSocket[] = [];
  wss.on('error', (e: Error) => errors.push(e));
  wss.on('connection', (ws: WebSocket) => {
    sockets.push(ws);
    ws.on('error', (e: Error) => errors.push(e));
    ws.on('message', (data, isBinary) => ws.send(data as Buffer, { binary: isBinary }));
  });
  await withTimeout(once(wss, 'listening'), DEFAULT_TIMEOUT, 'server listening');
  const port = (wss.address() as AddressInfo).port;
  return { wss, port, errors, sockets, close: () => closeServer(wss, h2) };
}

// The App door's echo server (CONFORMANCE_TRANSPORT=app): uWS.js's behavior with
// ws's defaults where the suite assumes them (100 MiB messages, no idle timeout),
// maxPayload as maxPayloadLength, perMessageDeflate as SHARED_COMPRESSOR (replies
// compressed, as ws's are), handshakeTimeout as httpIdleTimeout (the App's bound on
// a request head). Other ws options have no App equivalent: the case skips.
const APP = '../../src/app/index.ts';
async function appEchoServer(options: ServerOptions): Promise<EchoServer> {
  const other = Object.keys(options).filter((k) => (options as Record<string, unknown>)[k] !== undefined && !['maxPayload', 'perMessageDeflate', 'handshakeTimeout'].includes(k));
  const uws = await import(/* @vite-ignore */ APP) as typeof import('../../src/app/index.ts');
  const maxPayload = options.maxPayload ?? 100 * 1024 * 1024;
  const deflate = options.perMessageDeflate !== undefined && options.perMessageDeflate !== false;
  const headTimeout = (options as { handshakeTimeout?: number }).handshakeTimeout;
  const app = uws.App(headTimeout === undefined ? {} : { httpIdleTimeout: headTimeout / 1000 }).ws('/*', {
    maxPayloadLength: maxPayload,
    // An echo holds at most what one read brought in: twice the largest message bounds it.
    maxBackpressure: 2 * maxPayload,
    idleTimeout: 0,
    compression: deflate ? uws.SHARED_COMPRESSOR : uws.DISABLED,
    message: (ws, message, isBinary) => { ws.send(message, isBinary, deflate); },
  });
  const port = await new Promise<number>((resolve, reject) => app.listen('127.0.0.1', 0, (t) => t ? resolve(uws.us_socket_local_port(t)) : reject(new Error('App listen failed'))));
  return {
    get port(): number {
      if (other.length) notOverApp(`needs ws server option(s) ${other.join(', ')}`);
      return port;
    },
    get wss(): WebSocketServer {
      notOverApp("the case uses ws's WebSocketServer object (the App's own hooks: test/app-upgrade.test.ts)");
      throw new Error('unreachable');
    },
    get sockets(): WebSocket[] {
      notOverApp("the case drives ws's server-side socket (the App's socket API: test/app-websocket.test.ts)");
      throw new Error('unreachable');
    },
    errors: [],
    close: async () => { app.close(); },
  };
}

export async function closeServer(wss: WebSocketServer, h2?: { server: net.Server; sessions: Set<{ destroy(): void }> }): Promise<void> {
  for (const c of wss.clients ?? []) c.terminate();
  await withTimeout(new Promise<void>((r) => wss.close(() => r())), DEFAULT_TIMEOUT, 'server close').catch(() => undefined);
  if (h2) {
    for (const s of h2.sessions) s.destroy();
    await withTimeout(new Promise<void>((r) => h2.server.close(() => r())), DEFAULT_TIMEOUT, 'h2 server close').catch(() => undefined);
  }
}

/** Over HTTP/2: a session of its own and an extended CONNECT (RFC 8441) with the same headers. */
async function connectRawH2(port: number, o: HandshakeOptions): Promise<RawConn> {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on('error', () => {});
  try {
    await withTimeout(once(session, 'remoteSettings'), DEFAULT_TIMEOUT, 'HTTP/2 settings');
  } catch (e) {
    session.destroy();
    throw e;
  }
  const headers: http2.OutgoingHttpHeaders = {
    ':method': o.method === undefined || o.method === 'GET' ? 'CONNECT' : o.method, ':protocol': 'websocket', ':scheme': 'http',
    ':path': o.path ?? '/', ':authority': o.host ?? `127.0.0.1:${port}`,
  };
  const version = o.version === undefined ? '13' : o.version;
  if (version !== null) headers['sec-websocket-version'] = version;
  for (const [k, v] of o.extra ?? []) headers[k.toLowerCase()] = v;
  const stream = session.request(headers, { endStream: false });
  const c = new RawConn(stream);
  c.session = session;
  const [res] = (await withTimeout(once(stream, 'response'), DEFAULT_TIMEOUT, 'the CONNECT response')) as [http2.IncomingHttpHeaders];
  if (Number(res[':status']) !== 200) {
    c.destroy();
    throw new Error(`handshake failed: :status ${res[':status']}`);
  }
  return c;
}

export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([
    p,
    new Promise<T>((_, rej) => {
      t = setTimeout(() => rej(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(t));
}

/** Open a raw connection and perform the opening handshake by hand. */
export async function connectRaw(port: number, o: HandshakeOptions = {}): Promise<RawConn> {
  if (overH2) return connectRawH2(port, o);
  const c = await RawConn.connect(port);
  const key = o.key ?? newKey();
  c.write(handshakeRequest(port, { ...o, key }));
  const res = await c.readHttp();
  if (res.status !== 101) throw new Error(`handshake failed: ${res.startLine} ${res.body.toString()}`);
  if (res.headers['sec-websocket-accept'] !== acceptFor(key)) throw new Error('bad Sec-WebSocket-Accept: ' + res.headers['sec-websocket-accept']);
  return c;
}

export interface CloseExpectation {
  /** expected close code */
  code: number;
  /** the close frame is expected to be masked (we are testing a client) */
  masked?: boolean;
  timeoutMs?: number;
  /** also require the peer to close the TCP connection (default true) */
  tcp?: boolean;
}

/**
 * Expect the peer to _Fail the WebSocket Connection_ (RFC 6455 §7.1.7): the next
 * frame is a close frame with `code`, then the TCP connection is closed. We do
 * not reply with our own close frame.
 */
export async function expectFail(c: RawConn, e: CloseExpectation): Promise<Frame> {
  const f = await c.readFrame(e.timeoutMs);
  if (f.opcode !== OP.CLOSE) throw new Error(`expected close ${e.code}, got ${fmt(f)}`);
  const { code } = closeInfo(f);
  if (code !== e.code) throw new Error(`expected close code ${e.code}, got ${code} (${fmt(f)})`);
  if (f.masked !== (e.masked ?? false)) throw new Error(`close frame masked=${f.masked}, expected ${e.masked ?? false}`);
  if (!f.fin || f.rsv1 || f.rsv2 || f.rsv3) throw new Error('bad close frame header: ' + fmt(f));
  if (e.tcp ?? true) await c.waitEnd(e.timeoutMs);
  return f;
}

/** Send one message on a raw client connection and expect it echoed back unchanged. */
export async function expectEcho(c: RawConn, opcode: number, payload: Uint8Array | string, timeoutMs = DEFAULT_TIMEOUT): Promise<void> {
  const p = typeof payload === 'string' ? utf8(payload) : Buffer.from(payload);
  c.write(cf({ opcode, payload: p }));
  await expectMessage(c, opcode, p, timeoutMs);
}

/** Expect the next message from the server to be exactly this (no interleaved control frames). */
export async function expectMessage(c: RawConn, opcode: number, payload: Uint8Array, timeoutMs = DEFAULT_TIMEOUT): Promise<void> {
  const m = await c.readMessage(timeoutMs);
  for (const f of m.frames) checkServerFrame(f);
  if (m.control.length) throw new Error('unexpected control frames: ' + m.control.map(fmt).join('; '));
  if (m.opcode !== opcode) throw new Error(`expected opcode ${opcode}, got ${m.opcode}`);
  if (!m.data.equals(Buffer.from(payload))) {
    throw new Error(`payload mismatch: got ${m.data.length} bytes ${m.data.subarray(0, 32).toString('hex')}, expected ${payload.length} bytes ${Buffer.from(payload).subarray(0, 32).toString('hex')}`);
  }
}

/** RFC 6455 §5.1/§5.2: a server frame is unmasked, has RSV clear (no extension negotiated) and a minimal length. */
export function checkServerFrame(f: Frame): void {
  if (f.masked) throw new Error('server frame is masked: ' + fmt(f));
  if (f.rsv1 || f.rsv2 || f.rsv3) throw new Error('server frame has RSV bits set: ' + fmt(f));
  if (!f.minimalLength) throw new Error('server frame uses a non-minimal length encoding: ' + fmt(f));
}

/** RFC 6455 §5.1/§5.3: a client frame is masked, RSV clear, minimal length. */
export function checkClientFrame(f: Frame): void {
  if (!f.masked) throw new Error('client frame is not masked: ' + fmt(f));
  if (f.rsv1 || f.rsv2 || f.rsv3) throw new Error('client frame has RSV bits set: ' + fmt(f));
  if (!f.minimalLength) throw new Error('client frame uses a non-minimal length encoding: ' + fmt(f));
}

// ---------------------------------------------------------------------------
// client-under-test side: a raw TCP server that speaks the protocol by hand

export interface RawServer {
  port: number;
  server: net.Server;
  accept(timeoutMs?: number): Promise<RawConn>;
  close(): Promise<void>;
}

export async function startRawServer(): Promise<RawServer> {
  const queue: RawConn[] = [];
  const sig = new Signal();
  let server: net.Server;
  const sessions = new Set<ServerHttp2Session>();
  if (overH2) {
    // The peer of the client under test: answers each extended CONNECT by hand (openClient).
    const h2 = http2.createServer({ settings: { enableConnectProtocol: true } });
    h2.on('session', (s) => { sessions.add(s); s.on('close', () => sessions.delete(s)); });
    h2.on('stream', (stream, headers) => {
      const c = new RawConn(stream);
      c.h2 = {
        headers,
        respond: (extra) => {
          const h: http2.OutgoingHttpHeaders = { ':status': 200 };
          for (const [k, v] of extra) h[k.toLowerCase()] = v;
          stream.respond(h);
        },
      };
      queue.push(c);
      sig.fire();
    });
    server = h2 as unknown as net.Server;
  } else {
    server = net.createServer();
    server.on('connection', (s) => {
      queue.push(new RawConn(s));
      sig.fire();
    });
  }
  server.listen(0, '127.0.0.1');
  await withTimeout(once(server, 'listening'), DEFAULT_TIMEOUT, 'raw server listening');
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    server,
    accept: (timeoutMs = DEFAULT_TIMEOUT) => sig.until(() => queue.shift(), timeoutMs, 'a client connection'),
    close: () => {
      for (const s of sessions) s.destroy();
      return withTimeout(new Promise<void>((r) => server.close(() => r())), DEFAULT_TIMEOUT, 'raw server close').catch(() => undefined);
    },
  };
}

export interface ClientEvents {
  log: string[];
  errors: Error[];
  messages: { data: Buffer; isBinary: boolean }[];
  pings: Buffer[];
  pongs: Buffer[];
  opened: boolean;
  closeEvent?: { code: number; reason: string };
  waitOpen(timeoutMs?: number): Promise<void>;
  waitClose(timeoutMs?: number): Promise<{ code: number; reason: string }>;
  nextMessage(timeoutMs?: number): Promise<{ data: Buffer; isBinary: boolean }>;
  waitError(timeoutMs?: number): Promise<Error>;
}

export function toBuffer(data: unknown): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (Array.isArray(data)) return Buffer.concat(data.map(toBuffer));
  if (typeof data === 'string') return utf8(data);
  throw new Error('unknown message data type');
}

/** Record everything a client under test reports. */
export function recordClient(ws: WebSocket): ClientEvents {
  liveClients.add(ws);
  const sig = new Signal();
  let read = 0;
  const ev: ClientEvents = {
    log: [],
    errors: [],
    messages: [],
    pings: [],
    pongs: [],
    opened: false,
    waitOpen: async (t = DEFAULT_TIMEOUT) => {
      await sig.until(
        () => (ev.opened ? true : undefined),
        t,
        'the client open event',
        () => (ev.closeEvent ? `client closed before opening (${ev.closeEvent.code}; errors: ${ev.errors.map((e) => e.message).join('; ')})` : undefined),
      );
    },
    waitClose: (t = DEFAULT_TIMEOUT) => sig.until(() => ev.closeEvent, t, 'the client close event'),
    nextMessage: (t = DEFAULT_TIMEOUT) =>
      sig.until(
        () => (read < ev.messages.length ? ev.messages[read++] : undefined),
        t,
        'a client message event',
        () => (ev.closeEvent ? `client closed (${ev.closeEvent.code}; errors: ${ev.errors.map((e) => e.message).join('; ')})` : undefined),
      ),
    waitError: (t = DEFAULT_TIMEOUT) => sig.until(() => ev.errors[0], t, 'a client error event'),
  };
  ws.on('open', () => {
    ev.log.push('open');
    ev.opened = true;
    sig.fire();
  });
  ws.on('message', (data, isBinary) => {
    ev.log.push('message');
    ev.messages.push({ data: toBuffer(data), isBinary });
    sig.fire();
  });
  ws.on('ping', (d: Buffer) => {
    ev.log.push('ping');
    ev.pings.push(toBuffer(d));
    sig.fire();
  });
  ws.on('pong', (d: Buffer) => {
    ev.log.push('pong');
    ev.pongs.push(toBuffer(d));
    sig.fire();
  });
  ws.on('error', (e: Error) => {
    ev.log.push('error');
    ev.errors.push(e);
    sig.fire();
  });
  ws.on('close', (code: number, reason: Buffer) => {
    ev.log.push('close');
    ev.closeEvent = { code, reason: toBuffer(reason).toString('utf8') };
    liveClients.delete(ws);
    sig.fire();
  });
  return ev;
}

export interface OpenedClient {
  client: WebSocket;
  ev: ClientEvents;
  conn: RawConn;
  req: HttpHead;
}

/**
 * Start a client under test against the raw server, answer its handshake by
 * hand (101 with the right accept value unless `respond` says otherwise) and
 * wait for 'open'.
 */
export async function openClient(
  srv: RawServer,
  o: { protocols?: string | string[]; options?: ClientOptions; path?: string; extra?: [string, string][] } = {},
): Promise<OpenedClient> {
  notOverApp('a client case: the App door is a server only (uWS.js has no client either)');
  const options = overH2 ? { ...o.options, http2: true } as ClientOptions : o.options ?? {};
  const client = new WebSocket(`ws://127.0.0.1:${srv.port}${o.path ?? '/'}`, o.protocols ?? [], options);
  const ev = recordClient(client);
  const conn = await srv.accept();
  let req: HttpHead;
  if (conn.h2) {
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(conn.h2.headers)) if (typeof v === 'string') headers[k] = v;
    req = { startLine: `${headers[':method']} ${headers[':path']} HTTP/2`, status: 0, method: headers[':method'], target: headers[':path'],
      version: 'HTTP/2', headers, rawHeaders: Object.entries(headers), body: Buffer.alloc(0) };
    conn.h2.respond(o.extra ?? []);
  } else {
    req = await conn.readHttp();
    conn.write(handshakeResponse(req.headers['sec-websocket-key'], o.extra));
  }
  await ev.waitOpen();
  return { client, ev, conn, req };
}

/**
 * The client under test must _Fail the WebSocket Connection_: send a masked
 * close frame with `code`, close TCP, emit 'error' and then 'close' with 1006
 * (RFC 6455 §7.1.5: no close frame was received from the peer).
 */
export async function expectClientFail(o: OpenedClient, code: number): Promise<void> {
  await expectFail(o.conn, { code, masked: true });
  const ce = await o.ev.waitClose();
  if (ce.code !== 1006) throw new Error(`expected the client close event to report 1006, got ${ce.code}`);
  if (!o.ev.errors.length) throw new Error('expected an error event on the client');
  const iErr = o.ev.log.indexOf('error');
  const iClose = o.ev.log.indexOf('close');
  if (iErr > iClose) throw new Error('error event must come before close event: ' + o.ev.log.join(','));
}

// ---------------------------------------------------------------------------
// cleanup

/** Destroy every raw socket and terminate every client still open. Call from afterEach. */
export async function cleanup(): Promise<void> {
  for (const c of [...live]) c.destroy();
  for (const ws of [...liveClients]) {
    try {
      ws.terminate();
    } catch {
      /* ignore */
    }
  }
  liveClients.clear();
  await sleep(0);
}
