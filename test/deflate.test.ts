// permessage-deflate data path: compress / decompress, window sizes, context
// takeover, fragments, maxPayload (bombs), corrupt data, the zlib concurrency
// limiter, the pool, cleanup, and round trips against ws's PerMessageDeflate.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import zlib from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { formatExtensions, parseExtensions } from '../src/codec/extension.ts';
import {
  DEFAULT_DEFLATE_IDLE_RELEASE, DEFAULT_MAX_IDLE_DEFLATE_STREAMS, PerMessageDeflate, PerMessageDeflateError, drainZlibPool,
  resetZlibPeak, setMaxIdleDeflateStreams, setZlibConcurrencyLimit, zlibStats, type PerMessageDeflateOptions,
} from '../src/node/deflate/permessage-deflate.ts';
import { FrameEncoder, OPCODE } from '../src/codec/index.ts';
import { collector, prng } from './helpers/codec-harness.ts';

const require = createRequire(import.meta.url);
const wsLib = join(dirname(require.resolve('ws')), 'lib');
type WsCallback = (err: Error | null, result?: Buffer) => void;
interface WsPmd {
  params: Record<string, unknown> | null;
  offer(): Record<string, unknown>;
  accept(configurations: Array<Record<string, Array<string | true>>>): Record<string, unknown>;
  compress(data: Buffer, fin: boolean, cb: WsCallback): void;
  decompress(data: Buffer, fin: boolean, cb: WsCallback): void;
  cleanup(): void;
}
const WsPerMessageDeflate = require(join(wsLib, 'permessage-deflate.js')) as new (options: object) => WsPmd;
const wsFormat = (require(join(wsLib, 'extension.js')) as { format(e: Record<string, unknown>): string }).format;

const P = 'permessage-deflate';

interface Codec {
  compress(data: Buffer, fin: boolean, cb: WsCallback): void;
  decompress(data: Buffer, fin: boolean, cb: WsCallback): void;
}

const compress = (c: Codec, data: Buffer, fin = true): Promise<Buffer> =>
  new Promise((resolve, reject) => c.compress(data, fin, (err, out) => (err ? reject(err) : resolve(out as Buffer))));
const decompress = (c: Codec, data: Buffer, fin = true): Promise<Buffer> =>
  new Promise((resolve, reject) => c.decompress(data, fin, (err, out) => (err ? reject(err) : resolve(out as Buffer))));
const decompressError = (c: Codec, data: Buffer, fin = true): Promise<PerMessageDeflateError> =>
  new Promise((resolve, reject) => c.decompress(data, fin, (err) => (err ? resolve(err as PerMessageDeflateError) : reject(new Error('no error')))));

/** Negotiates a client and a server through real header strings; returns both and the response header. */
function pair(clientOptions: PerMessageDeflateOptions = {}, serverOptions: PerMessageDeflateOptions = {}, maxPayload = 0) {
  const client = new PerMessageDeflate(clientOptions, false, maxPayload);
  const server = new PerMessageDeflate(serverOptions, true, maxPayload);
  const offer = formatExtensions({ [P]: client.offer() });
  const response = formatExtensions({ [P]: server.accept(parseExtensions(offer)[P] ?? []) });
  client.accept(parseExtensions(response)[P] ?? []);
  return { client, server, offer, response };
}

/** Our client against a ws server (or the reverse), negotiated through header strings. */
function mixedPair(ourSide: 'client' | 'server', ourOptions: PerMessageDeflateOptions, wsOptions: object, maxPayload = 0) {
  if (ourSide === 'client') {
    const ours = new PerMessageDeflate(ourOptions, false, maxPayload);
    const ws = new WsPerMessageDeflate({ ...wsOptions, isServer: true, maxPayload });
    const response = wsFormat({ [P]: ws.accept(parseExtensions(formatExtensions({ [P]: ours.offer() }))[P] ?? []) });
    ours.accept(parseExtensions(response)[P] ?? []);
    return { ours, ws, response };
  }
  const ws = new WsPerMessageDeflate({ ...wsOptions, isServer: false, maxPayload });
  const ours = new PerMessageDeflate(ourOptions, true, maxPayload);
  const response = formatExtensions({ [P]: ours.accept(parseExtensions(wsFormat({ [P]: ws.offer() }))[P] ?? []) });
  ws.accept(parseExtensions(response)[P] ?? []);
  return { ours, ws, response };
}

function text(n: number, seed = 1): Buffer {
  const rand = prng(seed);
  const words = ['alpha', 'beta', 'gamma', 'delta', 'websocket', 'deflate', 'frame', 'message', '{"id":', '},'];
  let s = '';
  while (s.length < n) s += words[Math.floor(rand() * words.length)] + (rand() < 0.1 ? '\n' : ' ');
  return Buffer.from(s.slice(0, n));
}

function random(n: number, seed = 2): Buffer {
  const rand = prng(seed);
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (rand() * 256) | 0;
  return b;
}

/** Random blocks each repeated right after itself: back-references at every distance from 200 to 40000 (every third one up to 520). */
function repeatsAtAllDistances(seed = 3): Buffer {
  const parts: Buffer[] = [];
  for (let d = 200; d <= 520; d += 3) { const b = random(d, seed + d); parts.push(b, b); }
  for (let d = 600; d <= 40000; d = Math.ceil(d * 1.4)) { const b = random(d, seed + d); parts.push(b, b); }
  return Buffer.concat(parts);
}

