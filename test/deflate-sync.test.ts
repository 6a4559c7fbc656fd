// permessage-deflate in this thread (compressSync / decompressMessageSync, on
// Node's zlib through zlib-sync.ts): the same bytes as the thread-pool path,
// read by ws's PerMessageDeflate, maxPayload while inflating (a 256 MiB bomb),
// corrupt streams, final blocks, the hand-over between the two paths, and the
// shared-compressor mode.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { formatExtensions, parseExtensions } from '../src/codec/extension.ts';
import {
  PerMessageDeflate, PerMessageDeflateError, zlibStats, type PerMessageDeflateOptions,
} from '../src/node/deflate/permessage-deflate.ts';
import { prng } from './helpers/prng.ts';

const require = createRequire(import.meta.url);
type WsCallback = (err: Error | null, result?: Buffer) => void;
interface WsPmd {
  accept(configurations: Array<Record<string, Array<string | true>>>): Record<string, unknown>;
  compress(data: Buffer, fin: boolean, cb: WsCallback): void;
  decompress(data: Buffer, fin: boolean, cb: WsCallback): void;
  cleanup(): void;
}
const WsPerMessageDeflate = require(join(dirname(require.resolve('ws')), 'lib', 'permessage-deflate.js')) as new (options: object) => WsPmd;

const P = 'permessage-deflate';
const TAIL = Buffer.from([0, 0, 0xff, 0xff]);
const withTail = (b: Buffer): Buffer => Buffer.concat([b, TAIL]);

function pair(clientOptions: PerMessageDeflateOptions = {}, serverOptions: PerMessageDeflateOptions = {}, maxPayload = 0) {
  const client = new PerMessageDeflate(clientOptions, false, maxPayload);
  const server = new PerMessageDeflate(serverOptions, true, maxPayload);
  const offer = formatExtensions({ [P]: client.offer() });
  const response = formatExtensions({ [P]: server.accept(parseExtensions(offer)[P] ?? []) });
  client.accept(parseExtensions(response)[P] ?? []);
  return { client, server, response };
}

function text(n: number, seed = 1): Buffer {
  const r = prng(seed);
  const words = ['alpha', 'beta', 'gamma', 'delta', 'chat', 'user', 'price', 'update', '{"id":', '},'];
  let s = '';
  while (s.length < n) s += words[Math.floor(r() * words.length)] + ' ';
  return Buffer.from(s.slice(0, n));
}

const asyncCompress = (c: PerMessageDeflate, data: Buffer, fin = true): Promise<Buffer> =>
  new Promise((resolve, reject) => c.compress(data, fin, (e, out) => (e ? reject(e) : resolve(out as Buffer))));
const wsInflate = (w: WsPmd, data: Buffer): Promise<Buffer> =>
  new Promise((resolve, reject) => w.decompress(data, true, (e, out) => (e ? reject(e) : resolve(out as Buffer))));

function syncError(fn: () => unknown): PerMessageDeflateError {
  try {
    fn();
  } catch (e) {
    return e as PerMessageDeflateError;
  }
  throw new Error('no error thrown');
}

