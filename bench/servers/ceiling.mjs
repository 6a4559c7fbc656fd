// Benchmark ceiling: what Node itself costs for the byte stream of a scenario, with no WebSocket
// library on top. Two variants on a plain `net` server (no `http` module), and one behind Node's
// `http` server:
//
//   node bench/servers/ceiling.mjs --variant tcp|unmask|http [--mode echo|broadcast|setup]
//
// - tcp:    a TCP echo. After a minimal hand-written 101 (the load generator checks
//           Sec-WebSocket-Accept, so the key is hashed), every read is written back as it came
//           (echo) or to every connection (broadcast): the client's masked frames return masked.
//           In setup mode the first bytes after the 101 (the client's close frame) are written
//           back and the socket is ended.
// - unmask: the same, plus the least a server must do to the stream: walk frame headers, unmask
//           payloads and write them back as unmasked server frames (header 4 bytes shorter), one
//           output buffer per read. No message assembly, no UTF-8 check, no events. A close frame
//           is answered with an unmasked close frame and the socket is ended.
// - handle: the tcp variant on Node's own TCP handles (process.binding('tcp_wrap'), as
//           wasmsocket/app's src/app/node-tcp.ts uses them) instead of net.Socket: reads with
//           onread, writes with writeBuffer and a WriteWrap, no streams or emitters. What
//           moving the bytes costs a server that leaves net.Socket, as the App does.
// - http:   the tcp variant behind `http.createServer()`: the request arrives as http's 'upgrade'
//           event (llhttp's parse, IncomingMessage, headers object), then the same echo. The least
//           any library that upgrades on Node's http server (as ws and wasmsocket do) can cost, so
//           its setup rate bounds theirs.
//
// The load generator counts frames by their headers, so both streams count like a real echo.
// Startup line and IPC control channel as in the other servers (see ws-echo.mjs).

import http from 'node:http';
import net from 'node:net';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { serveControl } from './control.mjs';

const args = process.argv.slice(2);
const argValue = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const variant = argValue('--variant') ?? 'tcp';
const mode = argValue('--mode') ?? 'echo';
const IMPL = `ceiling-${variant}`;
const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');

if (variant !== 'tcp' && variant !== 'unmask' && variant !== 'http' && variant !== 'handle') {
  out({ ready: false, impl: IMPL, error: `unknown variant ${variant}` });
  process.exit(1);
}

// bufferutil's native XOR (what ws uses) for pieces from 32 bytes; a JS loop below that, where a
// native call costs more than the work (ws's own threshold).
let nativeMask = null;
try {
  nativeMask = createRequire(import.meta.url)('bufferutil').mask;
} catch {}
const NATIVE_MIN = 32;

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const KEY_HEADER = Buffer.from('\r\nsec-websocket-key:', 'latin1');
const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');

const BAD_REQUEST = 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n';

/** The Sec-WebSocket-Key of a request head, or null when it has none. */
function keyOf(head) {
  const lower = Buffer.from(head.toString('latin1').toLowerCase(), 'latin1');
  const at = lower.indexOf(KEY_HEADER);
  if (at < 0) return null;
  const end = head.indexOf('\r\n', at + 2);
  return head.toString('latin1', at + KEY_HEADER.length, end).trim();
}

const open = new Set(); // sockets past the handshake (broadcast targets)

/** Unmasking relay state of one connection: client frames in, the same frames unmasked out. */
class Unmasker {
  constructor() {
    this.hdr = Buffer.alloc(14);
    this.hl = 0; // header bytes gathered so far
    this.rem = 0; // payload bytes left in the current frame
    this.key = Buffer.alloc(4);
    this.rot = Buffer.alloc(4); // key rotated by the payload bytes already unmasked
    this.done = 0; // payload bytes of the current frame already unmasked
    this.closing = false;
  }

  /** Unmasked frames for chunk; sets this.closing when a close frame went by. */
  feed(chunk) {
    const n = chunk.length;
    const res = Buffer.allocUnsafe(n + 14);
    let o = 0;
    let i = 0;
    while (i < n) {
      if (this.rem > 0) {
        const take = Math.min(this.rem, n - i);
        const k = this.done & 3 ? this.rotated() : this.key;
        if (take >= NATIVE_MIN && nativeMask) nativeMask(chunk.subarray(i, i + take), k, res, o, take);
        else for (let j = 0; j < take; j++) res[o + j] = chunk[i + j] ^ k[j & 3];
        i += take;
        o += take;
        this.rem -= take;
        this.done += take;
        continue;
      }
      // Gather a header (fast path: it is whole in this chunk).
      let src = chunk;
      let at = i;
      const need = n - i >= 2 ? 2 + ((chunk[i + 1] & 0x7f) === 126 ? 2 : (chunk[i + 1] & 0x7f) === 127 ? 8 : 0) + 4 : 99;
      if (this.hl === 0 && n - i >= need) {
        i += need;
      } else {
        while (this.hl < 2 && i < n) this.hdr[this.hl++] = chunk[i++];
        if (this.hl < 2) break;
        const l7 = this.hdr[1] & 0x7f;
        const hlen = 2 + (l7 === 126 ? 2 : l7 === 127 ? 8 : 0) + 4;
        while (this.hl < hlen && i < n) this.hdr[this.hl++] = chunk[i++];
        if (this.hl < hlen) break;
        src = this.hdr;
        at = 0;
        this.hl = 0;
      }
      const l7 = src[at + 1] & 0x7f;
      const ext = l7 === 126 ? 2 : l7 === 127 ? 8 : 0;
      const len = l7 === 126 ? src.readUInt16BE(at + 2) : l7 === 127 ? src.readUInt32BE(at + 6) : l7;
      res[o] = src[at];
      res[o + 1] = l7; // mask bit cleared
      for (let j = 0; j < ext; j++) res[o + 2 + j] = src[at + 2 + j];
      o += 2 + ext;
      src.copy(this.key, 0, at + 2 + ext, at + 6 + ext);
      if ((src[at] & 0x0f) === 0x8) this.closing = true;
      this.rem = len;
      this.done = 0;
    }
    return res.subarray(0, o);
  }