// A small raw-deflate decoder (RFC 1951) that also reports the largest
// back-reference distance, to check output against a negotiated window size
// exactly (zlib's inflate only checks distances against its window across
// calls, so it is not a strict judge).
function inflateTracking(buf: Uint8Array): { out: Buffer; maxDist: number } {
  let pos = 0, bit = 0, maxDist = 0;
  const out: number[] = [];
  const bits = (n: number): number => {
    let v = 0;
    for (let i = 0; i < n; i++) {
      if (pos >= buf.length) throw new Error('unexpected end');
      v |= (((buf[pos] as number) >> bit) & 1) << i;
      if (++bit === 8) { bit = 0; pos++; }
    }
    return v;
  };
  type Huff = { count: number[]; sym: number[] };
  const build = (lens: number[]): Huff => {
    const count = new Array<number>(16).fill(0);
    for (const l of lens) count[l] = (count[l] as number) + 1;
    count[0] = 0;
    const offs = [0];
    for (let i = 1; i < 16; i++) offs[i] = (offs[i - 1] as number) + (count[i - 1] as number);
    const sym: number[] = [];
    lens.forEach((l, s) => { if (l) sym[(offs[l] as number)++] = s; });
    return { count, sym };
  };
  const decode = (h: Huff): number => {
    let code = 0, first = 0, index = 0;
    for (let len = 1; len < 16; len++) {
      code |= bits(1);
      const c = h.count[len] as number;
      if (code - c < first) return h.sym[index + (code - first)] as number;
      index += c; first += c; first <<= 1; code <<= 1;
    }
    throw new Error('bad code');
  };
  const LB = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
  const LE = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
  const DB = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577];
  const DE = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];
  const fixedLit = build(Array.from({ length: 288 }, (_, i) => (i < 144 ? 8 : i < 256 ? 9 : i < 280 ? 7 : 8)));
  const fixedDist = build(new Array<number>(30).fill(5));
  let last = 0;
  while (!last && pos < buf.length) {
    last = bits(1);
    const type = bits(2);
    if (type === 0) {
      if (bit) { bit = 0; pos++; }
      if (pos + 4 > buf.length) break; // an unterminated empty block at the end of a flushed stream
      const len = (buf[pos] as number) | ((buf[pos + 1] as number) << 8);
      pos += 4;
      for (let i = 0; i < len; i++) out.push(buf[pos++] as number);
      continue;
    }
    let lit: Huff, dist: Huff;
    if (type === 1) {
      lit = fixedLit; dist = fixedDist;
    } else if (type === 2) {
      const hl = bits(5) + 257, hd = bits(5) + 1, hc = bits(4) + 4;
      const order = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];
      const cl = new Array<number>(19).fill(0);
      for (let i = 0; i < hc; i++) cl[order[i] as number] = bits(3);
      const ch = build(cl);
      const lens: number[] = [];
      while (lens.length < hl + hd) {
        const s = decode(ch);
        if (s < 16) lens.push(s);
        else if (s === 16) { const p = lens[lens.length - 1] as number; for (let r = 3 + bits(2); r; r--) lens.push(p); }
        else if (s === 17) { for (let r = 3 + bits(3); r; r--) lens.push(0); }
        else { for (let r = 11 + bits(7); r; r--) lens.push(0); }
      }
      lit = build(lens.slice(0, hl)); dist = build(lens.slice(hl));
    } else {
      throw new Error('bad block type');
    }
    for (;;) {
      const s = decode(lit);
      if (s < 256) out.push(s);
      else if (s === 256) break;
      else {
        const i = s - 257;
        const len = (LB[i] as number) + bits(LE[i] as number);
        const ds = decode(dist);
        const d = (DB[ds] as number) + bits(DE[ds] as number);
        if (d > out.length) throw new Error('distance before the start');
        if (d > maxDist) maxDist = d;
        for (let k = 0; k < len; k++) out.push(out[out.length - d] as number);
      }
    }
  }
  return { out: Buffer.from(out), maxDist };
}

function withTail(b: Buffer): Buffer {
  return Buffer.concat([b, Buffer.from([0, 0, 0xff, 0xff])]);
}

afterEach(() => {
  setZlibConcurrencyLimit(10);
  setMaxIdleDeflateStreams(DEFAULT_MAX_IDLE_DEFLATE_STREAMS);
});

describe('compress / decompress', () => {
  it('round-trips both ways with default options', async () => {
    const { client, server, response } = pair();
    expect(response).toBe(P);
    for (const data of [text(10), text(5000), random(3000), Buffer.alloc(0), text(200_000)]) {
      expect((await decompress(server, await compress(client, data))).equals(data)).toBe(true);
      expect((await decompress(client, await compress(server, data))).equals(data)).toBe(true);
    }
    client.cleanup();
    server.cleanup();
  });

  it('strips the 00 00 ff ff tail on fin, keeps it otherwise; an empty message is one 00 byte', async () => {
    const { client, server } = pair();
    const part = await compress(client, text(100), false);
    expect([...part.subarray(-4)]).toEqual([0, 0, 0xff, 0xff]);
    const end = await compress(client, Buffer.alloc(0), true);
    expect([...end]).toEqual([0]);
    expect((await decompress(server, Buffer.concat([part, end]))).toString()).toBe(text(100).toString());

    const { client: c2 } = pair({ clientNoContextTakeover: true });
    expect([...(await compress(c2, Buffer.alloc(0), true))]).toEqual([0]);
    client.cleanup(); server.cleanup(); c2.cleanup();
  });

  it('accepts Uint8Array input', async () => {
    const { client, server } = pair();
    const data = new Uint8Array(text(3000));
    expect((await decompress(server, await compress(client, Buffer.from(data)))).equals(Buffer.from(data))).toBe(true);
    client.cleanup(); server.cleanup();
  });

  it('decompressMessage() takes a message with the tail already appended (FrameDecoder output)', async () => {
    const { client, server } = pair();
    for (let i = 0; i < 3; i++) {
      const data = text(4000, i);
      const c = await compress(client, data);
      const out = await new Promise<Buffer>((resolve, reject) =>
        server.decompressMessage(withTail(c), (err, o) => (err ? reject(err) : resolve(o as Buffer))));
      expect(out.equals(data)).toBe(true);
    }
    client.cleanup(); server.cleanup();
  });

  it('FrameDecoder hands over a compressed message with its tail: decompressMessage() inflates it', async () => {
    const { client, server } = pair();
    const encoder = new FrameEncoder({ mask: true });
    const { decoder, events } = collector({ isServer: true, perMessageDeflate: true });
    for (let m = 0; m < 3; m++) {
      const data = text(30_000, m);
      // Compressed in three fragments, sent as three frames (RSV1 on the first only).
      const parts = [await compress(client, data.subarray(0, 10_000), false),
        await compress(client, data.subarray(10_000, 20_000), false), await compress(client, data.subarray(20_000), true)];
      parts.forEach((p, i) => decoder.push(encoder.frame(i === 0 ? OPCODE.text : OPCODE.continuation, p,
        { fin: i === 2, rsv1: i === 0 })));
      const ev = events.shift();
      if (ev?.type !== 'message') throw new Error(`expected a message, got ${JSON.stringify(ev)}`);
      expect(ev.compressed).toBe(true);
      const out = await new Promise<Buffer>((resolve, reject) =>
        server.decompressMessage(ev.data, (err, o) => (err ? reject(err) : resolve(o as Buffer))));
      expect(out.equals(data)).toBe(true);
    }
    client.cleanup(); server.cleanup();
  });

  it('keeps callback order per instance and never calls back synchronously', async () => {
    const { client, server } = pair();
    const inputs = Array.from({ length: 30 }, (_, i) => text(100 + i * 997, i));
    const order: number[] = [];
    let sync = true;
    let calledSync = false;
    const pending = inputs.map((data, i) => new Promise<Buffer>((resolve, reject) => {
      client.compress(data, true, (err, out) => {
        if (sync) calledSync = true;
        order.push(i);
        if (err) reject(err); else resolve(out as Buffer);
      });
    }));
    sync = false;
    const outs = await Promise.all(pending);
    expect(calledSync).toBe(false);
    expect(order).toEqual(inputs.map((_, i) => i));
    // Context takeover: they must be inflated in the same order.
    const dorder: number[] = [];
    const back = await Promise.all(outs.map((c, i) => new Promise<Buffer>((resolve, reject) => {
      server.decompress(c, true, (err, out) => { dorder.push(i); if (err) reject(err); else resolve(out as Buffer); });
    })));
    expect(dorder).toEqual(inputs.map((_, i) => i));
    back.forEach((b, i) => expect(b.equals(inputs[i] as Buffer)).toBe(true));
    client.cleanup(); server.cleanup();
  });

  it('reports misuse through the callback, asynchronously', async () => {
    const pmd = new PerMessageDeflate({}, true, 0);
    let sync = true;
    const err = await new Promise<PerMessageDeflateError>((resolve) => {
      pmd.decompress(Buffer.from([1, 2, 3]), true, (e) => { expect(sync).toBe(false); resolve(e as PerMessageDeflateError); });
      sync = false;
    });
    expect(err).toBeInstanceOf(PerMessageDeflateError);
    expect(err.message).toMatch(/not negotiated/);
    pmd.accept([{}]);
    const e2 = await new Promise<PerMessageDeflateError>((resolve) =>
      pmd.decompress('not bytes' as unknown as Buffer, true, (e) => resolve(e as PerMessageDeflateError)));
    expect(e2.code).toBe(1011);
    pmd.cleanup();
  });
});