describe('in-thread compress / inflate', () => {
  for (const [name, opts] of [['context takeover', {}], ['no context takeover', { serverNoContextTakeover: true, clientNoContextTakeover: true }]] as const) {
    it(`${name}: the same bytes as the thread-pool path; ws's inflater and ours read them`, async () => {
      const a = pair(opts, opts);
      const b = pair(opts, opts);
      const ws = new WsPerMessageDeflate({ ...opts, isServer: true });
      ws.accept([Object.fromEntries(Object.entries(a.client.params!).map(([k, v]) => [k, [v === true ? true : String(v)]]))]);
      const sizes = [0, 1, 64, 1000, 1024, 5000, 70_000, 300_000];
      for (const [i, n] of sizes.entries()) {
        const msg = text(n, i + 1);
        const viaSync = a.client.compressSync(msg, true);
        expect(viaSync).not.toBeNull();
        const viaPool = await asyncCompress(b.client, msg);
        expect(viaSync!.equals(viaPool)).toBe(true);
        expect(a.server.decompressMessageSync(withTail(viaSync!))!.equals(msg)).toBe(true);
        expect((await wsInflate(ws, viaSync!)).equals(msg)).toBe(true);
      }
      ws.cleanup();
      for (const p of [a, b]) { p.client.cleanup(); p.server.cleanup(); }
    });
  }

  it('fragments: compressSync without fin keeps the tail; one inflate reads them all', () => {
    const { client, server } = pair();
    const parts = [text(3000, 1), text(10, 2), text(40_000, 3)];
    const out = parts.map((p, i) => client.compressSync(p, i === parts.length - 1)!);
    expect(out[0]!.subarray(-4).equals(TAIL)).toBe(true);
    expect(out[2]!.subarray(-4).equals(TAIL)).toBe(false);
    expect(server.decompressMessageSync(withTail(Buffer.concat(out)))!.equals(Buffer.concat(parts))).toBe(true);
    client.cleanup(); server.cleanup();
  });

  it('hands over to the async path while async jobs are queued, and back; order and context kept', async () => {
    const { client, server } = pair();
    const msgs = [text(2000, 1), text(2000, 2), text(2000, 3)];
    const pending = asyncCompress(client, msgs[0]!);
    expect(client.compressSync(msgs[1]!, true)).toBeNull(); // a compress() job is queued: would reorder the stream
    const first = await pending;
    const second = client.compressSync(msgs[1]!, true)!;
    const third = await asyncCompress(client, msgs[2]!);
    const got = [first, second, third].map((c) => server.decompressMessageSync(withTail(c))!);
    got.forEach((g, i) => expect(g.equals(msgs[i]!)).toBe(true));
    client.cleanup(); server.cleanup();
  });

  it('an empty message right after another (zlib writes nothing) is sent as 00, both paths', async () => {
    const { client, server } = pair();
    for (const viaPool of [false, true]) {
      const first = viaPool ? await asyncCompress(client, text(500)) : client.compressSync(text(500), true)!;
      const empty = viaPool ? await asyncCompress(client, Buffer.alloc(0)) : client.compressSync(Buffer.alloc(0), true)!;
      expect([...empty]).toEqual([0]);
      expect(server.decompressMessageSync(withTail(first))!.equals(text(500))).toBe(true);
      expect(server.decompressMessageSync(withTail(empty))!.length).toBe(0);
    }
    client.cleanup(); server.cleanup();
  });

  it('not negotiated or cleaned up: null, never a throw', () => {
    const lone = new PerMessageDeflate({}, true, 0);
    expect(lone.compressSync(Buffer.from('x'), true)).toBeNull();
    expect(lone.decompressMessageSync(withTail(Buffer.from([0])))).toBeNull();
    const { client, server } = pair();
    client.cleanup(); server.cleanup();
    expect(client.compressSync(Buffer.from('x'), true)).toBeNull();
    expect(server.decompressMessageSync(withTail(Buffer.from([0])))).toBeNull();
  });
});