  rotated() {
    const r = this.done & 3;
    for (let j = 0; j < 4; j++) this.rot[j] = this.key[(j + r) & 3];
    return this.rot;
  }
}

/** What one connection does with the bytes after the 101 (see the variants above). */
function relay(socket) {
  const unmasker = variant === 'unmask' ? new Unmasker() : null;
  return (chunk) => {
    if (chunk.length === 0) return;
    if (unmasker) {
      const res = unmasker.feed(chunk);
      if (unmasker.closing) return void socket.end(res);
      if (res.length === 0) return;
      chunk = res;
    } else if (mode === 'setup') {
      return void socket.end(chunk);
    }
    if (mode === 'broadcast') for (const s of open) s.write(chunk);
    else socket.write(chunk);
  };
}

function track(socket) {
  socket.on('error', () => {});
  socket.on('close', () => open.delete(socket));
}

/** Answers the key with a 101; from then on the socket relays, starting with `rest` (bytes after the request). */
function upgraded(socket, key, rest) {
  const accept = createHash('sha1').update(key + GUID).digest('base64');
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
  open.add(socket);
  const onFrames = relay(socket);
  socket.on('data', onFrames);
  onFrames(rest);
}

/**
 * The little of net.Socket that relay() and upgraded() use (write, end, data and close
 * events), on a raw TCP handle. Each read is a buffer of its own (libuv's allocation, as
 * net's default), so a write still in flight never sees it reused.
 */
class HandleSocket {
  constructor(handle) {
    this.handle = handle;
    this.listeners = { data: [], close: [], error: [] };
    this.closed = false;
    handle.owner = this;
    handle.onread = onHandleRead;
    handle.setNoDelay(true);
    handle.readStart();
  }
  on(event, fn) { this.listeners[event]?.push(fn); return this; }
  removeListener(event, fn) { this.listeners[event] = this.listeners[event].filter((f) => f !== fn); return this; }
  write(chunk) {
    if (this.closed) return;
    const req = new stream.WriteWrap();
    req.handle = this.handle;
    req.oncomplete = () => {};
    const err = typeof chunk === 'string' ? this.handle.writeUtf8String(req, chunk) : this.handle.writeBuffer(req, chunk);
    if (err !== 0) return void this.destroy();
    req.buffer = chunk; // kept alive until libuv is done with it
  }
  end(chunk) {
    if (chunk !== undefined) this.write(chunk);
    if (this.closed) return;
    const req = new stream.ShutdownWrap();
    req.handle = this.handle;
    req.oncomplete = () => this.destroy();
    if (this.handle.shutdown(req) !== 0) this.destroy();
  }
  destroy() {
    if (this.closed) return;
    this.closed = true;
    this.handle.readStop();
    this.handle.close(() => { for (const f of this.listeners.close) f(); });
  }
}

function onHandleRead(ab) {
  const socket = this.owner;
  const n = stream.streamBaseState[stream.kReadBytesOrError];
  if (n > 0) {
    const chunk = Buffer.from(ab, stream.streamBaseState[stream.kArrayBufferOffset], n);
    for (const f of socket.listeners.data) f(chunk);
  } else if (n < 0) socket.destroy();
}

const stream = variant === 'handle' ? process.binding('stream_wrap') : null;

function onSocket(socket) {
  track(socket);
  let head = null;

  const onHandshake = (chunk) => {
    head = head === null ? chunk : Buffer.concat([head, chunk]);
    const end = head.indexOf(CRLFCRLF);
    if (end < 0) {
      if (head.length > 16384) socket.destroy();
      return;
    }
    const key = keyOf(head.subarray(0, end + 2));
    if (key === null) return void socket.end(BAD_REQUEST);
    const rest = head.subarray(end + 4);
    head = null;
    socket.removeListener('data', onHandshake);
    upgraded(socket, key, rest);
  };
  socket.on('data', onHandshake);
}

let server;
if (variant === 'handle') {
  const { TCP, constants } = process.binding('tcp_wrap');
  const handle = new TCP(constants.SERVER);
  let err = handle.bind('127.0.0.1', 0);
  if (err === 0) err = handle.listen(511);
  if (err !== 0) {
    out({ ready: false, impl: IMPL, error: `listen failed (${err})` });
    process.exit(1);
  }
  handle.onconnection = (status, client) => { if (status === 0 && client) onSocket(new HandleSocket(client)); };
  const addr = {};
  handle.getsockname(addr);
  server = { port: addr.port };
} else {
  server = variant === 'http' ? http.createServer() : net.createServer({ noDelay: true }, onSocket);
}

if (variant === 'http') {
  server.on('upgrade', (req, socket, head) => {
    track(socket);
    const key = req.headers['sec-websocket-key'];
    if (typeof key !== 'string') return void socket.end(BAD_REQUEST);
    socket.setNoDelay(true);
    upgraded(socket, key, head);
  });
}

const ready = (port) => out({ ready: true, impl: IMPL, port, mode, native: { bufferutil: !!nativeMask }, node: process.version, pid: process.pid });
if (variant === 'handle') ready(server.port);
else {
  server.on('error', (err) => {
    out({ ready: false, impl: IMPL, error: `server error: ${err?.message ?? err}` });
    process.exit(1);
  });
  server.listen(0, '127.0.0.1', () => ready(server.address().port));
}

// ---- control channel (as in the other servers) -----------------------------------------------
serveControl(() => open.size);