describe('window bits 8..15', () => {
  const data = repeatsAtAllDistances();
  const sizes: Record<number, number> = {};

  for (let bits = 8; bits <= 15; bits++) {
    it(`negotiated ${bits}: every back-reference within 2^${bits} bytes, peers set to ${bits} inflate it`, async () => {
      for (const side of ['server', 'client'] as const) {
        const { client, server, response } = pair({ serverMaxWindowBits: bits, clientMaxWindowBits: bits });
        expect(response).toBe(`${P}; server_max_window_bits=${bits}; client_max_window_bits=${bits}`);
        const sender = side === 'server' ? server : client;
        const receiver = side === 'server' ? client : server;
        // Two messages: with context takeover the second may reference the first.
        const c1 = await compress(sender, data);
        const c2 = await compress(sender, data);
        const tracked = inflateTracking(withTail(Buffer.concat([c1, Buffer.from([0, 0, 0xff, 0xff]), c2])));
        expect(tracked.out.equals(Buffer.concat([data, data]))).toBe(true);
        expect(tracked.maxDist).toBeLessThanOrEqual(2 ** bits);
        if (bits === 8) expect(tracked.maxDist).toBeLessThanOrEqual(250); // zlib's MAX_DIST for a 512-byte window
        if (bits >= 10) expect(tracked.maxDist).toBeGreaterThan(2 ** (bits - 1)); // the window is actually used

        // A zlib peer inflating with exactly that window, small output chunks so
        // distances are checked against the window.
        const peer = zlib.createInflateRaw({ windowBits: bits, chunkSize: 64 });
        const got: Buffer[] = [];
        peer.on('data', (c: Buffer) => got.push(c));
        await new Promise<void>((resolve, reject) => {
          peer.on('error', reject);
          peer.write(withTail(c1));
          peer.write(withTail(c2));
          peer.flush(zlib.constants.Z_SYNC_FLUSH, () => resolve());
        });
        expect(Buffer.concat(got).equals(Buffer.concat([data, data]))).toBe(true);
        peer.close();

        expect((await decompress(receiver, c1)).equals(data)).toBe(true);
        expect((await decompress(receiver, c2)).equals(data)).toBe(true);
        if (side === 'server') sizes[bits] = c1.length;
        client.cleanup(); server.cleanup();
      }
    });
  }

  it('larger windows compress long-distance repeats better', () => {
    expect(sizes[15]).toBeLessThan((sizes[12] as number) * 0.8);
    expect(sizes[12]).toBeLessThan((sizes[9] as number) * 0.9);
  });

  it('what the 8 -> 9 handling relies on: Node turns windowBits 8 into 9 for raw deflate', () => {
    const opts = { windowBits: 8 };
    zlib.createDeflateRaw(opts).close();
    expect(opts.windowBits).toBe(9);
    const tracked = inflateTracking(zlib.deflateRawSync(repeatsAtAllDistances(9), { windowBits: 9, level: 9 }));
    expect(tracked.maxDist).toBeLessThanOrEqual(250);
  });
});

