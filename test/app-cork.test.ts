// wasmsocket/app's write and lending paths on Node's TCP handles, from a raw TCP
// peer that sends many frames in one write: the answers to one read leave in
// one write of one chunk (the cork buffer, src/app/wire.ts), in order, byte for
// byte, also when the kernel stops taking them (a peer that does not read) and
// the cork buffer must not be reused under a write in flight; lent messages
// (src/app/lend.ts) stay their own bytes until the read is dispatched and are
// detached after it, however many a read brings.
import { afterEach, describe, expect, it } from 'vitest';
import net from 'node:net';
import { Buffer } from 'node:buffer';
import { createHash, randomBytes } from 'node:crypto';
import { App, us_socket_local_port, type TemplatedApp, type ListenSocket, type WebSocketBehavior } from '../src/app/index.ts';
import { setAppTransport } from '../src/app/node-platform.ts';
import { tcpStats } from '../src/app/node-tcp.ts';
import { flushReadsAtTurnEnd } from '../src/app/wire.ts';
import { framePoolStats } from '../src/app/frame-pool.ts';
import { reuseStats } from '../src/app/lend.ts';

const apps: TemplatedApp[] = [];
const peers: net.Socket[] = [];
afterEach(() => {
  for (const a of apps.splice(0)) a.close();
  for (const p of peers.splice(0)) p.destroy();
  setAppTransport('tcp');
});

async function serve(behavior: WebSocketBehavior): Promise<number> {
  setAppTransport('tcp');
  const app = App().ws('/*', { maxPayloadLength: 1024 * 1024, maxBackpressure: 64 * 1024 * 1024, ...behavior });
  apps.push(app);
  return new Promise((resolve, reject) => app.listen('127.0.0.1', 0, (t: ListenSocket | false) => t ? resolve(us_socket_local_port(t)) : reject(new Error('listen failed'))));
}