describe('in-thread safety', () => {
  it('a 256 MiB bomb: 1009 once past maxPayload, memory bounded, the inflater dropped', () => {
    const zeros = Buffer.alloc(1 << 20);
    // One raw-deflate stream, sync-flushed: 256 x 1 MiB of zeros.
    const maker = pair();
    const bombParts: Buffer[] = [];
    for (let i = 0; i < 256; i++) bombParts.push(maker.client.compressSync(zeros, i === 255)!);
    const bomb = Buffer.concat(bombParts);
    expect(bomb.length).toBeLessThan(600 * 1024);
    const maxPayload = 1 << 20;
    for (const noTakeover of [false, true]) {
      const { client, server } = pair({ clientNoContextTakeover: noTakeover }, {}, maxPayload);
      v8.setFlagsFromString('--expose-gc');
      (vm.runInNewContext('gc') as () => void)();
      const before = process.memoryUsage();
      const err = syncError(() => server.decompressMessageSync(withTail(bomb)));
      const after = process.memoryUsage();
      expect(err).toBeInstanceOf(PerMessageDeflateError);
      expect(err.code).toBe(1009);
      expect(err.wsCode).toBe('WS_ERR_UNSUPPORTED_MESSAGE_LENGTH');
      // At most maxPayload + one 64 KiB chunk was ever produced, not 256 MiB.
      expect(after.arrayBuffers - before.arrayBuffers).toBeLessThan(8 << 20);
      expect(after.rss - before.rss).toBeLessThan(48 << 20);
      expect(server.holdsZlib.inflate).toBe(false);
      client.cleanup(); server.cleanup();
    }
    maker.client.cleanup(); maker.server.cleanup();
  });

  it('exactly maxPayload is fine, one byte more is 1009', () => {
    const { client, server } = pair({}, {}, 50_000);
    expect(server.decompressMessageSync(withTail(client.compressSync(text(50_000), true)!))!.length).toBe(50_000);
    expect(syncError(() => server.decompressMessageSync(withTail(client.compressSync(text(50_001), true)!))).code).toBe(1009);
    client.cleanup(); server.cleanup();
  });

  const corrupt: Array<[string, Buffer]> = [
    ['invalid block type', Buffer.from([0xff, 0xff, 0xff, 0xff])],
    ['stored block with a bad length', Buffer.from([0x00, 0x05, 0x00, 0x00, 0x00, 1, 2, 3, 4, 5])],
    ['distance too far back', Buffer.from('030200', 'hex')],
  ];
  for (const [what, data] of corrupt) {
    it(`${what}: 1007 thrown with zlib's code; the next message inflates on a fresh stream`, () => {
      for (const opts of [{}, { clientNoContextTakeover: true }]) {
        const { client, server } = pair(opts, {});
        // First on a fresh stream (with history, 'distance too far back' could be valid).
        const err = syncError(() => server.decompressMessageSync(withTail(data)));
        expect(err).toBeInstanceOf(PerMessageDeflateError);
        expect(err.code).toBe(1007);
        expect(err.wsCode).toMatch(/^Z_/);
        expect(server.holdsZlib.inflate).toBe(false);
        // The connection would be failed now; the instance itself still works, on a fresh stream.
        const fresh = pair(opts, {});
        expect(server.decompressMessageSync(withTail(fresh.client.compressSync(text(3000), true)!))!.equals(text(3000))).toBe(true);
        client.cleanup(); server.cleanup(); fresh.client.cleanup(); fresh.server.cleanup();
      }
    });
  }

  it('a message ended with a final block (BFINAL) is read; the next one gets a fresh stream', () => {
    const { client, server } = pair();
    expect(server.decompressMessageSync(withTail(zlib.deflateRawSync(Buffer.from('first message'))))!.toString()).toBe('first message');
    expect(server.holdsZlib.inflate).toBe(false);
    expect(server.decompressMessageSync(withTail(zlib.deflateRawSync(Buffer.from('second message'))))!.toString()).toBe('second message');
    client.cleanup(); server.cleanup();
  });
});

describe('shared compressor', () => {
  it('a server answers server_no_context_takeover and holds no deflate stream between messages', () => {
    const { client, server, response } = pair({}, { sharedCompressor: true });
    expect(response).toContain('server_no_context_takeover');
    const m = text(4000);
    const a = server.compressSync(m, true)!;
    const b = server.compressSync(m, true)!;
    expect(a.equals(b)).toBe(true); // no history: the same message compresses the same
    expect(server.holdsZlib.deflate).toBe(false);
    expect(client.decompressMessageSync(withTail(a))!.equals(m)).toBe(true);
    expect(client.decompressMessageSync(withTail(b))!.equals(m)).toBe(true);
    client.cleanup(); server.cleanup();
  });

  it('1,000 connections compressing in turn use one pooled deflate stream per window size', () => {
    const before = zlibStats().deflateHeld;
    const pairs = Array.from({ length: 1000 }, () => pair({}, { sharedCompressor: true }));
    const m = text(2000);
    for (const p of pairs) expect(p.client.decompressMessageSync(withTail(p.server.compressSync(m, true)!))!.equals(m)).toBe(true);
    expect(zlibStats().deflateHeld - before).toBe(0);
    for (const p of pairs) expect(p.server.holdsZlib.deflate).toBe(false);
    for (const p of pairs) { p.client.cleanup(); p.server.cleanup(); }
  });

  it('serverNoContextTakeover: false still declines offers asking for it (as ws)', () => {
    const server = new PerMessageDeflate({ sharedCompressor: true, serverNoContextTakeover: false }, true, 0);
    expect(() => server.accept(parseExtensions(`${P}; server_no_context_takeover`)[P] ?? [])).toThrow();
    server.cleanup();
  });
});
