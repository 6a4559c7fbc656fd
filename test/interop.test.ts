// Interop with real peers: our server with the `ws` client and with undici's
// WebSocket, and our client with the `ws` server. Every test runs over real
// sockets on 127.0.0.1; both ends are checked (exact bytes, types, codes, order).
import { describe, expect, it } from 'vitest';
import { once } from 'node:events';
import * as wsPkg from 'ws';
import { WebSocket as UndiciWebSocket } from 'undici';
import { WebSocketServer, WebSocket } from '../src/index.ts';
import { prng } from './helpers/codec-harness.ts';
import { cleanupList, closeWss, portWhenListening, toBuf } from './helpers/servers.ts';
import { Signal, T, withTimeout } from './helpers/wait.ts';

// ---------------------------------------------------------------------------
// small helpers

function randomBytes(n: number, seed: number): Buffer {
  const r = prng(seed);
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (r() * 256) | 0;
  return b;
}

// ---------------------------------------------------------------------------
// one end of a connection, whatever the implementation

interface Msg { data: Buffer; isBinary: boolean }
interface CloseInfo { code: number; reason: string; wasClean?: boolean }

interface Endpoint {
  name: string;
  canFragment: boolean;
  canPing: boolean;
  /** only `1000` and 3000-4999 (the browser API) */
  browserClose: boolean;
  send(data: string | Buffer, opts?: { fin?: boolean; binary?: boolean }): void;
  ping(payload: Buffer): void;
  close(code?: number, reason?: string): void;
  msgs: Msg[];
  pings: Buffer[];
  pongs: Buffer[];
  errors: Error[];
  closed?: CloseInfo;
  onMessage: ((m: Msg) => void) | null;
  sig: Signal;
  next(ms?: number): Promise<Msg>;
  waitCount(n: number, ms?: number): Promise<void>;
  waitPong(ms?: number): Promise<Buffer>;
  waitPing(ms?: number): Promise<Buffer>;
  waitClose(ms?: number): Promise<CloseInfo>;
  waitError(ms?: number): Promise<Error>;
  kill(): void;
}

function baseEndpoint(name: string): Omit<Endpoint, 'send' | 'ping' | 'close' | 'kill' | 'canFragment' | 'canPing' | 'browserClose'> {
  const sig = new Signal();
  let read = 0;
  let pongRead = 0;
  let pingRead = 0;
  const e = {
    name,
    msgs: [] as Msg[],
    pings: [] as Buffer[],
    pongs: [] as Buffer[],
    errors: [] as Error[],
    closed: undefined as CloseInfo | undefined,
    onMessage: null as ((m: Msg) => void) | null,
    sig,
    next: (ms = T) => sig.until(() => {
      if (read < e.msgs.length) return e.msgs[read++];
      if (e.closed) throw new Error(`${name}: closed (${e.closed.code}) while waiting for a message; errors: ${e.errors.map((x) => x.message).join('; ')}`);
      return undefined;
    }, ms, `${name}: a message`),
    waitCount: (n: number, ms = T) => sig.until(() => (e.msgs.length >= n ? true : undefined), ms, `${name}: ${n} messages (have ${e.msgs.length})`).then(() => undefined),
    waitPong: (ms = T) => sig.until(() => (pongRead < e.pongs.length ? e.pongs[pongRead++] : undefined), ms, `${name}: a pong`),
    waitPing: (ms = T) => sig.until(() => (pingRead < e.pings.length ? e.pings[pingRead++] : undefined), ms, `${name}: a ping`),
    waitClose: (ms = T) => sig.until(() => e.closed, ms, `${name}: close`),
    waitError: (ms = T) => sig.until(() => e.errors[0], ms, `${name}: error`),
  };
  return e;
}

/** Our WebSocket and ws's WebSocket have the same Node API. */
interface NodeWs {
  send(d: unknown, o?: unknown, cb?: unknown): void;
  ping(d?: unknown): void;
  close(c?: number, r?: string): void;
  terminate(): void;
  on(ev: string, fn: (...a: any[]) => void): unknown;
  readyState: number;
}

