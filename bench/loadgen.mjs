// Load generator for bench/run.mjs. Runs in its own process (pinned to its own core by run.mjs).
//
//   node bench/loadgen.mjs '<json config>'
//
// It speaks WebSocket over raw `net` sockets and is built to stay cheap next to the server:
// - the HTTP upgrade is written by hand (a small pool of precomputed keys / accept values);
// - every client frame is encoded and masked once up front; a connection's batch buffer holds
//   `inflight` copies back to back and a send of k frames is one write() of a prefix of it;
// - sockets read into one shared static buffer (net `onread`: no per-read allocation, no stream
//   machinery); echoed frames are counted by walking frame headers only (payload bytes are
//   skipped, never copied, unmasked, inflated or decoded), frames split across reads included;
// - latency: each connection keeps `inflight` messages outstanding; every completed echo frees
//   one slot and the frees of one read are refilled with one write. Send times are kept per slot
//   (one clock read per write / per read), recorded in a 1 µs histogram.
//
// Progress goes to the parent over IPC: {type:'connected'}, {type:'measure-start'},
// {type:'measure-end'}, {type:'idle-ready'} and finally {type:'result', ...}. Without an IPC
// channel the result is printed to stdout as JSON. The process ends by itself: after the
// measurement, or at cfg.hardDeadlineMs at the latest.

import net from 'node:net';
import zlib from 'node:zlib';
import { createHash, randomBytes } from 'node:crypto';

const cfg = JSON.parse(process.argv[2] ?? '{}');
const HOST = cfg.host ?? '127.0.0.1';
const PORT = cfg.port;
const KIND = cfg.kind ?? 'echo';
const hasIpc = typeof process.send === 'function';
// Masked frames coming back are accepted only from the ceiling's TCP echo (bench/servers/ceiling.mjs).
const MASKED_ECHO = !!cfg.maskedEcho;

function emit(msg) {
  if (hasIpc) process.send(msg);
}

let finished = false;
function finish(result) {
  if (finished) return;
  finished = true;
  for (const s of allSockets) s.destroy();
  if (hasIpc) {
    process.send({ type: 'result', ...result }, () => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  } else {
    process.stdout.write(JSON.stringify(result) + '\n');
    process.exit(0);
  }
}
function fail(error) {
  finish({ error: String(error?.message ?? error) });
}

const hard = setTimeout(() => {
  fail(`loadgen hard deadline (${cfg.hardDeadlineMs} ms) reached`);
  setTimeout(() => process.exit(2), 500).unref();
}, cfg.hardDeadlineMs ?? 120_000);
hard.unref();
if (hasIpc) process.on('disconnect', () => process.exit(0));
process.on('uncaughtException', (err) => fail(err?.stack ?? err));

if (!PORT) fail('no port given');

// ---- payloads and frames --------------------------------------------------------------------

function prng(seed) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
}

const WORDS = ('the quick brown fox jumps over lazy dog user message hello world id type chat ' +
  'room alice bob carol price qty order status ok update delta value time seq').split(' ');

/** ASCII, JSON-ish text of exactly `size` bytes (compresses like chat / API traffic). */
function textPayload(size, seed = 1) {
  const r = prng(seed);
  let s = '';
  let n = 0;
  while (s.length < size) {
    s += `{"id":${n++},"t":"${WORDS[(r() * WORDS.length) | 0]}","v":"${WORDS[(r() * WORDS.length) | 0]} ${(r() * 1e4) | 0}"},`;
  }
  return Buffer.from(s.slice(0, size), 'latin1');
}

/** Binary of exactly `size` bytes: a noisy slow ramp (compresses, but not trivially). */
function binaryPayload(size, seed = 2) {
  const r = prng(seed);
  const b = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) b[i] = ((i >>> 6) & 0xf0) | ((r() * 16) | 0);
  return b;
}

const MASK = (() => {
  const m = randomBytes(4);
  if (m.readUInt32BE(0) === 0) m[0] = 1;
  return m;
})();