/** A raw client after its 101: the socket and whatever came after the head. */
async function rawClient(port: number): Promise<{ socket: net.Socket; rest: Buffer }> {
  const socket = net.connect(port, '127.0.0.1');
  peers.push(socket);
  const key = randomBytes(16).toString('base64');
  socket.write(`GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  let got = Buffer.alloc(0);
  for (;;) {
    const chunk: Buffer = await new Promise((resolve, reject) => { socket.once('data', resolve); socket.once('error', reject); });
    got = Buffer.concat([got, chunk]);
    const end = got.indexOf('\r\n\r\n');
    if (end < 0) continue;
    const head = got.subarray(0, end).toString();
    expect(head).toMatch(/^HTTP\/1\.1 101/);
    const accept = createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
    expect(head).toContain(accept);
    socket.removeAllListeners('data');
    return { socket, rest: got.subarray(end + 4) };
  }
}

/** A masked client frame (FIN, binary). */
function clientFrame(payload: Buffer): Buffer {
  const n = payload.length, mask = randomBytes(4);
  const head = n < 126 ? Buffer.from([0x82, 0x80 | n]) : n < 65536 ? Buffer.from([0x82, 0xfe, n >> 8, n & 255]) : Buffer.alloc(10);
  if (n >= 65536) { head[0] = 0x82; head[1] = 0xff; head.writeBigUInt64BE(BigInt(n), 2); }
  const body = Buffer.from(payload);
  for (let i = 0; i < n; i++) body[i] ^= mask[i & 3];
  return Buffer.concat([head, mask, body]);
}

/** Reads `count` unmasked server frames' payloads, starting with `rest`. */
function readFrames(socket: net.Socket, rest: Buffer, count: number): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    let buf = rest;
    const out: Buffer[] = [];
    const parse = (): void => {
      for (;;) {
        if (buf.length < 2) return;
        let n = buf[1] & 127, h = 2;
        if (n === 126) { if (buf.length < 4) return; n = buf.readUInt16BE(2); h = 4; }
        else if (n === 127) { if (buf.length < 10) return; n = Number(buf.readBigUInt64BE(2)); h = 10; }
        if (buf.length < h + n) return;
        out.push(Buffer.from(buf.subarray(h, h + n)));
        buf = buf.subarray(h + n);
        if (out.length === count) { socket.removeListener('data', onData); resolve(out); return; }
      }
    };
    const onData = (c: Buffer): void => { buf = Buffer.concat([buf, c]); parse(); };
    socket.on('data', onData);
    socket.once('error', reject);
    parse();
  });
}

const payloadOf = (i: number, size: number): Buffer => Buffer.alloc(size, (i * 7 + 1) % 251).fill(i % 256, 0, 1);

describe("the App's cork buffer on Node's TCP handles", () => {
  it('answers 16 pipelined 32 B and 1 KiB messages in one write of one chunk per read', async () => {
    const port = await serve({ message: (ws, m, isBinary) => { ws.send(m, isBinary); } });
    for (const size of [32, 1024]) {
      const { socket, rest } = await rawClient(port);
      const sent = Array.from({ length: 16 }, (_, i) => payloadOf(i, size));
      const reads0 = tcpStats.directReads, writes0 = tcpStats.writes, chunks0 = tcpStats.chunks;
      const got = readFrames(socket, rest, 16);
      socket.write(Buffer.concat(sent.map(clientFrame)));
      expect(await got).toEqual(sent);
      const reads = tcpStats.directReads - reads0, writes = tcpStats.writes - writes0, chunks = tcpStats.chunks - chunks0;
      expect(writes, `${writes} writes for ${reads} reads`).toBeLessThanOrEqual(reads);
      // Before the cork buffer: one chunk per frame (16 per writev).
      expect(chunks, `${chunks} chunks in ${writes} writes`).toBe(writes);
    }
  });

  it('keeps order and bytes when small frames, large frames and a peer that stops reading mix', async () => {
    const port = await serve({ message: (ws, m, isBinary) => { ws.send(m, isBinary); } });
    const { socket, rest } = await rawClient(port);
    socket.pause(); // the kernel's buffers fill: some writes stay in flight, holding the cork buffer
    // 1,000 messages, 16 per TCP write, sizes from 1 B to 80 KiB (past CORK_CHUNK_MAX: a chunk of its own), ~12 MiB
    // back: more than loopback's socket buffers hold (Linux's default maxima 4 + 6 MiB).
    const sizes = [1, 32, 125, 126, 1024, 16 * 1024, 40 * 1024, 64 * 1024, 80 * 1024, 7, 300];
    const sent = Array.from({ length: 1000 }, (_, i) => payloadOf(i, sizes[i % sizes.length]));
    for (let i = 0; i < sent.length; i += 16) socket.write(Buffer.concat(sent.slice(i, i + 16).map(clientFrame)));
    const queued0 = tcpStats.queuedWrites;
    await new Promise((r) => setTimeout(r, 300));
    const queuedMeanwhile = tcpStats.queuedWrites - queued0;
    const got = readFrames(socket, rest, sent.length);
    socket.resume();
    const frames = await got;
    expect(frames.length).toBe(sent.length);
    for (let i = 0; i < sent.length; i++) expect(frames[i].equals(sent[i]), `message ${i} (${sent[i].length} B)`).toBe(true);
    // The case under test happened: writes waited for the kernel.
    expect(queuedMeanwhile).toBeGreaterThan(0);
  });
});

/** An App whose every socket subscribes to 'room' and publishes there what it gets; 8 raw clients on it. */
async function roomOfEight(): Promise<{ socket: net.Socket; rest: Buffer }[]> {
  let app!: TemplatedApp;
  const port = await serve({
    open: (ws) => { ws.subscribe('room'); },
    message: (_ws, m, isBinary) => { app.publish('room', m, isBinary); },
  });
  app = apps[apps.length - 1];
  return Promise.all(Array.from({ length: 8 }, () => rawClient(port)));
}

describe("the App's publish on Node's TCP handles", () => {
  it("a turn's publishes reach each subscriber in one write of one chunk, in order", async () => {
    const subs = await roomOfEight();
    const sent = Array.from({ length: 20 }, (_, i) => payloadOf(i, 40 + i));
    const writes0 = tcpStats.writes, chunks0 = tcpStats.chunks, reads0 = tcpStats.directReads;
    const got = subs.map((c) => readFrames(c.socket, c.rest, sent.length));
    subs[0].socket.write(Buffer.concat(sent.map(clientFrame)));
    for (const frames of await Promise.all(got)) expect(frames).toEqual(sent);
    const writes = tcpStats.writes - writes0, chunks = tcpStats.chunks - chunks0, reads = tcpStats.directReads - reads0;
    // One write per subscriber per read that published (before: a writev of 20 chunks each).
    expect(writes, `${writes} writes for ${reads} reads`).toBeLessThanOrEqual(8 * reads);
    expect(chunks).toBe(writes);
  });
});

describe("on Node a turn's reads write once at its end (wire.ts flushReadsAtTurnEnd)", () => {
  // Four publishers write in one tick of this process, so the server (this process too) finds
  // the four reads ready together in its next poll phase. Per read, each subscriber gets one
  // write per read; per turn, one write for all of them.
  async function publishRounds(): Promise<{ writes: number; reads: number }> {
    const subs = await roomOfEight();
    const publishers = subs.slice(0, 4);
    let writes = 0, reads = 0;
    for (let round = 0; round < 10; round++) {
      const sent = publishers.map((_, i) => payloadOf(round * 4 + i, 16));
      const got = subs.map((c) => readFrames(c.socket, round === 0 ? c.rest : Buffer.alloc(0), sent.length));
      const writes0 = tcpStats.writes, reads0 = tcpStats.directReads;
      publishers.forEach((p, i) => p.socket.write(clientFrame(sent[i])));
      for (const frames of await Promise.all(got)) expect([...frames].sort(Buffer.compare)).toEqual([...sent].sort(Buffer.compare));
      writes += tcpStats.writes - writes0;
      reads += tcpStats.directReads - reads0;
    }
    return { writes, reads };
  }

  afterEach(() => { flushReadsAtTurnEnd(true); });

  it('subscribers reached by several reads of one turn get one write (against one per read when switched off)', async () => {
    const perTurn = await publishRounds();
    flushReadsAtTurnEnd(false);
    const perRead = await publishRounds();
    console.log(`[turn-end writes] per turn ${perTurn.writes} writes for ${perTurn.reads} reads; per read ${perRead.writes} for ${perRead.reads}`);
    expect(perRead.writes).toBe(8 * perRead.reads);
    expect(perTurn.writes, `${perTurn.writes} writes for ${perTurn.reads} reads`).toBeLessThan(8 * perTurn.reads);
  });
});

describe('lent messages are detached when their read is dispatched', () => {
  it('a view kept from an earlier message of the same read shows its own bytes, and none after the read', async () => {
    const kept: { ab: ArrayBuffer; first: number }[] = [];
    const seenInLater: number[] = [];
    let done!: () => void;
    const all = new Promise<void>((r) => { done = r; });
    const port = await serve({
      message: (_ws, m) => {
        // Every earlier message kept so far either still shows its own bytes or is detached (an earlier read).
        for (const k of kept) if (k.ab.byteLength > 0) seenInLater.push(new Uint8Array(k.ab)[0] === k.first ? 1 : 0);
        kept.push({ ab: m, first: new Uint8Array(m)[0] });
        if (kept.length === 200) setImmediate(done);
      },
    });
    const { socket } = await rawClient(port);
    // 200 messages (past the 64 a batch detaches at once) in one write: 1 to 3 reads.
    const sent = Array.from({ length: 200 }, (_, i) => payloadOf(i, 8));
    socket.write(Buffer.concat(sent.map(clientFrame)));
    await all;
    expect(kept.map((k) => k.first)).toEqual(sent.map((s) => s[0]));
    expect(seenInLater.length).toBeGreaterThan(0); // some were read while still lent
    expect(seenInLater.every((x) => x === 1)).toBe(true); // never another message's bytes
    for (const k of kept) {
      expect(k.ab.byteLength).toBe(0);
      expect(() => new Uint8Array(k.ab)).toThrow(TypeError);
    }
  });
});

describe('frames past the cork buffer reuse buffers once written (src/app/frame-pool.ts)', () => {
  const big = (i: number, size: number): Buffer => { const b = randomBytes(size); b[0] = i; return b; };

  it('1 MiB and 200 KiB echoes to a peer that stops reading arrive whole while buffers are reused', async () => {
    const port = await serve({ message: (ws, m, isBinary) => { ws.send(m, isBinary); } });
    const { socket, rest } = await rawClient(port);
    socket.pause(); // the kernel's buffers fill: writes stay in flight, holding their frames
    const sent = Array.from({ length: 24 }, (_, i) => big(i, i % 3 === 0 ? 1024 * 1024 : 200 * 1024));
    const before = { ...framePoolStats }, queued0 = tcpStats.queuedWrites;
    // Half while the peer does not read, then it reads them; the other half then reuses their buffers,
    // again while the peer does not read for a while.
    const first = readFrames(socket, rest, 12);
    for (const s of sent.slice(0, 12)) socket.write(clientFrame(s));
    await new Promise((r) => setTimeout(r, 200));
    socket.resume();
    const frames = await first;
    socket.pause();
    const second = readFrames(socket, Buffer.alloc(0), 12);
    for (const s of sent.slice(12)) socket.write(clientFrame(s));
    await new Promise((r) => setTimeout(r, 200));
    socket.resume();
    frames.push(...await second);
    for (let i = 0; i < sent.length; i++) expect(frames[i].equals(sent[i]), `message ${i}`).toBe(true);
    expect(framePoolStats.taken - before.taken).toBe(sent.length);
    expect(framePoolStats.reused - before.reused, 'buffers were used again').toBeGreaterThan(0);
    expect(tcpStats.queuedWrites - queued0, 'some writes waited for the kernel').toBeGreaterThan(0);
  });

  it('a large lent message is detached when its buffer goes to the next message of its size, which a kept view never shows', async () => {
    const kept: { ab: ArrayBuffer; first: number }[] = [];
    const port = await serve({ message: (ws, m) => { kept.push({ ab: m, first: new Uint8Array(m)[0] }); ws.send('ok'); } });
    const { socket, rest } = await rawClient(port);
    const before = { ...reuseStats };
    let buf = rest;
    for (let i = 0; i < 8; i++) {
      const got = readFrames(socket, buf, 1);
      socket.write(clientFrame(big(i, 256 * 1024)));
      await got;
      buf = Buffer.alloc(0);
    }
    expect(kept.map((k) => k.first)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(reuseStats.reused - before.reused, 'buffers were used again').toBeGreaterThan(0);
    for (const k of kept) {
      expect(k.ab.byteLength).toBe(0);
      expect(() => new Uint8Array(k.ab)).toThrow(TypeError);
    }
  });

  it("the application's bytes are copied: changing them after send() changes nothing sent", async () => {
    const own = Buffer.alloc(300 * 1024, 0x41);
    const port = await serve({ message: (ws, m) => { ws.send(own, true); ws.send(m, true); own.fill(0x42); new Uint8Array(m).fill(0x43); } });
    const { socket, rest } = await rawClient(port);
    socket.pause();
    const got = readFrames(socket, rest, 2);
    socket.write(clientFrame(Buffer.alloc(100 * 1024, 0x44)));
    await new Promise((r) => setTimeout(r, 100));
    socket.resume();
    const [a, b] = await got;
    expect(a.equals(Buffer.alloc(300 * 1024, 0x41))).toBe(true);
    expect(b.equals(Buffer.alloc(100 * 1024, 0x44))).toBe(true);
  });

  it('on the net.Socket fallback frames are not pooled, and arrive whole', async () => {
    setAppTransport('net');
    const app = App().ws('/*', { maxPayloadLength: 2 * 1024 * 1024, message: (ws, m, isBinary) => { ws.send(m, isBinary); } });
    apps.push(app);
    const port: number = await new Promise((resolve, reject) => app.listen('127.0.0.1', 0, (t: ListenSocket | false) => t ? resolve(us_socket_local_port(t)) : reject(new Error('listen failed'))));
    const { socket, rest } = await rawClient(port);
    const sent = Array.from({ length: 3 }, (_, i) => big(i, 1024 * 1024));
    const before = framePoolStats.taken;
    const got = readFrames(socket, rest, sent.length);
    for (const s of sent) socket.write(clientFrame(s));
    const frames = await got;
    for (let i = 0; i < sent.length; i++) expect(frames[i].equals(sent[i])).toBe(true);
    expect(framePoolStats.taken).toBe(before);
  });
});