function wrapNode(ws: NodeWs, name: string): Endpoint {
  const e = baseEndpoint(name) as Endpoint;
  e.canFragment = true;
  e.canPing = true;
  e.browserClose = false;
  e.send = (d, o) => ws.send(d, o ?? {});
  e.ping = (p) => ws.ping(p);
  e.close = (c, r) => ws.close(c, r);
  e.kill = () => ws.terminate();
  ws.on('message', (data: unknown, isBinary: boolean) => {
    const m = { data: toBuf(data), isBinary };
    e.msgs.push(m);
    e.onMessage?.(m);
    e.sig.fire();
  });
  ws.on('ping', (d: Buffer) => { e.pings.push(Buffer.from(d)); e.sig.fire(); });
  ws.on('pong', (d: Buffer) => { e.pongs.push(Buffer.from(d)); e.sig.fire(); });
  ws.on('error', (err: Error) => { e.errors.push(err); e.sig.fire(); });
  ws.on('close', (code: number, reason: Buffer) => { e.closed = { code, reason: reason.toString() }; e.sig.fire(); });
  return e;
}

function wrapUndici(u: InstanceType<typeof UndiciWebSocket>, name: string): Endpoint {
  const e = baseEndpoint(name) as Endpoint;
  e.canFragment = false;
  e.canPing = false;
  e.browserClose = true;
  u.binaryType = 'arraybuffer';
  e.send = (d, o) => {
    if (o && o.fin === false) throw new Error('undici cannot fragment');
    u.send(typeof d === 'string' ? d : new Uint8Array(d.buffer, d.byteOffset, d.length));
  };
  e.ping = () => { throw new Error('undici has no ping()'); };
  e.close = (c, r) => u.close(c, r);
  e.kill = () => { try { u.close(); } catch { /* already closed */ } };
  u.addEventListener('message', (ev) => {
    const m = { data: toBuf(ev.data), isBinary: typeof ev.data !== 'string' };
    e.msgs.push(m);
    e.onMessage?.(m);
    e.sig.fire();
  });
  u.addEventListener('error', (ev) => { e.errors.push(new Error(String((ev as { message?: string }).message ?? 'error'))); e.sig.fire(); });
  u.addEventListener('close', (ev) => { e.closed = { code: ev.code, reason: ev.reason, wasClean: ev.wasClean }; e.sig.fire(); });
  return e;
}

// ---------------------------------------------------------------------------
// the three pairings

type Kind = 'ws client -> our server' | 'undici client -> our server' | 'our client -> ws server';
const KINDS: Kind[] = ['ws client -> our server', 'undici client -> our server', 'our client -> ws server'];

interface Pair { server: Endpoint; client: Endpoint; port: number }

const disposers = cleanupList();

async function makePair(kind: Kind, serverOpts: Record<string, unknown> = {}, clientOpts: Record<string, unknown> = {}): Promise<Pair> {
  if (kind === 'our client -> ws server') {
    const wss = new wsPkg.WebSocketServer({ port: 0, host: '127.0.0.1', ...serverOpts });
    disposers.push(() => closeWss(wss));
    const port = await portWhenListening(wss, 'ws server listening');
    const conn = withTimeout(once(wss, 'connection'), T, 'ws server connection');
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`, clientOpts);
    disposers.push(async () => ws.terminate());
    const client = wrapNode(ws as unknown as NodeWs, 'our client');
    const [[sws]] = await Promise.all([conn, withTimeout(once(ws, 'open'), T, 'our client open')]);
    return { server: wrapNode(sws as NodeWs, 'ws server'), client, port };
  }
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', ...serverOpts });
  disposers.push(() => closeWss(wss as never));
  const port = await portWhenListening(wss, 'our server listening');
  const conn = withTimeout(once(wss, 'connection'), T, 'our server connection');
  let client: Endpoint;
  let opened: Promise<unknown>;
  if (kind === 'ws client -> our server') {
    const ws = new wsPkg.WebSocket(`ws://127.0.0.1:${port}/`, clientOpts);
    disposers.push(async () => ws.terminate());
    client = wrapNode(ws as unknown as NodeWs, 'ws client');
    opened = withTimeout(once(ws, 'open'), T, 'ws client open');
  } else {
    const u = new UndiciWebSocket(`ws://127.0.0.1:${port}/`);
    disposers.push(async () => { if (u.readyState < 2) u.close(); });
    client = wrapUndici(u, 'undici client');
    opened = withTimeout(new Promise((r) => u.addEventListener('open', r, { once: true })), T, 'undici open');
  }
  const [[sws]] = await Promise.all([conn, opened]);
  return { server: wrapNode(sws as NodeWs, 'our server'), client, port };
}

