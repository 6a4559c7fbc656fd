// The runtime-agnostic permessage-deflate (src/codec/permessage-deflate.ts, on
// pako) against ws's PerMessageDeflate (Node's zlib), negotiated through real
// header strings: every window size, takeover on and off, both roles, the
// shared compressor, maxPayload while inflating, corrupt data. The RFC 7692
// byte examples run in every runtime from runtimes/vectors/deflate.json.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { MessageDeflate, ProtocolError, parseExtensions } from '../src/codec/index.ts';
import { prng } from './helpers/prng.ts';

const require = createRequire(import.meta.url);
type WsCallback = (err: Error | null, result?: Buffer) => void;
interface WsPmd {
  offer(): Record<string, unknown>;
  accept(configurations: Array<Record<string, Array<string | true>>>): Record<string, unknown>;
  compress(data: Buffer, fin: boolean, cb: WsCallback): void;
  decompress(data: Buffer, fin: boolean, cb: WsCallback): void;
  cleanup(): void;
}
const wsLib = join(dirname(require.resolve('ws')), 'lib');
const WsPerMessageDeflate = require(join(wsLib, 'permessage-deflate.js')) as new (options: object) => WsPmd;
const wsFormat = (require(join(wsLib, 'extension.js')) as { format(e: Record<string, unknown>): string }).format;

const TAIL = Buffer.from([0, 0, 0xff, 0xff]);
const withTail = (b: Uint8Array): Buffer => Buffer.concat([b, TAIL]);
const wsRun = (w: WsPmd, op: 'compress' | 'decompress', data: Uint8Array): Promise<Buffer> =>
  new Promise((resolve, reject) => w[op](Buffer.from(data), true, (e, out) => (e ? reject(e) : resolve(out as Buffer))));

function corpus(seed: number): Buffer[] {
  const r = prng(seed);
  const words = ['chat', 'user', 'alice', 'bob', '{"id":', '"text":', 'hello', 'world', 'price', '},'];
  const text = (n: number) => { let s = ''; while (s.length < n) s += words[Math.floor(r() * words.length)] + ' '; return Buffer.from(s.slice(0, n)); };
  const noise = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(r() * 256)));
  return [text(0), text(1), text(100), text(1024), text(1024), noise(3000), text(20_000), Buffer.alloc(300_000, 0x61), text(70_000)];
}

describe('MessageDeflate (pako) against ws (Node zlib)', () => {
  for (let bits = 8; bits <= 15; bits++) {
    for (const noTakeover of [false, true]) {
      it(`window bits ${bits}, context takeover ${noTakeover ? 'off' : 'on'}: our server <-> ws client, both directions`, async () => {
        const wsClient = new WsPerMessageDeflate({ serverMaxWindowBits: bits, clientMaxWindowBits: bits, serverNoContextTakeover: noTakeover, clientNoContextTakeover: noTakeover });
        const ours = new MessageDeflate({ isServer: true, threshold: 0, serverMaxWindowBits: bits });
        const response = ours.acceptOffers(wsFormat({ 'permessage-deflate': [wsClient.offer()] }));
        expect(response).toContain(`server_max_window_bits=${bits}`);
        wsClient.accept(parseExtensions(response!)['permessage-deflate'] as Array<Record<string, Array<string | true>>>);
        for (const m of corpus(bits)) {
          expect(Buffer.from(ours.decompress(withTail(await wsRun(wsClient, 'compress', m)))).equals(m)).toBe(true);
          expect((await wsRun(wsClient, 'decompress', ours.compress(m))).equals(m)).toBe(true);
        }
        wsClient.cleanup();
      });
    }
  }

  it('our client <-> ws server, defaults (takeover on both sides, 15 bits)', async () => {
    const ours = new MessageDeflate({ isServer: false });
    const wsServer = new WsPerMessageDeflate({ isServer: true });
    const params = wsServer.accept(parseExtensions(ours.offer())['permessage-deflate'] as Array<Record<string, Array<string | true>>>);
    expect(ours.acceptResponse(wsFormat({ 'permessage-deflate': params }))).toBe(true);
    for (const m of corpus(99)) {
      expect(Buffer.from(ours.decompress(withTail(await wsRun(wsServer, 'compress', m)))).equals(m)).toBe(true);
      expect((await wsRun(wsServer, 'decompress', ours.compress(m))).equals(m)).toBe(true);
    }
    wsServer.cleanup();
  });

  it('context takeover pays: the second identical message is a few bytes; without it, the same size again', () => {
    const m = corpus(5)[6]!;
    const on = new MessageDeflate({ isServer: true });
    on.acceptOffers('permessage-deflate');
    const a = on.compress(m).length;
    expect(on.compress(m).length).toBeLessThan(a / 2);
    const shared = new MessageDeflate({ isServer: true, sharedCompressor: true });
    expect(shared.acceptOffers('permessage-deflate')).toBe('permessage-deflate; server_no_context_takeover');
    expect(shared.compress(m).length).toBe(a);
    expect(shared.compress(m).length).toBe(a);
  });

  it('declines what it cannot honour; a client rejects a response it did not ask for', () => {
    const s = new MessageDeflate({ isServer: true });
    expect(s.acceptOffers('permessage-deflate; foo=1')).toBeNull();
    expect(s.acceptOffers('x-other')).toBeNull();
    expect(s.acceptOffers('permessage-deflate;;')).toBeNull();
    expect(s.active).toBe(false);
    const c = new MessageDeflate({ isServer: false, clientMaxWindowBits: false });
    expect(() => c.acceptResponse('permessage-deflate; client_max_window_bits=10')).toThrow();
    expect(new MessageDeflate({ isServer: false }).acceptResponse(null)).toBe(false);
  });

  it('maxPayload is checked while inflating: 64 MiB of zeros stops at the limit with 1009', () => {
    const bomb = zlib.deflateRawSync(Buffer.alloc(64 << 20), { level: 9, finishFlush: zlib.constants.Z_SYNC_FLUSH });
    const s = new MessageDeflate({ isServer: true, maxPayload: 1 << 20 });
    s.acceptOffers('permessage-deflate');
    const before = process.memoryUsage().arrayBuffers;
    let err: unknown;
    try { s.decompress(bomb); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(ProtocolError);
    expect((err as ProtocolError).closeCode).toBe(1009);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(8 << 20);
    // Exactly at the limit is fine.
    const exact = zlib.deflateRawSync(Buffer.alloc(1 << 20), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
    expect(s.decompress(exact).length).toBe(1 << 20);
  });

  it('corrupt data is a 1007; the next message starts a fresh stream', () => {
    const s = new MessageDeflate({ isServer: true });
    s.acceptOffers('permessage-deflate');
    let err: unknown;
    try { s.decompress(withTail(Buffer.from([0xff, 0xff, 0xff]))); } catch (e) { err = e; }
    expect((err as ProtocolError).closeCode).toBe(1007);
    expect((err as ProtocolError).message).toMatch(/^Invalid compressed data: /);
    expect(Buffer.from(s.decompress(withTail(zlib.deflateRawSync('ok', { finishFlush: 2 }).subarray(0, -4)))).toString()).toBe('ok');
  });
});