/** One client frame (FIN, masked with MASK). */
function encodeFrame(opcode, payload, rsv1 = false) {
  const len = payload.length;
  const hl = len < 126 ? 2 : len < 65536 ? 4 : 10;
  const buf = Buffer.allocUnsafe(hl + 4 + len);
  buf[0] = 0x80 | (rsv1 ? 0x40 : 0) | opcode;
  if (len < 126) buf[1] = 0x80 | len;
  else if (len < 65536) {
    buf[1] = 0x80 | 126;
    buf.writeUInt16BE(len, 2);
  } else {
    buf[1] = 0x80 | 127;
    buf.writeUInt32BE(Math.floor(len / 2 ** 32), 2);
    buf.writeUInt32BE(len >>> 0, 6);
  }
  MASK.copy(buf, hl);
  const o = hl + 4;
  for (let i = 0; i < len; i++) buf[o + i] = payload[i] ^ MASK[i & 3];
  return buf;
}

/** permessage-deflate payload (RFC 7692 §7.2.1): raw deflate, sync flush, trailing 00 00 ff ff removed. */
function compress(payload, windowBits) {
  const opts = { finishFlush: zlib.constants.Z_SYNC_FLUSH };
  // Compressing with a window no larger than negotiated is always valid; below 9 zlib cannot
  // go, so use stored blocks (no back references at all).
  if (windowBits >= 9) opts.windowBits = windowBits;
  else opts.level = 0;
  const out = zlib.deflateRawSync(payload, opts);
  const n = out.length;
  if (n >= 4 && out[n - 4] === 0 && out[n - 3] === 0 && out[n - 2] === 0xff && out[n - 1] === 0xff) {
    return out.subarray(0, n - 4);
  }
  return out;
}

const CLOSE_FRAME = encodeFrame(0x8, Buffer.from([0x03, 0xe8])); // 1000, no reason

// ---- handshake ------------------------------------------------------------------------------

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const KEYS = Array.from({ length: 64 }, () => {
  const key = randomBytes(16).toString('base64');
  const accept = createHash('sha1').update(key + GUID).digest('base64');
  return { key, accept };
});
const OFFER = 'permessage-deflate; client_max_window_bits';
const REQUESTS = KEYS.map(({ key }) =>
  Buffer.from(
    `GET / HTTP/1.1\r\nHost: ${HOST}:${PORT}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n` +
      (cfg.deflate ? `Sec-WebSocket-Extensions: ${OFFER}\r\n` : '') +
      '\r\n',
    'latin1',
  ),
);
const ACCEPTS = KEYS.map(({ accept }) => Buffer.from(accept, 'latin1'));
const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');
let keyIndex = 0;
const allSockets = new Set();

/** Parses a Sec-WebSocket-Extensions response value for permessage-deflate. */
function parseDeflate(value) {
  if (!value) return null;
  for (const ext of value.split(',')) {
    const [name, ...params] = ext.split(';').map((p) => p.trim());
    if (name.toLowerCase() !== 'permessage-deflate') continue;
    const res = { clientMaxWindowBits: 15, clientNoContextTakeover: false };
    for (const p of params) {
      const [k, v] = p.split('=').map((x) => x.trim().replace(/^"|"$/g, ''));
      if (k === 'client_max_window_bits' && v) res.clientMaxWindowBits = Number(v);
      if (k === 'client_no_context_takeover') res.clientNoContextTakeover = true;
    }
    return res;
  }
  return null;
}

// Every socket reads into this one buffer; each read is handled synchronously before the next.
const READ_BUF = Buffer.allocUnsafe(256 * 1024);

/** net.connect() reading through READ_BUF: conn.onBytes(buf, n) gets every read. */
function connectRaw(conn) {
  return net.connect({
    host: HOST,
    port: PORT,
    noDelay: true,
    onread: { buffer: READ_BUF, callback: (n, buf) => conn.onBytes(buf, n) },
  });
}

/**
 * Opens one WebSocket over a raw socket. Resolves {socket, conn, rest, deflate}: set conn.onBytes
 * to receive the frames; rest holds any bytes that came after the 101 response.
 */