const UTF8_TEXT = 'héllo wörld — €, 𝄞 music, 日本語のテキスト, emoji 🎉👩‍👩‍👧, Ελληνικά, עברית';

// ---------------------------------------------------------------------------

describe.each(KINDS)('%s', (kind) => {
  const directions = ['server->client', 'client->server'] as const;
  const ends = (p: Pair, dir: (typeof directions)[number]) => (dir === 'server->client' ? [p.server, p.client] : [p.client, p.server]);

  it('text both ways', async () => {
    const p = await makePair(kind);
    p.client.send('hello from the client');
    p.server.send('hello from the server');
    expect(await p.server.next()).toEqual({ data: Buffer.from('hello from the client'), isBinary: false });
    expect(await p.client.next()).toEqual({ data: Buffer.from('hello from the server'), isBinary: false });
  });

  it.each(directions)('binary and text of 0/125/126/65535/65536 bytes, exact (%s)', async (dir) => {
    const p = await makePair(kind);
    const [from, to] = ends(p, dir);
    const sizes = [0, 1, 125, 126, 127, 65535, 65536, 65537];
    for (const [i, n] of sizes.entries()) {
      from.send(randomBytes(n, 1000 + i), { binary: true });
      from.send('x'.repeat(n));
    }
    for (const [i, n] of sizes.entries()) {
      const b = await to.next();
      expect(b.isBinary, `binary ${n}`).toBe(true);
      expect(b.data.length, `binary ${n} length`).toBe(n);
      expect(b.data.equals(randomBytes(n, 1000 + i)), `binary ${n} bytes`).toBe(true);
      const t = await to.next();
      expect(t.isBinary, `text ${n}`).toBe(false);
      expect(t.data.toString(), `text ${n}`).toBe('x'.repeat(n));
    }
    expect(to.msgs.length).toBe(sizes.length * 2);
  });

  it.each(directions)('16 MiB binary (%s)', async (dir) => {
    const p = await makePair(kind);
    const [from, to] = ends(p, dir);
    const big = randomBytes(16 * 1024 * 1024, 16);
    from.send(big);
    const m = await to.next(20_000);
    expect(m.isBinary).toBe(true);
    expect(m.data.length).toBe(big.length);
    expect(m.data.equals(big)).toBe(true);
  }, 30_000);

  it.each(directions)('multi-byte UTF-8 text (%s)', async (dir) => {
    const p = await makePair(kind);
    const [from, to] = ends(p, dir);
    const long = UTF8_TEXT.repeat(1200); // > 64 KiB, 16/64-bit lengths, code points across chunk edges
    from.send(UTF8_TEXT);
    from.send(long);
    from.send('€');
    const a = await to.next();
    expect(a.isBinary).toBe(false);
    expect(a.data.toString('utf8')).toBe(UTF8_TEXT);
    const b = await to.next();
    expect(b.data.length).toBe(Buffer.byteLength(long));
    expect(b.data.toString('utf8')).toBe(long);
    expect((await to.next()).data).toEqual(Buffer.from([0xe2, 0x82, 0xac]));
  });

  it('ping from the server: the client auto-pongs with the same payload', async () => {
    const p = await makePair(kind);
    for (const payload of [Buffer.from('ping-payload-1'), Buffer.alloc(0), randomBytes(125, 7)]) {
      p.server.ping(payload);
      expect((await p.server.waitPong()).equals(payload)).toBe(true);
      if (p.client.canPing) expect((await p.client.waitPing()).equals(payload)).toBe(true);
    }
    // the connection still works afterwards
    p.client.send('still here');
    expect((await p.server.next()).data.toString()).toBe('still here');
  });

  // undici's WebSocket has no ping()
  it.skipIf(kind === 'undici client -> our server')('ping from the client: the server auto-pongs with the same payload', async () => {
    const p = await makePair(kind);
    for (const payload of [Buffer.from('are you there?'), Buffer.alloc(0), randomBytes(125, 8)]) {
      p.client.ping(payload);
      expect((await p.client.waitPong()).equals(payload)).toBe(true);
      expect((await p.server.waitPing()).equals(payload)).toBe(true);
    }
  });

  // undici's WebSocket can neither fragment nor ping, so its client->server case is left out.
  it.for(directions.filter((d) => !(kind === 'undici client -> our server' && d === 'client->server')))('ping interleaved with a fragmented message is answered and the message survives (%s)', async (dir) => {
    const p = await makePair(kind);
    const [from, to] = ends(p, dir);
    from.send('part1-', { fin: false });
    from.ping(Buffer.from('mid'));
    from.send('part2', { fin: true });
    expect((await from.waitPong()).toString()).toBe('mid');
    const m = await to.next();
    expect(m).toEqual({ data: Buffer.from('part1-part2'), isBinary: false });
  });

  it('simultaneous close: each side reports the code the other sent, and TCP closes promptly', async () => {
    const p = await makePair(kind);
    const t0 = Date.now();
    p.server.close(4001, 'server says bye');
    p.client.close(4002, 'client says bye');
    const [s, c] = await Promise.all([p.server.waitClose(), p.client.waitClose()]);
    expect(s).toMatchObject({ code: 4002, reason: 'client says bye' });
    expect(c).toMatchObject({ code: 4001, reason: 'server says bye' });
    if (c.wasClean !== undefined) expect(c.wasClean).toBe(true);
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  const codes: Array<[number, string]> = [[1000, 'normal bye'], [1001, 'going away'], [3000, 'registered ✓'], [4999, 'x'.repeat(120)]];
  describe.each(['server', 'client'] as const)('close initiated by the %s', (who) => {
    it.each(codes)('code %i with a reason reaches the peer', async (code, reason) => {
      const p = await makePair(kind);
      const [initiator, peer] = who === 'server' ? [p.server, p.client] : [p.client, p.server];
      if (initiator.browserClose && code === 1001) {
        // The browser API only lets a script close with 1000 or 3000-4999.
        expect(() => initiator.close(code, reason)).toThrow();
        return;
      }
      initiator.close(code, reason);
      const seen = await peer.waitClose();
      expect(seen.code).toBe(code);
      expect(seen.reason).toBe(reason);
      const own = await initiator.waitClose();
      expect(own.code).toBe(code);
      if (p.client.closed?.wasClean !== undefined) expect(p.client.closed.wasClean).toBe(true);
    });

    it('no code: the peer sees 1005 and an empty reason', async () => {
      const p = await makePair(kind);
      const [initiator, peer] = who === 'server' ? [p.server, p.client] : [p.client, p.server];
      initiator.close();
      expect(await peer.waitClose()).toMatchObject({ code: 1005, reason: '' });
      expect(await initiator.waitClose()).toMatchObject({ code: 1005, reason: '' });
      if (p.client.closed?.wasClean !== undefined) expect(p.client.closed.wasClean).toBe(true);
    });

    it('messages sent before close() all arrive before the close', async () => {
      const p = await makePair(kind);
      const [initiator, peer] = who === 'server' ? [p.server, p.client] : [p.client, p.server];
      for (let i = 0; i < 50; i++) initiator.send(`last-${i}`);
      initiator.close(1000, 'done');
      expect((await peer.waitClose()).code).toBe(1000);
      expect(peer.msgs.map((m) => m.data.toString())).toEqual(Array.from({ length: 50 }, (_, i) => `last-${i}`));
    });
  });

  it('10,000 messages echoed by the server come back in order (text and binary interleaved)', async () => {
    const p = await makePair(kind);
    p.server.onMessage = (m) => p.server.send(m.isBinary ? m.data : m.data.toString(), { binary: m.isBinary });
    const N = 10_000;
    for (let i = 0; i < N; i++) {
      if (i % 2 === 0) p.client.send(`msg-${i}`);
      else { const b = Buffer.alloc(4); b.writeUInt32BE(i); p.client.send(b); }
    }
    await p.client.waitCount(N, 20_000);
    expect(p.server.msgs.length).toBe(N);
    for (let i = 0; i < N; i++) {
      const m = p.client.msgs[i];
      if (i % 2 === 0) {
        if (m.isBinary || m.data.toString() !== `msg-${i}`) throw new Error(`message ${i}: got ${m.isBinary ? 'binary' : 'text'} ${m.data.toString('hex')}`);
      } else if (!m.isBinary || m.data.length !== 4 || m.data.readUInt32BE(0) !== i) {
        throw new Error(`message ${i}: got ${m.isBinary ? 'binary' : 'text'} ${m.data.toString('hex')}`);
      }
    }
  }, 30_000);

  // undici's WebSocket cannot send fragments, so its client->server case is left out.
  it.for(directions.filter((d) => !(kind === 'undici client -> our server' && d === 'client->server')))('fragmented sends arrive as one message (%s)', async (dir) => {
    const p = await makePair(kind);
    const [from, to] = ends(p, dir);
    from.send('frag-', { fin: false });
    from.send('men', { fin: false });
    from.send('ted €', { fin: true });
    from.send(Buffer.from([1, 2, 3]), { fin: false, binary: true });
    from.send(Buffer.alloc(0), { fin: false, binary: true });
    from.send(Buffer.from([4, 5]), { fin: true, binary: true });
    // one fragmented message with a large middle part
    const mid = randomBytes(70_000, 3);
    from.send(Buffer.from('A'), { fin: false, binary: true });
    from.send(mid, { fin: false, binary: true });
    from.send(Buffer.from('Z'), { fin: true, binary: true });
    from.send('after');
    expect(await to.next()).toEqual({ data: Buffer.from('frag-mented €'), isBinary: false });
    expect(await to.next()).toEqual({ data: Buffer.from([1, 2, 3, 4, 5]), isBinary: true });
    const big = await to.next();
    expect(big.isBinary).toBe(true);
    expect(big.data.equals(Buffer.concat([Buffer.from('A'), mid, Buffer.from('Z')]))).toBe(true);
    expect(await to.next()).toEqual({ data: Buffer.from('after'), isBinary: false });
    expect(to.msgs.length).toBe(4);
  });
});

describe('maxPayload', () => {
  it('our server with maxPayload closes a ws client that sends more with 1009', async () => {
    const p = await makePair('ws client -> our server', { maxPayload: 1000 });
    p.client.send(Buffer.alloc(1000, 1)); // exactly the limit is fine
    expect((await p.server.next()).data.length).toBe(1000);
    p.client.send(Buffer.alloc(1001, 2));
    const c = await p.client.waitClose();
    expect(c.code).toBe(1009);
    const s = await p.server.waitClose();
    expect(s.code).toBe(1006); // the server failed the connection (as ws does)
    expect(p.server.errors.length).toBe(1);
    expect((p.server.errors[0] as Error & { code?: string }).code).toBe('WS_ERR_UNSUPPORTED_MESSAGE_LENGTH');
    expect(p.server.msgs.length).toBe(1);
  });

  it('our server with maxPayload closes an undici client with 1009', async () => {
    const p = await makePair('undici client -> our server', { maxPayload: 200 });
    p.client.send('y'.repeat(201));
    const c = await p.client.waitClose();
    expect(c.code).toBe(1009);
    expect(p.server.msgs.length).toBe(0);
  });

  it('the limit also applies to the sum of fragments', async () => {
    const p = await makePair('ws client -> our server', { maxPayload: 1000 });
    p.client.send(Buffer.alloc(600), { fin: false, binary: true });
    p.client.send(Buffer.alloc(600), { fin: true, binary: true });
    expect((await p.client.waitClose()).code).toBe(1009);
    expect(p.server.msgs.length).toBe(0);
  });

  it('our client with maxPayload closes with 1009 when the ws server sends more', async () => {
    const p = await makePair('our client -> ws server', {}, { maxPayload: 4096 });
    p.server.send(Buffer.alloc(4096, 3));
    expect((await p.client.next()).data.length).toBe(4096);
    p.server.send(Buffer.alloc(4097, 4));
    const s = await p.server.waitClose();
    expect(s.code).toBe(1009);
    const c = await p.client.waitClose();
    expect(c.code).toBe(1006);
    expect((p.client.errors[0] as Error & { code?: string }).code).toBe('WS_ERR_UNSUPPORTED_MESSAGE_LENGTH');
    expect(p.client.msgs.length).toBe(1);
  });
});