describe('context takeover', () => {
  const msg = text(20_000, 42);

  it('on: the second identical message compresses much smaller; the streams stay with the connection', async () => {
    const { client, server } = pair();
    const a = await compress(server, msg);
    const b = await compress(server, msg);
    expect(b.length).toBeLessThan(a.length / 4);
    expect((await decompress(client, a)).equals(msg)).toBe(true);
    expect((await decompress(client, b)).equals(msg)).toBe(true);
    const noise = random(20_000, 43); // incompressible alone, a few hundred bytes the second time
    const c = await compress(server, noise);
    const d = await compress(server, noise);
    expect(c.length).toBeGreaterThan(20_000);
    expect(d.length).toBeLessThan(c.length / 20);
    expect((await decompress(client, c)).equals(noise)).toBe(true);
    expect((await decompress(client, d)).equals(noise)).toBe(true);
    expect(server.holdsZlib.deflate).toBe(true);
    expect(client.holdsZlib.inflate).toBe(true);
    client.cleanup(); server.cleanup();
    expect(server.holdsZlib).toEqual({ deflate: false, inflate: false });
  });

  it('off (server_no_context_takeover): identical messages compress identically; no zlib object kept between messages', async () => {
    drainZlibPool();
    const { client, server, response } = pair({ serverNoContextTakeover: true });
    expect(response).toBe(`${P}; server_no_context_takeover`);
    const a = await compress(server, msg);
    const b = await compress(server, msg);
    expect(b.equals(a)).toBe(true);
    const noise = random(20_000, 43);
    expect((await compress(server, noise)).length).toBe((await compress(server, noise)).length);
    expect(server.holdsZlib.deflate).toBe(false);
    expect((await decompress(client, a)).equals(msg)).toBe(true);
    expect((await decompress(client, b)).equals(msg)).toBe(true);
    expect(client.holdsZlib.inflate).toBe(false);
    // The client still uses context takeover for its own messages.
    await compress(client, msg);
    expect(client.holdsZlib.deflate).toBe(true);
    expect(zlibStats().pooled).toBeGreaterThan(0);
    client.cleanup(); server.cleanup();
  });

  it('off both ways: 200 connections x 3 messages share a handful of pooled streams', async () => {
    drainZlibPool();
    const conns = Array.from({ length: 200 }, () => pair({ serverNoContextTakeover: true, clientNoContextTakeover: true }));
    for (let round = 0; round < 3; round++) {
      await Promise.all(conns.map(async ({ client, server }, i) => {
        const data = text(2000, i + round);
        expect((await decompress(server, await compress(client, data))).equals(data)).toBe(true);
      }));
    }
    for (const { client, server } of conns) {
      expect(client.holdsZlib).toEqual({ deflate: false, inflate: false });
      expect(server.holdsZlib).toEqual({ deflate: false, inflate: false });
    }
    expect(zlibStats().pooled).toBeLessThanOrEqual(2 * 10);
    drainZlibPool();
    expect(zlibStats().pooled).toBe(0);
    for (const { client, server } of conns) { client.cleanup(); server.cleanup(); }
  });

  it('a pooled stream carries nothing from one connection to the next', async () => {
    drainZlibPool();
    setZlibConcurrencyLimit(1);
    const a = pair({ serverNoContextTakeover: true });
    const b = pair({ serverNoContextTakeover: true });
    const secret = text(5000, 99);
    await compress(a.server, secret);
    const fresh = await compress(b.server, secret); // same pooled stream, reset
    const reference = zlib.deflateRawSync(secret, { finishFlush: zlib.constants.Z_SYNC_FLUSH }).subarray(0, -4);
    expect(fresh.equals(reference)).toBe(true);
    for (const p of [a, b]) { p.client.cleanup(); p.server.cleanup(); }
  });
});