function openWs() {
  return new Promise((resolve, reject) => {
    const k = keyIndex++ & 63;
    const conn = { onBytes: null };
    const socket = connectRaw(conn);
    allSockets.add(socket);
    let acc = null;
    let settled = false;
    const onError = (err) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      reject(err);
    };
    const onClose = () => onError(new Error('connection closed during handshake'));
    conn.onBytes = (buf, n) => {
      if (settled) return;
      acc = acc === null ? Buffer.from(buf.subarray(0, n)) : Buffer.concat([acc, buf.subarray(0, n)]);
      const end = acc.indexOf(CRLFCRLF);
      if (end < 0) {
        if (acc.length > 16384) onError(new Error('handshake response too large'));
        return;
      }
      const head = acc.toString('latin1', 0, end);
      const lines = head.split('\r\n');
      if (!/^HTTP\/1\.1 101/.test(lines[0])) return onError(new Error(`handshake failed: ${lines[0]}`));
      let accept = null;
      let ext = null;
      for (let i = 1; i < lines.length; i++) {
        const c = lines[i].indexOf(':');
        const name = lines[i].slice(0, c).trim().toLowerCase();
        const value = lines[i].slice(c + 1).trim();
        if (name === 'sec-websocket-accept') accept = value;
        else if (name === 'sec-websocket-extensions') ext = ext ? `${ext}, ${value}` : value;
      }
      if (accept !== KEYS[k].accept) return onError(new Error('bad Sec-WebSocket-Accept'));
      settled = true;
      socket.off('error', onError);
      socket.off('close', onClose);
      conn.onBytes = () => {}; // until the scenario installs its handler
      resolve({ socket, conn, rest: acc.subarray(end + 4), deflate: parseDeflate(ext) });
    };
    socket.on('error', onError);
    socket.on('close', onClose);
    socket.write(REQUESTS[k]);
  });
}