describe('releasing our deflate stream when idle (context takeover on)', () => {
  // ws's PerMessageDeflate, loaded by path (ws does not export it).
  const WsPmdByPath = require(require.resolve('ws').replace(/index\.js$/, 'lib/permessage-deflate.js')) as new (options: object) => WsPmd;
  const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

  /** A long, varied sequence: repeats of earlier messages (a kept window would refer back), noise, large, empty, fragmented. */
  function sequence(seed: number): Buffer[][] {
    const rand = prng(seed);
    const pool = [text(4096, 1), text(3000, 2), Buffer.from(JSON.stringify({ type: 'tick', n: 1, data: text(2000, 3).toString() }))];
    const out: Buffer[][] = [];
    for (let i = 0; i < 80; i++) {
      const r = rand();
      let msg: Buffer;
      if (r < 0.35) msg = pool[Math.floor(rand() * pool.length)] as Buffer;
      else if (r < 0.5) msg = text(1 + Math.floor(rand() * 8000), 100 + i);
      else if (r < 0.6) msg = random(1 + Math.floor(rand() * 3000), 200 + i);
      else if (r < 0.65) msg = Buffer.alloc(0);
      else if (r < 0.75) msg = Buffer.concat([text(40_000 + Math.floor(rand() * 40_000), 300 + i), pool[0] as Buffer]);
      else msg = Buffer.concat([pool[1] as Buffer, text(500, 400 + i)]);
      if (rand() < 0.2 && msg.length > 10) {
        // Fragmented: 2..4 pieces, compress(fin=false) for all but the last.
        const cuts = Array.from({ length: 1 + Math.floor(rand() * 3) }, () => Math.floor(rand() * msg.length)).sort((a, b) => a - b);
        const parts: Buffer[] = [];
        let prev = 0;
        for (const c of [...cuts, msg.length]) { parts.push(msg.subarray(prev, c)); prev = c; }
        out.push(parts);
      } else {
        out.push([msg]);
      }
    }
    return out;
  }

  /** Three independent inflaters with context takeover: ws's, a persistent zlib.inflateRaw stream, and one inflateRawSync over the whole stream. */
  function decoders(ws: WsPmd) {
    const persistent = zlib.createInflateRaw();
    const wire: Buffer[] = [];
    const expected: Buffer[] = [];
    return {
      async message(frames: Buffer[], plain: Buffer): Promise<void> {
        // ws: frame by frame, fin on the last.
        const got: Buffer[] = [];
        for (let i = 0; i < frames.length; i++) got.push(await decompress(ws, frames[i] as Buffer, i === frames.length - 1));
        expect(Buffer.concat(got).equals(plain)).toBe(true);
        // Persistent zlib stream: the message's payload with 00 00 ff ff appended.
        const payload = withTail(Buffer.concat(frames));
        const chunks: Buffer[] = [];
        const onData = (c: Buffer): void => { chunks.push(c); };
        persistent.on('data', onData);
        await new Promise<void>((resolve, reject) => {
          persistent.once('error', reject);
          persistent.write(payload);
          persistent.flush(zlib.constants.Z_SYNC_FLUSH, () => { persistent.off('error', reject); resolve(); });
        });
        persistent.off('data', onData);
        expect(Buffer.concat(chunks).equals(plain)).toBe(true);
        wire.push(payload);
        expected.push(plain);
      },
      finish(): void {
        // The whole connection's compressed stream, inflated in one go, is every message in order.
        const all = zlib.inflateRawSync(Buffer.concat(wire), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
        expect(all.equals(Buffer.concat(expected))).toBe(true);
        persistent.close();
      },
    };
  }

  /** Sends every message through `ours` and checks the decoders; `between(midMessage)` runs after each compress() call. */
  async function sendAll(ours: PerMessageDeflate, ws: WsPmd, messages: Buffer[][], between: (midMessage: boolean) => Promise<void> | void,
    each?: (plain: Buffer, frames: Buffer[]) => void): Promise<void> {
    const dec = decoders(ws);
    for (const parts of messages) {
      const frames: Buffer[] = [];
      for (let i = 0; i < parts.length; i++) {
        frames.push(await compress(ours, parts[i] as Buffer, i === parts.length - 1));
        if (i < parts.length - 1) await between(true);
      }
      const plain = Buffer.concat(parts);
      each?.(plain, frames);
      await dec.message(frames, plain);
      await between(false);
    }
    dec.finish();
  }

  for (const [name, options] of [['window 15', {}], ['server_max_window_bits=10', { serverMaxWindowBits: 10 }]] as const) {
    it(`deflateIdleRelease 0 (${name}): a fresh stream per message; ws and a persistent zlib inflater decode 80 messages`, async () => {
      const ws = new WsPmdByPath({ isServer: false }); // ws client defaults: context takeover on both sides
      const ours = new PerMessageDeflate({ ...options, deflateIdleRelease: 0 }, true);
      const offer = ws.offer();
      const response = formatExtensions({ [P]: ours.accept(parseExtensions(wsFormat({ [P]: offer }))[P] ?? []) });
      expect(response).not.toMatch(/no_context_takeover/);
      ws.accept(parseExtensions(response)[P] ?? []);
      const seen = new Map<string, string>();
      await sendAll(ours, ws, sequence(7), (midMessage) => {
        expect(ours.holdsZlib.deflate).toBe(midMessage); // kept within a fragmented message, released after it
      }, (plain, frames) => {
        // No history survives a message: the same message always compresses to the same bytes.
        if (frames.length !== 1) return;
        const key = plain.toString('base64');
        const bytes = (frames[0] as Buffer).toString('base64');
        if (seen.has(key)) expect(seen.get(key)).toBe(bytes);
        else seen.set(key, bytes);
      });
      expect(seen.size).toBeLessThan(80); // repeats did occur
      ours.cleanup(); ws.cleanup();
    });
  }

  it('deflateIdleRelease 15 ms with random pauses: released at times, mid-message too; every decoder agrees', async () => {
    const ws = new WsPmdByPath({ isServer: false });
    const ours = new PerMessageDeflate({ deflateIdleRelease: 15 }, true);
    ws.accept(parseExtensions(formatExtensions({ [P]: ours.accept(parseExtensions(wsFormat({ [P]: ws.offer() }))[P] ?? []) }))[P] ?? []);
    const rand = prng(11);
    let released = 0, kept = 0, releasedMidMessage = 0;
    await sendAll(ours, ws, sequence(8), async (midMessage) => {
      await sleep(rand() < 0.5 ? 0 : 30);
      if (ours.holdsZlib.deflate) kept++;
      else if (midMessage) releasedMidMessage++;
      else released++;
    });
    expect(released).toBeGreaterThan(5);
    expect(releasedMidMessage).toBeGreaterThan(0);
    expect(kept).toBeGreaterThan(5);
    ours.cleanup(); ws.cleanup();
  });

  it('maxIdleDeflateStreams 0: released after every compress() call, between fragments too; every decoder agrees', async () => {
    setMaxIdleDeflateStreams(0);
    const ws = new WsPmdByPath({ isServer: false });
    const ours = new PerMessageDeflate({}, true);
    ws.accept(parseExtensions(formatExtensions({ [P]: ours.accept(parseExtensions(wsFormat({ [P]: ws.offer() }))[P] ?? []) }))[P] ?? []);
    await sendAll(ours, ws, sequence(9), () => {
      expect(ours.holdsZlib.deflate).toBe(false);
      expect(zlibStats().deflateKept).toBe(0);
    });
    ours.cleanup(); ws.cleanup();
  });

  it('our inflater with context takeover reads a peer that releases between messages (ours on both ends)', async () => {
    const { client, server } = pair({ deflateIdleRelease: 0 }, { deflateIdleRelease: 0 });
    for (const parts of sequence(10)) {
      const frames: Buffer[] = [];
      for (let i = 0; i < parts.length; i++) frames.push(await compress(client, parts[i] as Buffer, i === parts.length - 1));
      const got: Buffer[] = [];
      for (let i = 0; i < frames.length; i++) got.push(await decompress(server, frames[i] as Buffer, i === frames.length - 1));
      expect(Buffer.concat(got).equals(Buffer.concat(parts))).toBe(true);
      expect(server.holdsZlib.inflate).toBe(true); // the peer's window stays
    }
    client.cleanup(); server.cleanup();
  });

  it('by default the stream is kept while the connection sends, and released after the idle period', async () => {
    const { client, server } = pair();
    const msg = text(4096, 5);
    const first = await compress(server, msg);
    const second = await compress(server, msg);
    expect(second.length).toBeLessThan(first.length / 4);
    expect(server.holdsZlib.deflate).toBe(true);
    const before = zlibStats();
    expect(before.deflateKept).toBeGreaterThanOrEqual(1);
    const deadline = Date.now() + DEFAULT_DEFLATE_IDLE_RELEASE + 2000;
    while (server.holdsZlib.deflate && Date.now() < deadline) await sleep(50);
    expect(server.holdsZlib.deflate).toBe(false);
    expect(zlibStats().deflateKept).toBe(before.deflateKept - 1);
    // A fresh stream: the message compresses as the first one did, and the peer still reads it.
    const third = await compress(server, msg);
    expect(third.equals(first)).toBe(true);
    for (const m of [first, second, third]) expect((await decompress(client, m)).equals(msg)).toBe(true);
    client.cleanup(); server.cleanup();
  });

  it('maxIdleDeflateStreams: past the limit the least recently used stream is released; cleanup() leaves the count', async () => {
    setMaxIdleDeflateStreams(3);
    const conns = Array.from({ length: 6 }, () => pair());
    for (const { server } of conns) await compress(server, text(2000, 1));
    expect(conns.map(({ server }) => server.holdsZlib.deflate)).toEqual([false, false, false, true, true, true]);
    expect(zlibStats().deflateKept).toBe(3);
    // Using an old connection again brings it back and pushes out the oldest of the kept ones.
    await compress((conns[0] as { server: PerMessageDeflate }).server, text(2000, 1));
    expect(conns.map(({ server }) => server.holdsZlib.deflate)).toEqual([true, false, false, false, true, true]);
    (conns[5] as { server: PerMessageDeflate }).server.cleanup();
    expect(zlibStats().deflateKept).toBe(2);
    setMaxIdleDeflateStreams(1);
    expect(conns.map(({ server }) => server.holdsZlib.deflate)).toEqual([true, false, false, false, false, false]);
    expect(zlibStats().deflateKept).toBe(1);
    for (const { client, server } of conns) { client.cleanup(); server.cleanup(); }
    expect(zlibStats().deflateKept).toBe(0);
  });

  it('deflateIdleRelease Infinity keeps the stream for the connection\'s life (ws); bad values throw', async () => {
    const { client, server } = pair({}, { deflateIdleRelease: Infinity });
    const { deflateKept, deflateHeld } = zlibStats();
    await compress(server, text(2000, 1));
    expect(server.holdsZlib.deflate).toBe(true);
    expect(zlibStats().deflateHeld).toBe(deflateHeld + 1);
    expect(zlibStats().deflateKept).toBe(deflateKept); // not subject to the limit either
    client.cleanup(); server.cleanup();
    expect(zlibStats().deflateHeld).toBe(deflateHeld);
    for (const bad of [-1, Number.NaN]) expect(() => new PerMessageDeflate({ deflateIdleRelease: bad })).toThrow(RangeError);
    expect(() => setMaxIdleDeflateStreams(-1)).toThrow(RangeError);
  });
});

describe('inflate side: lazy, and the window the peer was given', () => {
  it('no zlib stream exists until the first compressed message in each direction', async () => {
    const before = zlibStats();
    const { client, server } = pair();
    expect(server.holdsZlib).toEqual({ deflate: false, inflate: false });
    expect(zlibStats().inflateHeld).toBe(before.inflateHeld);
    expect(zlibStats().deflateHeld).toBe(before.deflateHeld);
    await decompress(server, await compress(client, text(4096, 1)));
    expect(server.holdsZlib).toEqual({ deflate: false, inflate: true });
    client.cleanup(); server.cleanup();
  });

  it('a ws client\'s default offer gets no client_max_window_bits (15) unless clientMaxWindowBits imposes one', () => {
    const offer = wsFormat({ [P]: new WsPerMessageDeflate({ isServer: false }).offer() });
    expect(offer).toBe(`${P}; client_max_window_bits`);
    const answer = (options: PerMessageDeflateOptions): string =>
      formatExtensions({ [P]: new PerMessageDeflate(options, true).accept(parseExtensions(offer)[P] ?? []) });
    expect(answer({})).toBe(P);
    expect(answer({ clientMaxWindowBits: 12 })).toBe(`${P}; client_max_window_bits=12`);
  });
});

describe('fragments', () => {
  it('decompress per fragment (fin only on the last) equals the whole message', async () => {
    const { client, server } = pair();
    const data = text(150_000, 5);
    for (let m = 0; m < 3; m++) { // several messages: context carried across them
      const compressed = await compress(client, data);
      const rand = prng(m + 10);
      const pieces: Buffer[] = [];
      let at = 0;
      while (at < compressed.length) {
        const n = 1 + Math.floor(rand() * 400);
        pieces.push(compressed.subarray(at, at + n));
        at += n;
      }
      expect(pieces.length).toBeGreaterThan(20);
      const outs = await Promise.all(pieces.map((p, i) => decompress(server, p, i === pieces.length - 1)));
      expect(Buffer.concat(outs).equals(data)).toBe(true);
    }
    client.cleanup(); server.cleanup();
  });

  it('compress per fragment (fin only on the last) inflates as one message, also in ws', async () => {
    for (const opts of [{}, { clientNoContextTakeover: true }]) {
      const { ours, ws } = mixedPair('client', opts, {});
      const data = text(100_000, 6);
      const chunks: Buffer[] = [];
      for (let i = 0; i < data.length; i += 7000) chunks.push(data.subarray(i, i + 7000));
      const parts = await Promise.all(chunks.map((c, i) => compress(ours, c, i === chunks.length - 1)));
      expect((await decompress(ws, Buffer.concat(parts))).equals(data)).toBe(true);
      // The next message still works (context handled right in both modes).
      const again = await compress(ours, data);
      expect((await decompress(ws, again)).equals(data)).toBe(true);
      ours.cleanup(); ws.cleanup();
    }
  });

  it('no context takeover: the pooled inflater stays with the message until fin', async () => {
    const { client, server } = pair({ clientNoContextTakeover: true, serverNoContextTakeover: true });
    const data = text(50_000, 8);
    const c = await compress(server, data);
    const half = Math.floor(c.length / 2);
    const a = await decompress(client, c.subarray(0, half), false);
    expect(client.holdsZlib.inflate).toBe(true);
    const b = await decompress(client, c.subarray(half), true);
    expect(client.holdsZlib.inflate).toBe(false);
    expect(Buffer.concat([a, b]).equals(data)).toBe(true);
    client.cleanup(); server.cleanup();
  });

  it('maxPayload counts the whole message across fragments', async () => {
    const { client, server } = pair({}, {}, 10_000);
    const data = text(9_000, 3);
    const c = await compress(client, data);
    const half = Math.floor(c.length / 2);
    expect(Buffer.concat([await decompress(server, c.subarray(0, half), false), await decompress(server, c.subarray(half))]).equals(data)).toBe(true);
    // 3 x 9000 bytes in one message, as 3 flushed fragments.
    const parts = [await compress(client, data, false), await compress(client, data, false), await compress(client, data, true)];
    await decompress(server, parts[0] as Buffer, false);
    const err = await decompress(server, parts[1] as Buffer, false).then(() => decompressError(server, parts[2] as Buffer), (e: unknown) => e as PerMessageDeflateError);
    expect(err.code).toBe(1009);
    client.cleanup(); server.cleanup();
  });
});

// Forces a full GC so memory readings mean something.
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

/** Raw deflate of `mb` MiB of zeros, built in 1 MiB steps (never holding the inflated size). */
async function zeroBomb(mb: number): Promise<Buffer> {
  const d = zlib.createDeflateRaw({ level: 9 });
  const out: Buffer[] = [];
  d.on('data', (c: Buffer) => out.push(c));
  const zeros = Buffer.alloc(1 << 20);
  for (let i = 0; i < mb; i++) {
    await new Promise<void>((resolve) => { if (d.write(zeros)) resolve(); else d.once('drain', () => resolve()); });
  }
  await new Promise<void>((resolve) => d.flush(zlib.constants.Z_SYNC_FLUSH, () => resolve()));
  d.close();
  return Buffer.concat(out).subarray(0, -4);
}

describe('maxPayload and decompression bombs', () => {
  it('a few KB of compressed zeros over maxPayload: error 1009, no data', async () => {
    const bomb = await zeroBomb(4);
    expect(bomb.length).toBeLessThan(8 * 1024);
    const { client, server } = pair({}, {}, 64 * 1024);
    const err = await decompressError(server, bomb);
    expect(err).toBeInstanceOf(PerMessageDeflateError);
    expect(err.code).toBe(1009);
    expect(err.closeCode).toBe(1009);
    expect(err.message).toBe('Max payload size exceeded');
    expect(err.wsCode).toBe('WS_ERR_UNSUPPORTED_MESSAGE_LENGTH');
    client.cleanup(); server.cleanup();
  });

  it('exactly maxPayload is fine, one byte more is not', async () => {
    const { client, server } = pair({}, {}, 50_000);
    expect((await decompress(server, await compress(client, text(50_000)))).length).toBe(50_000);
    expect((await decompressError(server, await compress(client, text(50_001)))).code).toBe(1009);
    client.cleanup(); server.cleanup();
  });

  it('a 512 MiB bomb is stopped early: memory does not grow by the bomb size', async () => {
    const bomb = await zeroBomb(512);
    expect(bomb.length).toBeLessThan(600 * 1024);
    const maxPayload = 1 << 20;
    for (const noTakeover of [false, true]) {
      const { client, server } = pair({ clientNoContextTakeover: noTakeover }, {}, maxPayload);
      gc();
      const before = process.memoryUsage();
      let peakRss = before.rss, peakAb = before.arrayBuffers;
      const timer = setInterval(() => {
        const m = process.memoryUsage();
        peakRss = Math.max(peakRss, m.rss);
        peakAb = Math.max(peakAb, m.arrayBuffers);
      }, 1);
      const t0 = performance.now();
      const err = await decompressError(server, bomb);
      const elapsed = performance.now() - t0;
      clearInterval(timer);
      const after = process.memoryUsage();
      peakRss = Math.max(peakRss, after.rss);
      peakAb = Math.max(peakAb, after.arrayBuffers);
      expect(err.code).toBe(1009);
      expect(peakAb - before.arrayBuffers).toBeLessThan(32 << 20);
      expect(peakRss - before.rss).toBeLessThan(64 << 20);
      expect(elapsed).toBeLessThan(5000);
      expect(server.holdsZlib.inflate).toBe(false);
      client.cleanup(); server.cleanup();
    }
  });

  it('maxPayload 0 means no limit', async () => {
    const { client, server } = pair({}, {}, 0);
    const bomb = await zeroBomb(8);
    expect((await decompress(server, bomb)).length).toBe(8 << 20);
    client.cleanup(); server.cleanup();
  });
});

describe('corrupt data', () => {
  const cases: Array<[string, Buffer]> = [
    ['invalid block type', Buffer.from([0xff, 0xff, 0xff, 0xff])],
    ['stored block with a bad length', Buffer.from([0x00, 0x05, 0x00, 0x00, 0x00, 1, 2, 3, 4, 5])],
    ['distance too far back', Buffer.from('030200', 'hex')], // fixed block: a match (length 3, distance 1) with nothing before it
    ['random bytes', random(5000, 77)],
  ];
  for (const [what, data] of cases) {
    it(`${what}: error 1007 through the callback, no throw`, async () => {
      const { client, server } = pair();
      let err: PerMessageDeflateError | undefined;
      // Wait for the callback itself (a fixed 50 ms was too short on a loaded machine).
      await new Promise<void>((resolve) => {
        expect(() => server.decompress(data, true, (e) => { err = e ?? undefined; resolve(); })).not.toThrow();
        setTimeout(resolve, 5_000);
      });
      if (err === undefined) {
        // Random bytes may happen to be a valid deflate prefix; the fixed cases must not.
        expect(what).toBe('random bytes');
      } else {
        expect(err).toBeInstanceOf(PerMessageDeflateError);
        expect(err.code).toBe(1007);
        expect(err.closeCode).toBe(1007);
        expect(err.wsCode).toMatch(/^Z_/);
      }
      client.cleanup(); server.cleanup();
    });
  }

  it('a corrupt message after good ones, with context takeover and without', async () => {
    for (const opts of [{}, { clientNoContextTakeover: true }]) {
      const { client, server } = pair(opts, {});
      const data = text(3000);
      expect((await decompress(server, await compress(client, data))).equals(data)).toBe(true);
      expect((await decompressError(server, Buffer.from([0xff, 0xff]))).code).toBe(1007);
      expect(server.holdsZlib.inflate).toBe(false);
      client.cleanup(); server.cleanup();
    }
  });

  it('a message ended with a final block (BFINAL) is read; the next one gets a fresh stream', async () => {
    const { client, server } = pair();
    const a = zlib.deflateRawSync(Buffer.from('first message'));
    expect((await decompress(server, a)).toString()).toBe('first message');
    const b = zlib.deflateRawSync(Buffer.from('second message'));
    expect((await decompress(server, b)).toString()).toBe('second message');
    client.cleanup(); server.cleanup();
  });
});

describe('concurrency limit', () => {
  it('at most concurrencyLimit zlib jobs run at once, process-wide, counted independently', async () => {
    drainZlibPool();
    setZlibConcurrencyLimit(3);
    resetZlibPeak();
    // Count jobs in flight at the zlib level: each job makes exactly one flush() call.
    let inFlight = 0, maxInFlight = 0;
    type Flush = (this: unknown, kind: unknown, cb: (...a: unknown[]) => void) => void;
    const protos = [zlib.DeflateRaw.prototype, zlib.InflateRaw.prototype] as unknown as Array<{ flush: Flush }>;
    const hadOwn = protos.map((p) => Object.prototype.hasOwnProperty.call(p, 'flush'));
    const originals = protos.map((p) => p.flush);
    for (const proto of protos) {
      const original = proto.flush;
      proto.flush = function (this: unknown, kind: unknown, cb: (...a: unknown[]) => void) {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        return original.call(this, kind, (...a: unknown[]) => { inFlight--; cb(...a); });
      };
    }
    try {
      const conns = Array.from({ length: 12 }, (_, i) => pair(i % 2 ? { clientNoContextTakeover: true } : {}));
      const results = await Promise.all(conns.flatMap(({ client, server }, i) =>
        Array.from({ length: 4 }, async (_, j) => {
          const data = text(30_000, i * 10 + j);
          const back = await decompress(server, await compress(client, data));
          return back.equals(data);
        })));
      expect(results.every(Boolean)).toBe(true);
      const stats = zlibStats();
      expect(stats.peak).toBe(3);
      expect(maxInFlight).toBeGreaterThan(1);
      expect(maxInFlight).toBeLessThanOrEqual(3);
      expect(stats.active).toBe(0);
      expect(stats.queued).toBe(0);
      for (const { client, server } of conns) { client.cleanup(); server.cleanup(); }
    } finally {
      protos.forEach((p, i) => {
        if (hadOwn[i]) p.flush = originals[i] as Flush;
        else delete (p as { flush?: Flush }).flush;
      });
    }
  });

  it('queued jobs of one connection keep their order behind other connections', async () => {
    setZlibConcurrencyLimit(1);
    const a = pair();
    const b = pair();
    const order: string[] = [];
    const jobs: Array<Promise<void>> = [];
    for (let i = 0; i < 5; i++) {
      for (const [name, p] of [['a', a], ['b', b]] as const) {
        jobs.push(compress(p.client, text(5000, i)).then(() => { order.push(`${name}${i}`); }));
      }
    }
    await Promise.all(jobs);
    expect(order.filter((s) => s.startsWith('a'))).toEqual(['a0', 'a1', 'a2', 'a3', 'a4']);
    expect(order.filter((s) => s.startsWith('b'))).toEqual(['b0', 'b1', 'b2', 'b3', 'b4']);
    for (const p of [a, b]) { p.client.cleanup(); p.server.cleanup(); }
  });
});

describe('cleanup', () => {
  it('fails running and queued jobs once, asynchronously, and frees the slots', async () => {
    setZlibConcurrencyLimit(2);
    const { client, server } = pair();
    const other = pair();
    const errors: Array<PerMessageDeflateError | null> = [];
    const done = Array.from({ length: 5 }, (_, i) => new Promise<void>((resolve) => {
      client.compress(text(100_000, i), true, (err) => { errors.push(err); resolve(); });
    }));
    // Another connection waits behind them in the limiter.
    const otherJob = compress(other.client, text(1000));
    client.cleanup();
    client.cleanup();
    expect(errors).toEqual([]);
    await Promise.all(done);
    expect(errors.length).toBe(5);
    for (const e of errors) expect(e?.code).toBe(1011);
    expect((await decompress(other.server, await otherJob)).equals(text(1000))).toBe(true);
    const late = await new Promise<PerMessageDeflateError | null>((resolve) => client.compress(text(10), true, resolve));
    expect(late?.message).toMatch(/cleaned up/);
    await new Promise((r) => setTimeout(r, 20));
    expect(zlibStats().active).toBe(0);
    server.cleanup(); other.client.cleanup(); other.server.cleanup();
  });
});

describe('round trips with ws', () => {
  const configs: Array<[string, PerMessageDeflateOptions]> = [
    ['defaults', {}],
    ['no context takeover both ways', { serverNoContextTakeover: true, clientNoContextTakeover: true }],
    ['window bits 9 / 10', { serverMaxWindowBits: 9, clientMaxWindowBits: 10 }],
    ['window bits 8', { serverMaxWindowBits: 8, clientMaxWindowBits: 8 }],
    ['window bits 15 / 12, server no takeover', { serverMaxWindowBits: 15, clientMaxWindowBits: 12, serverNoContextTakeover: true }],
  ];
  for (const [name, options] of configs) {
    for (const ourSide of ['client', 'server'] as const) {
      it(`${name}: our ${ourSide} <-> ws ${ourSide === 'client' ? 'server' : 'client'}`, async () => {
        const { ours, ws, response } = mixedPair(ourSide, options, options);
        expect(response.startsWith(P)).toBe(true);
        const messages = [text(3000, 1), text(3000, 1), random(2000), Buffer.alloc(0), repeatsAtAllDistances(4).subarray(0, 120_000), text(70_000, 9)];
        for (const data of messages) {
          expect((await decompress(ws, await compress(ours, data))).equals(data)).toBe(true);
          expect((await decompress(ours, await compress(ws, data))).equals(data)).toBe(true);
        }
        ours.cleanup(); ws.cleanup();
      });
    }
  }

  it('ws produces the same bytes as ours for the same negotiated parameters', async () => {
    const { ours, ws } = mixedPair('server', {}, {});
    const wsServer = new WsPerMessageDeflate({ isServer: true });
    wsServer.accept([{}]);
    const data = text(10_000, 21);
    expect((await compress(ours, data)).equals(await compress(wsServer, data))).toBe(true);
    ours.cleanup(); ws.cleanup(); wsServer.cleanup();
  });
});