/** Opens `count` connections, at most `concurrency` handshakes at a time. */
async function openMany(count, concurrency, deadline = Infinity) {
  const conns = [];
  const errors = [];
  let next = 0;
  async function worker() {
    while (next < count && Date.now() < deadline) {
      next++;
      try {
        conns.push(await openWs());
      } catch (err) {
        errors.push(err.message);
        if (errors.length > 50) throw new Error(`too many failed handshakes: ${errors[0]}`);
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return { conns, errors };
}

// ---- frame scanner (headers only) -----------------------------------------------------------

function headerLen(b1) {
  const l = b1 & 0x7f;
  return 2 + (l === 126 ? 2 : l === 127 ? 8 : 0) + (b1 & 0x80 ? 4 : 0);
}

/** Counts completed data messages in a byte stream by walking frame headers; skips payloads. */
class Scanner {
  constructor() {
    this.rem = 0; // payload bytes still to skip in the current frame
    this.op = 0;
    this.fin = false;
    this.hdr = Buffer.alloc(14);
    this.hl = 0; // bytes of a split header held in hdr
    this.closed = false;
    this.closeCode = 0;
    this.control = 0;
    this.expOp = 0; // when set: data frames must have this opcode...
    this.expLen = -1; // ...and unfragmented ones this payload length
    this.bad = 0;
    this.badSample = null;
  }

  /** Returns the number of data messages (FIN data / continuation frames) completed in buf[0, n). */
  feed(buf, n) {
    let i = 0;
    let done = 0;
    while (i < n) {
      if (this.rem > 0) {
        const avail = n - i;
        if (avail < this.rem) {
          this.rem -= avail;
          return done;
        }
        i += this.rem;
        this.rem = 0;
        done += this.end();
        continue;
      }
      let src = buf;
      let off = i;
      if (this.hl === 0 && n - i >= 2 && n - i >= headerLen(buf[i + 1])) {
        i += headerLen(buf[i + 1]);
      } else {
        // Header split across reads: gather it in this.hdr.
        while (this.hl < 2 && i < n) this.hdr[this.hl++] = buf[i++];
        if (this.hl < 2) return done;
        const hlen = headerLen(this.hdr[1]);
        while (this.hl < hlen && i < n) this.hdr[this.hl++] = buf[i++];
        if (this.hl < hlen) return done;
        src = this.hdr;
        off = 0;
        this.hl = 0;
      }
      const b0 = src[off];
      let len = src[off + 1] & 0x7f;
      if (len === 126) len = src.readUInt16BE(off + 2);
      else if (len === 127) len = src.readUInt32BE(off + 2) * 2 ** 32 + src.readUInt32BE(off + 6);
      this.op = b0 & 0x0f;
      this.fin = (b0 & 0x80) !== 0;
      if (this.op === 0x8 && len >= 2 && n - i >= 2) this.closeCode = buf.readUInt16BE(i);
      else if ((this.op === 0x1 || this.op === 0x2) && this.expOp !== 0) {
        if (this.op !== this.expOp || (this.fin && this.expLen >= 0 && len !== this.expLen)) {
          this.bad++;
          this.badSample ??= `opcode ${this.op}, length ${len} (expected opcode ${this.expOp}${this.expLen >= 0 ? `, length ${this.expLen}` : ''})`;
        }
      }
      this.rem = len;
      if (len === 0) done += this.end();
    }
    return done;
  }

  end() {
    if (this.op >= 0x8) {
      this.control++;
      if (this.op === 0x8) this.closed = true;
      return 0;
    }
    return this.fin ? 1 : 0;
  }
}

/**
 * Checks, once per connection, that the first message the server sends back starts with the
 * payload that was sent (up to 4 KiB of it; fragmented or not). Costs one small copy.
 */
class PrefixCheck {
  constructor(payload) {
    this.want = payload.subarray(0, Math.min(payload.length, 4096));
    this.buf = Buffer.alloc(14 + this.want.length);
    this.have = 0;
    this.done = false;
    this.ok = false;
    this.detail = null;
  }

  feed(chunk, n) {
    const take = Math.min(n, this.buf.length - this.have);
    chunk.copy(this.buf, this.have, 0, take);
    this.have += take;
    if (this.have < 2) return;
    const b1 = this.buf[1];
    const hl = headerLen(b1);
    if (this.have < hl) return;
    let len = b1 & 0x7f;
    if (len === 126) len = this.buf.readUInt16BE(2);
    else if (len === 127) len = this.buf.readUInt32BE(2) * 2 ** 32 + this.buf.readUInt32BE(6);
    const m = Math.min(len, this.want.length);
    if (this.have < hl + m) return;
    this.done = true;
    const got = this.buf.subarray(hl, hl + m);
    // The ceiling's TCP echo returns the client's masked frames as they were sent.
    if (b1 >= 0x80 && MASKED_ECHO) for (let i = 0; i < m; i++) got[i] ^= this.buf[hl - 4 + (i & 3)];
    this.ok = (b1 < 0x80 || MASKED_ECHO) && got.equals(this.want.subarray(0, m));
    if (!this.ok) this.detail = b1 >= 0x80 && !MASKED_ECHO ? 'server frame is masked' : 'echoed payload differs from the payload sent';
  }
}

/**
 * A connection's per-read frame count: feeds the chunk to its PrefixCheck (until done) and its
 * Scanner and returns the messages completed; on a server close frame it notes the error,
 * destroys the socket and returns 0.
 */
function frameCounter(socket, sc, check) {
  return (chunk, n) => {
    if (check !== null) {
      check.feed(chunk, n);
      if (check.done) check = null;
    }
    const done = sc.feed(chunk, n);
    if (sc.closed) {
      noteError(`server sent close ${sc.closeCode}`);
      socket.destroy();
      return 0;
    }
    return done;
  };
}

/** `slices[k]` is k copies of `frame` back to back in one buffer (k = 1..W): a send of k frames is one write. */
function frameBatches(frame, W) {
  const batch = Buffer.concat(Array.from({ length: W }, () => frame));
  const slices = [null];
  for (let k = 1; k <= W; k++) slices.push(batch.subarray(0, k * frame.length));
  return slices;
}

// ---- latency histogram ----------------------------------------------------------------------

const HIST_SIZE = 1 << 21; // 1 µs buckets up to ~2.1 s
const hist = new Uint32Array(HIST_SIZE);
let histOver = [];
let histCount = 0;
let histSum = 0;

function record(ms) {
  histSum += ms;
  const us = (ms * 1000) | 0;
  if (us < HIST_SIZE) hist[us]++;
  else histOver.push(us);
  histCount++;
}
function resetHist() {
  hist.fill(0);
  histOver = [];
  histCount = 0;
  histSum = 0;
}
function percentiles() {
  if (histCount === 0) return { p50: null, p99: null, max: null, mean: null };
  const want = [0.5, 0.99].map((q) => Math.max(1, Math.ceil(q * histCount)));
  const res = [];
  let cum = 0;
  let w = 0;
  let max = 0;
  for (let i = 0; i < HIST_SIZE && w < want.length; i++) {
    if (hist[i] === 0) continue;
    cum += hist[i];
    max = i;
    while (w < want.length && cum >= want[w]) res[w++] = i;
  }
  if (w < want.length) {
    histOver.sort((a, b) => a - b);
    for (; w < want.length; w++) res[w] = histOver[Math.min(histOver.length - 1, want[w] - cum - 1)];
  }
  if (histOver.length) max = Math.max(...histOver);
  else for (let i = HIST_SIZE - 1; i >= 0; i--) if (hist[i]) { max = i; break; }
  return { p50: (res[0] + 0.5) / 1000, p99: (res[1] + 0.5) / 1000, max: (max + 0.5) / 1000, mean: histSum / histCount };
}

// ---- measurement window ---------------------------------------------------------------------

let running = true; // keep sending
let measuring = false;
let msgs = 0; // data messages completed during the window
let ops = 0; // setup: handshake + close cycles completed during the window
let errors = 0;
const errorSamples = [];
let tStart = 0;
let cpuStart = null;

function noteError(msg) {
  errors++;
  if (errorSamples.length < 5 && !errorSamples.includes(msg)) errorSamples.push(msg);
}

function startWindow(after, duration, onEnd) {
  setTimeout(() => {
    msgs = 0;
    ops = 0;
    resetHist();
    measuring = true;
    cpuStart = process.cpuUsage();
    tStart = performance.now();
    emit({ type: 'measure-start' });
    setTimeout(() => {
      const t = performance.now();
      const cpu = process.cpuUsage(cpuStart);
      measuring = false;
      running = false;
      emit({ type: 'measure-end' });
      const seconds = (t - tStart) / 1000;
      onEnd({
        seconds,
        cpuPercent: ((cpu.user + cpu.system) / 1000 / (t - tStart)) * 100,
        cpuUser: cpu.user,
        cpuSystem: cpu.system,
        ...percentiles(),
        samples: histCount,
      });
    }, duration);
  }, after);
}

/** Summary of the header / first-payload checks: {badFrames, badSample, verified, unverified}. */
function verification(scanners, checks) {
  let badFrames = 0;
  let badSample = null;
  for (const sc of scanners) {
    badFrames += sc.bad;
    badSample ??= sc.badSample;
  }
  let verified = 0;
  for (const c of checks) {
    if (!c.done) continue;
    if (c.ok) verified++;
    else {
      badFrames++;
      badSample ??= c.detail;
    }
  }
  return { badFrames, badSample, payloadVerified: verified, payloadChecks: checks.length };
}

// ---- scenarios ------------------------------------------------------------------------------

async function runEcho() {
  const size = cfg.size;
  const W = cfg.inflight;
  // Refill a connection's window once this many of its slots are free, with one write.
  const REFILL = Math.min(W, Math.max(1, cfg.refill ?? 1));
  const payload = cfg.binary ? binaryPayload(size) : textPayload(size);
  const opcode = cfg.binary ? 0x2 : 0x1;

  const { conns, errors: openErrors } = await openMany(cfg.conns, 64);
  if (conns.length === 0) throw new Error(`no connection could be opened: ${openErrors[0]}`);
  for (const e of openErrors) noteError(e);

  // Negotiated permessage-deflate? (All connections get the same answer from one server.)
  const negotiated = conns.every((c) => c.deflate);
  const anyNegotiated = conns.some((c) => c.deflate);
  const frameCache = new Map();
  function batchFor(d) {
    const key = d ? `z${d.clientMaxWindowBits}` : 'plain';
    let b = frameCache.get(key);
    if (!b) {
      const frame = d ? encodeFrame(opcode, compress(payload, d.clientMaxWindowBits), true) : encodeFrame(opcode, payload);
      b = { frame, slices: frameBatches(frame, W) };
      frameCache.set(key, b);
    }
    return b;
  }

  emit({ type: 'connected', conns: conns.length });

  const scanners = [];
  const checks = [];
  for (const { socket, conn, rest, deflate } of conns) {
    const { slices } = batchFor(cfg.deflate ? deflate : null);
    const sc = new Scanner();
    sc.expOp = opcode;
    sc.expLen = cfg.deflate && deflate ? -1 : size; // compressed echoes have other lengths
    scanners.push(sc);
    const check = cfg.deflate && deflate ? null : new PrefixCheck(payload);
    if (check) checks.push(check);
    const count = frameCounter(socket, sc, check);
    const ts = new Float64Array(W);
    let head = 0;
    let tail = 0;
    let free = 0; // slots whose echo came back and that were not refilled yet
    const onData = (chunk, n) => {
      const done = count(chunk, n);
      if (done === 0) return;
      const now = performance.now();
      if (measuring) {
        msgs += done;
        for (let k = 0; k < done; k++) {
          record(now - ts[head]);
          head = head + 1 === W ? 0 : head + 1;
        }
      } else {
        head = (head + done) % W;
      }
      free += done;
      if (running && free >= REFILL) {
        for (let k = 0; k < free; k++) {
          ts[tail] = now;
          tail = tail + 1 === W ? 0 : tail + 1;
        }
        socket.write(slices[free]);
        free = 0;
      }
    };
    conn.onBytes = onData;
    socket.on('error', (e) => noteError(e.code ?? e.message));
    // Start: fill the window with one write.
    const now = performance.now();
    for (let k = 0; k < W; k++) ts[k] = now;
    socket.write(slices[W]);
    if (rest.length) onData(rest, rest.length);
  }

  startWindow(cfg.warmupMs, cfg.durationMs, (w) => {
    finish({
      kind: 'echo',
      conns: conns.length,
      inflight: W,
      size,
      msgs,
      msgsPerSec: msgs / w.seconds,
      bytesPerSec: (msgs * size) / w.seconds,
      deflateRequested: !!cfg.deflate,
      deflateNegotiated: cfg.deflate ? negotiated : false,
      deflatePartial: cfg.deflate && anyNegotiated && !negotiated,
      frameBytes: batchFor(cfg.deflate && negotiated ? conns[0].deflate : null).frame.length,
      errors,
      errorSamples,
      ...verification(scanners, checks),
      ...w,
    });
  });
}

async function runBroadcast() {
  const size = cfg.size;
  const W = cfg.inflight; // broadcasts in flight
  const N = cfg.conns;
  const payload = cfg.binary ? binaryPayload(size) : textPayload(size);
  const slices = frameBatches(encodeFrame(cfg.binary ? 0x2 : 0x1, payload), W);

  const { conns, errors: openErrors } = await openMany(N, 64);
  if (conns.length !== N) throw new Error(`opened ${conns.length}/${N} connections: ${openErrors[0]}`);
  emit({ type: 'connected', conns: conns.length });
  // Let the server register every connection before the first broadcast.
  await new Promise((r) => setTimeout(r, 100));

  const sendTs = new Float64Array(W); // send time per in-flight broadcast (slot = seq % W)
  const received = new Uint16Array(W); // receivers that got the broadcast in that slot
  let sent = 0;
  let release = 0;
  let completed = 0;
  const sender = conns[0].socket;

  function send(k, now) {
    for (let j = 0; j < k; j++) sendTs[(sent + j) % W] = now;
    sent += k;
    sender.write(slices[k]);
  }

  const scanners = [];
  const checks = [];
  for (const { socket, conn, rest } of conns) {
    const sc = new Scanner();
    sc.expOp = cfg.binary ? 0x2 : 0x1;
    sc.expLen = size;
    scanners.push(sc);
    const check = new PrefixCheck(payload);
    checks.push(check);
    const count = frameCounter(socket, sc, check);
    let seq = 0;
    const onData = (chunk, n) => {
      const done = count(chunk, n);
      if (done === 0) return;
      const now = performance.now();
      if (measuring) msgs += done;
      for (let k = 0; k < done; k++) {
        const slot = seq % W;
        seq++;
        if (measuring) record(now - sendTs[slot]);
        if (++received[slot] === N) {
          received[slot] = 0;
          completed++;
          release++;
        }
      }
      if (release > 0 && running) {
        const k = release;
        release = 0;
        send(k, now);
      }
    };
    conn.onBytes = onData;
    socket.on('error', (e) => noteError(e.code ?? e.message));
    if (rest.length) onData(rest, rest.length);
  }
  send(W, performance.now());

  startWindow(cfg.warmupMs, cfg.durationMs, (w) => {
    finish({
      kind: 'broadcast',
      conns: N,
      inflight: W,
      size,
      msgs, // deliveries
      msgsPerSec: msgs / w.seconds,
      bytesPerSec: (msgs * size) / w.seconds,
      broadcastsPerSec: msgs / N / w.seconds,
      completedBroadcasts: completed,
      errors,
      errorSamples,
      ...verification(scanners, checks),
      ...w,
    });
  });
}

async function runSetup() {
  const C = cfg.concurrency ?? 16;
  const maxOps = cfg.maxOps ?? 200_000;
  const stuckMs = 3000;
  let total = 0;
  const active = new Map(); // socket -> start time

  function cycle() {
    if (!running || total >= maxOps) return;
    total++;
    const t0 = performance.now();
    const conn = { onBytes: null };
    const socket = connectRaw(conn);
    const k = keyIndex++ & 63;
    active.set(socket, t0);
    let stage = 0; // 0 handshake, 1 close sent, 2 server close frame seen
    let acc = null;
    conn.onBytes = (buf, n) => {
      let chunk = buf.subarray(0, n);
      if (stage === 0) {
        acc = acc === null ? chunk : Buffer.concat([acc, chunk]);
        const end = acc.indexOf(CRLFCRLF);
        if (end < 0) {
          if (acc.buffer === READ_BUF.buffer) acc = Buffer.from(acc); // keep it past this read
          return;
        }
        // "HTTP/1.1 101" and our Sec-WebSocket-Accept value
        if (acc[9] !== 0x31 || acc[10] !== 0x30 || acc[11] !== 0x31 || acc.indexOf(ACCEPTS[k]) < 0 || acc.indexOf(ACCEPTS[k]) > end) {
          noteError(`handshake failed: ${acc.toString('latin1', 0, Math.max(0, acc.indexOf('\r\n')))}`);
          socket.destroy();
          return;
        }
        stage = 1;
        socket.write(CLOSE_FRAME);
        chunk = acc.subarray(end + 4);
        acc = null;
        if (chunk.length === 0) return;
      }
      // The server sends nothing but its close frame (0x88 ...) after the 101.
      if (stage === 1) {
        if (chunk[0] === 0x88) stage = 2; // then wait for the server to close TCP (RFC 6455 §7.1.1)
        else {
          noteError(`unexpected frame 0x${chunk[0].toString(16)} before the close frame`);
          socket.destroy();
        }
      }
    };
    socket.on('error', (e) => noteError(e.code ?? e.message));
    socket.on('close', () => {
      active.delete(socket);
      if (stage === 2) {
        if (measuring) {
          ops++;
          record(performance.now() - t0);
        }
      } else if (running) noteError(stage === 0 ? 'closed before 101' : 'closed without close frame');
      if (running) setImmediate(cycle);
    });
    socket.write(REQUESTS[k]);
  }

  const stuck = setInterval(() => {
    const now = performance.now();
    for (const [s, t0] of active) {
      if (now - t0 > stuckMs) {
        noteError(`handshake + close took > ${stuckMs} ms`);
        s.destroy();
      }
    }
  }, 250);
  emit({ type: 'connected', conns: C });
  for (let i = 0; i < C; i++) cycle();

  startWindow(cfg.warmupMs, cfg.durationMs, (w) => {
    clearInterval(stuck);
    for (const s of active.keys()) s.destroy();
    finish({
      kind: 'setup',
      concurrency: C,
      ops,
      msgsPerSec: ops / w.seconds,
      bytesPerSec: null,
      totalConnections: total,
      hitMaxOps: total >= maxOps,
      errors,
      errorSamples,
      ...w,
    });
  });
}

async function runIdle() {
  const N = cfg.conns;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const { conns, errors: openErrors } = await openMany(N, cfg.openConcurrency ?? 128, Date.now() + (cfg.openTimeoutMs ?? 60_000));
  const openSeconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  for (const e of openErrors) noteError(e);
  for (const { socket } of conns) socket.on('error', (e) => noteError(e.code ?? e.message));
  const result = {
    kind: 'idle',
    requested: N,
    opened: conns.length,
    openSeconds,
    openPerSec: conns.length / openSeconds,
    cpuPercent: ((cpu.user + cpu.system) / 1000 / (openSeconds * 1000)) * 100,
    errors,
    errorSamples,
  };
  if (!hasIpc) return finish(result);
  process.on('message', (m) => {
    if (m && m.cmd === 'finish') finish(result);
  });
  emit({ type: 'idle-ready', opened: conns.length, errors });
}

const runners = { echo: runEcho, broadcast: runBroadcast, setup: runSetup, idle: runIdle };
if (!runners[KIND]) fail(`unknown kind ${KIND}`);
else runners[KIND]().catch(fail);
