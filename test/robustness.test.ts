// "No crash on garbage": hostile peers thrown at our echo server while a
// well-behaved `ws` client echoes 1,000 numbered messages through it. Every
// hostile connection is bounded and checked (exact close codes for protocol
// errors, TCP closed for half-open and garbage connections, no server-side
// WebSocket left behind), and the process must see no uncaught exception.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { once } from 'node:events';
import { WebSocket as RefWebSocket } from 'ws';
import { WebSocketServer, WebSocket } from '../src/index.ts';
import { App, us_socket_local_port, type TemplatedApp } from '../src/app/index.ts';
import {
  OP, RawConn, buildFrame, cf, sf, cleanup, closeInfo, closePayload, connectRaw, expectFail, fmt, handshakeRequest,
  handshakeResponse, newKey, prng, randomBuf, sleep, startRawServer, type Frame, type RawServer,
} from './conformance/helpers.ts';
import { closeWss, echoMessages, portWhenListening } from './helpers/servers.ts';
import { T, until, withTimeout } from './helpers/wait.ts';

const MAX_PAYLOAD = 64 * 1024;

// Uncaught exceptions and unhandled rejections fail the test that saw them.
let uncaught: unknown[] = [];
const onUncaught = (e: unknown): void => { uncaught.push(e); };
beforeEach(() => {
  uncaught = [];
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onUncaught);
});
const servers: WebSocketServer[] = [];
const apps: TemplatedApp[] = [];
afterEach(async () => {
  process.removeListener('uncaughtException', onUncaught);
  process.removeListener('unhandledRejection', onUncaught);
  await cleanup();
  for (const wss of servers.splice(0)) await closeWss(wss);
  for (const app of apps.splice(0)) app.close();
});

interface Echo { wss: WebSocketServer; port: number; serverErrors: Error[]; serverCloses: number[] }

async function startEcho(opts: Record<string, unknown> = {}, errorListener = true): Promise<Echo> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', maxPayload: MAX_PAYLOAD, handshakeTimeout: 25_000, ...opts });
  servers.push(wss);
  const port = await portWhenListening(wss);
  const serverErrors: Error[] = [];
  const serverCloses: number[] = [];
  wss.on('connection', (ws: WebSocket) => {
    if (errorListener) ws.on('error', (e: Error) => serverErrors.push(e));
    echoMessages(ws);
    ws.on('close', (code: number) => serverCloses.push(code));
  });
  return { wss, port, serverErrors, serverCloses };
}

/** An echo server of either door: the ws-compatible one, or wasmsocket/app (uWS.js's API). */
interface Door {
  port: number;
  /** Server-side WebSockets still open. */
  open(): number;
  /** The close codes of the protocol errors the server reported, or null: the App reports none (uWS.js has no error event; the codes are checked on the wire). */
  errorCodes(): number[] | null;
  /** Text of every message the server's handler got, and the code of every server-side close. */
  messages: string[];
  closes: number[];
}

async function startDoor(door: 'ws' | 'app'): Promise<Door> {
  if (door === 'ws') {
    const s = await startEcho();
    const messages: string[] = [];
    s.wss.on('connection', (ws: WebSocket) => ws.on('message', (d: Buffer) => messages.push(d.toString())));
    return { port: s.port, open: () => s.wss.clients.size, errorCodes: () => s.serverErrors.map((e) => (e as Error & { closeCode?: number }).closeCode!),
      messages, closes: s.serverCloses };
  }
  let open = 0;
  const messages: string[] = [], closes: number[] = [];
  const app = App({ httpIdleTimeout: 25 }).ws('/*', {
    maxPayloadLength: MAX_PAYLOAD, maxBackpressure: 4 * MAX_PAYLOAD, idleTimeout: 0,
    open: () => { open++; },
    close: (_ws, code) => { open--; closes.push(code); },
    message: (ws, m, isBinary) => { messages.push(Buffer.from(m).toString()); ws.send(m, isBinary); },
  });
  apps.push(app);
  const port = await new Promise<number>((resolve, reject) => app.listen('127.0.0.1', 0, (t) => t ? resolve(us_socket_local_port(t)) : reject(new Error('listen failed'))));
  return { port, open: () => open, errorCodes: () => null, messages, closes };
}

/** Reads frames until the peer closes TCP (bounded); returns them. */
async function drainFrames(c: RawConn, ms = T): Promise<Frame[]> {
  const frames: Frame[] = [];
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      frames.push(await c.readFrame(Math.max(1, deadline - Date.now())));
    } catch (e) {
      if (c.ended || c.closed) return frames;
      throw e;
    }
  }
}

/** Client-side protocol errors and the close code the server must answer with. */
const PROTOCOL_ERRORS: Array<[string, () => Buffer[], number]> = [
  ['unmasked client frame', () => [buildFrame({ opcode: OP.TEXT, payload: 'x', mask: false })], 1002],
  ['RSV1 without an extension', () => [cf({ opcode: OP.TEXT, payload: 'x', rsv1: true })], 1002],
  ['RSV2', () => [cf({ opcode: OP.BINARY, payload: 'x', rsv2: true })], 1002],
  ['RSV3', () => [cf({ opcode: OP.BINARY, payload: 'x', rsv3: true })], 1002],
  ['reserved data opcode 0x3', () => [cf({ opcode: 0x3, payload: 'x' })], 1002],
  ['reserved control opcode 0xB', () => [cf({ opcode: 0xb })], 1002],
  ['continuation with no message open', () => [cf({ opcode: OP.CONT, payload: 'x' })], 1002],
  ['new text while a fragmented message is open', () => [cf({ opcode: OP.TEXT, payload: 'a', fin: false }), cf({ opcode: OP.TEXT, payload: 'b' })], 1002],
  ['fragmented ping', () => [cf({ opcode: OP.PING, payload: 'p', fin: false })], 1002],
  ['ping with 126 bytes', () => [cf({ opcode: OP.PING, payload: Buffer.alloc(126) })], 1002],
  ['close with a 1-byte payload', () => [cf({ opcode: OP.CLOSE, payload: Buffer.from([3]) })], 1002],
  ['close code 1005', () => [cf({ opcode: OP.CLOSE, payload: closePayload(1005) })], 1002],
  ['close code 1006', () => [cf({ opcode: OP.CLOSE, payload: closePayload(1006) })], 1002],
  ['close code 999', () => [cf({ opcode: OP.CLOSE, payload: closePayload(999) })], 1002],
  ['close code 1004', () => [cf({ opcode: OP.CLOSE, payload: closePayload(1004) })], 1002],
  ['close code 1015', () => [cf({ opcode: OP.CLOSE, payload: closePayload(1015) })], 1002],
  ['close code 2999', () => [cf({ opcode: OP.CLOSE, payload: closePayload(2999) })], 1002],
  ['close code 5000', () => [cf({ opcode: OP.CLOSE, payload: closePayload(5000) })], 1002],
  ['invalid UTF-8 text', () => [cf({ opcode: OP.TEXT, payload: Buffer.from([0x61, 0xc3, 0x28]) })], 1007],
  ['overlong UTF-8', () => [cf({ opcode: OP.TEXT, payload: Buffer.from([0xc0, 0xaf]) })], 1007],
  ['UTF-16 surrogate in UTF-8', () => [cf({ opcode: OP.TEXT, payload: Buffer.from([0xed, 0xa0, 0x80]) })], 1007],
  ['code point above U+10FFFF', () => [cf({ opcode: OP.TEXT, payload: Buffer.from([0xf4, 0x90, 0x80, 0x80]) })], 1007],
  ['UTF-8 cut at the end of a fragmented text', () => [cf({ opcode: OP.TEXT, payload: Buffer.from([0x41, 0xe2, 0x82]), fin: false }), cf({ opcode: OP.CONT, payload: Buffer.alloc(0) })], 1007],
  ['invalid UTF-8 in a close reason', () => [cf({ opcode: OP.CLOSE, payload: closePayload(1000, Buffer.from([0xff, 0xfe])) })], 1007],
  ['frame one byte over maxPayload', () => [cf({ opcode: OP.BINARY, payload: Buffer.alloc(MAX_PAYLOAD + 1) })], 1009],
  ['header promising 10 MB (no payload sent)', () => [cf({ opcode: OP.BINARY, declaredLength: 10_000_000, headerOnly: true })], 1009],
  ['fragments adding up past maxPayload', () => [cf({ opcode: OP.BINARY, payload: Buffer.alloc(40_000), fin: false }), cf({ opcode: OP.CONT, payload: Buffer.alloc(40_000) })], 1009],
  ['64-bit length 2^53 (over maxPayload)', () => [cf({ opcode: OP.BINARY, declaredLength: 2n ** 53n, lengthForm: 64, headerOnly: true })], 1009],
  // RFC 6455 §5.2: the most significant bit MUST be 0 (ws says 1009; this library 1002, see conformance/limits)
  ['64-bit length with the top bit set', () => [cf({ opcode: OP.BINARY, declaredLength: 2n ** 63n, lengthForm: 64, headerOnly: true })], 1002],
  ['non-minimal 16-bit length for 5 bytes', () => [cf({ opcode: OP.BINARY, payload: Buffer.alloc(5), lengthForm: 16 })], 1002],
];

/** Answers our client's upgrade on the raw server; returns the raw connection once the client is open. */
async function acceptOpen(srv: RawServer, client: WebSocket): Promise<RawConn> {
  const conn = await srv.accept();
  const req = await conn.readHttp();
  conn.write(handshakeResponse(req.headers['sec-websocket-key']));
  await withTimeout(once(client, 'open'), T, 'open');
  return conn;
}

/** Runs `tasks` with at most `n` at a time. */
async function pool(tasks: Array<() => Promise<void>>, n: number): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < tasks.length) await tasks[next++]();
  };
  await Promise.all(Array.from({ length: n }, worker));
}

describe.each(['ws', 'app'] as const)('no crash on garbage (%s door)', (door) => {
  it('hostile connections while a ws client echoes 1,000 numbered messages in order', async () => {
    const s = await startDoor(door);
    const rand = prng(0x5eed_2024);
    const failures: string[] = [];
    const note = (what: string, e: unknown): void => { failures.push(`${what}: ${(e as Error)?.message ?? e}`); };

    // the well-behaved client
    const client = new RefWebSocket(`ws://127.0.0.1:${s.port}/`);
    const received: string[] = [];
    const clientErrors: Error[] = [];
    client.on('error', (e) => clientErrors.push(e));
    client.on('message', (d) => received.push(d.toString()));
    await withTimeout(once(client, 'open'), T, 'echo client open');

    // 50 truncated handshakes, left open during the whole run
    const truncated: Array<{ c: RawConn; rest: string; key: string }> = [];
    for (let i = 0; i < 50; i++) {
      const key = newKey();
      const req = handshakeRequest(s.port, { key });
      const cut = 1 + Math.floor(rand() * (req.length - 2));
      const c = await RawConn.connect(s.port);
      c.write(req.slice(0, cut));
      truncated.push({ c, rest: req.slice(cut), key });
    }

    const tasks: Array<() => Promise<void>> = [];
    // 100 connections sending seeded random bytes: 50 instead of a handshake, 50 after a valid upgrade
    for (let i = 0; i < 100; i++) {
      const bytes = randomBuf(rand, 1 + Math.floor(rand() * 3000));
      const afterUpgrade = i % 2 === 1;
      tasks.push(async () => {
        try {
          const c = afterUpgrade ? await connectRaw(s.port) : await RawConn.connect(s.port);
          c.write(bytes);
          c.end();
          if (afterUpgrade) {
            for (const f of await drainFrames(c)) {
              if (f.masked) throw new Error(`masked server frame ${fmt(f)}`);
              if (f.opcode === OP.CLOSE) {
                const { code } = closeInfo(f);
                if (code !== undefined && ![1000, 1002, 1007, 1009].includes(code)) throw new Error(`close code ${code}`);
              }
            }
          } else {
            await c.waitEnd(T);
            const head = c.peek().toString('latin1');
            if (head.length && !head.startsWith('HTTP/1.1 400')) throw new Error(`unexpected answer ${JSON.stringify(head.slice(0, 40))}`);
          }
          c.destroy();
        } catch (e) { note(`random bytes #${i}${afterUpgrade ? ' after upgrade' : ''}`, e); }
      });
    }
    // 50 half-open sockets: end() right after a valid upgrade; the server must close its side too
    for (let i = 0; i < 50; i++) {
      tasks.push(async () => {
        try {
          const c = await connectRaw(s.port);
          c.end();
          await c.waitEnd(T);
          c.destroy();
        } catch (e) { note(`half-open #${i}`, e); }
      });
    }
    // 50 protocol errors after a valid upgrade: each gets a close frame with the right code, then TCP close
    for (let i = 0; i < 50; i++) {
      const [name, frames, code] = PROTOCOL_ERRORS[i % PROTOCOL_ERRORS.length];
      tasks.push(async () => {
        try {
          const c = await connectRaw(s.port);
          c.write(...frames());
          await expectFail(c, { code, timeoutMs: T });
          c.destroy();
        } catch (e) { note(`protocol error "${name}" (expect ${code})`, e); }
      });
    }
    // shuffle (seeded) so the kinds interleave
    for (let i = tasks.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [tasks[i], tasks[j]] = [tasks[j], tasks[i]];
    }

    let hostileDone = false;
    const hostile = pool(tasks, 16).finally(() => { hostileDone = true; });

    // the echo, paced so that it runs during the hostile traffic
    const N = 1000;
    for (let b = 0; b < N / 10; b++) {
      for (let i = b * 10; i < (b + 1) * 10; i++) client.send(`#${i}`);
      await until(() => received.length >= (b + 1) * 10 || client.readyState !== RefWebSocket.OPEN, T, () => `echo of batch ${b} (${received.length})`);
      if (!hostileDone) await sleep(2);
    }
    await withTimeout(hostile, 20_000, 'the hostile connections');

    expect(failures).toEqual([]);
    expect(clientErrors).toEqual([]);
    expect(client.readyState).toBe(RefWebSocket.OPEN);
    expect(received).toEqual(Array.from({ length: N }, (_, i) => `#${i}`));

    // half of the truncated handshakes now complete: the server kept their state
    for (const [i, t] of truncated.entries()) {
      if (i % 2 === 0) { t.c.destroy(); continue; }
      t.c.write(t.rest);
      const res = await t.c.readHttp(T);
      expect(res.status, `truncated handshake #${i}`).toBe(101);
      t.c.write(cf({ opcode: OP.TEXT, payload: `late ${i}` }));
      const f = await t.c.readFrame(T);
      expect([f.opcode, f.payload.toString()]).toEqual([OP.TEXT, `late ${i}`]);
      t.c.destroy();
    }

    // nothing left behind on the server: only the echo client remains
    await until(() => s.open() === 1, T, () => `one server-side socket open (is ${s.open()})`);
    // every protocol error was reported on the server with its close code
    const codes = s.errorCodes();
    if (codes !== null) for (const c of [1002, 1007, 1009]) expect(codes, `server errors with ${c}`).toContain(c);

    const closed = once(client, 'close');
    client.close(1000, 'done');
    const [code] = await withTimeout(closed, T, 'client close');
    expect(code).toBe(1000);
    expect(uncaught).toEqual([]);
  }, 30_000);
});

describe.each(['ws', 'app'] as const)('close frame followed by more data (%s door)', (door) => {
  it('server: data after the peer\'s close frame is ignored; the close is answered with the same code', async () => {
    const s = await startDoor(door);
    const { messages } = s;
    const c = await connectRaw(s.port);
    c.write(Buffer.concat([
      cf({ opcode: OP.TEXT, payload: 'before close' }),
      cf({ opcode: OP.CLOSE, payload: closePayload(4000, 'leaving') }),
      cf({ opcode: OP.TEXT, payload: 'after close' }),
      cf({ opcode: OP.BINARY, payload: randomBuf(prng(1), 500) }),
      randomBuf(prng(2), 300), // and garbage
    ]));
    const frames = await drainFrames(c);
    expect(frames.map((f) => f.opcode)).toEqual([OP.TEXT, OP.CLOSE]);
    expect(frames[0].payload.toString()).toBe('before close');
    expect(closeInfo(frames[1])).toEqual({ code: 4000, reason: Buffer.from('leaving') });
    // keep writing after the server's close: no crash
    for (let i = 0; i < 20; i++) c.write(cf({ opcode: OP.TEXT, payload: `zombie ${i}` }));
    await until(() => s.closes.length === 1, T, () => 'server close event');
    expect(s.closes).toEqual([4000]);
    expect(messages).toEqual(['before close']);
    expect(s.errorCodes() ?? []).toEqual([]);
    await sleep(50);
    expect(uncaught).toEqual([]);
  });

  it('server: data trickling in after the close frame, in separate writes', async () => {
    const s = await startDoor(door);
    const { messages } = s;
    const c = await connectRaw(s.port);
    c.write(cf({ opcode: OP.CLOSE, payload: closePayload(1000) }));
    const f = await c.readFrame(T);
    expect(closeInfo(f).code).toBe(1000);
    for (let i = 0; i < 10 && !c.closed; i++) {
      c.write(cf({ opcode: OP.TEXT, payload: `late ${i}` }));
      await sleep(2);
    }
    await c.waitEnd(T);
    await until(() => s.closes.length === 1, T, () => 'server close event');
    expect(s.closes).toEqual([1000]);
    expect(messages).toEqual([]);
    expect(uncaught).toEqual([]);
  });
});

describe('close frame followed by more data', () => {
  it('server: after our close(), messages the peer sent before its close frame are still delivered', async () => {
    const s = await startEcho();
    const messages: string[] = [];
    const closing = new Promise<WebSocket>((r) => s.wss.once('connection', (ws: WebSocket) => {
      ws.on('message', (d: Buffer) => messages.push(d.toString()));
      r(ws);
    }));
    const c = await connectRaw(s.port);
    const ws = await withTimeout(closing, T, 'connection');
    ws.close(1000, 'server first');
    const f = await c.readFrame(T);
    expect(closeInfo(f)).toEqual({ code: 1000, reason: Buffer.from('server first') });
    c.write(cf({ opcode: OP.TEXT, payload: 'in flight 1' }), cf({ opcode: OP.BINARY, payload: 'in flight 2' }),
      cf({ opcode: OP.CLOSE, payload: closePayload(1000) }));
    await c.waitEnd(T);
    await until(() => s.serverCloses.length === 1, T, () => 'server close event');
    expect(messages).toEqual(['in flight 1', 'in flight 2']);
    expect(s.serverCloses).toEqual([1000]);
    // the echo of those messages is not sent after our close frame
    expect(c.buffered).toBe(0);
    expect(uncaught).toEqual([]);
  });

  it('our client: data after the server\'s close frame is not delivered', async () => {
    const srv = await startRawServer();
    try {
      const client = new WebSocket(`ws://127.0.0.1:${srv.port}/`, { perMessageDeflate: false });
      const messages: string[] = [];
      const closes: Array<[number, string]> = [];
      client.on('message', (d: Buffer) => messages.push(d.toString()));
      client.on('close', (code: number, reason: Buffer) => closes.push([code, reason.toString()]));
      const conn = await acceptOpen(srv, client);
      conn.write(Buffer.concat([
        sf({ opcode: OP.TEXT, payload: 'hello' }),
        sf({ opcode: OP.CLOSE, payload: closePayload(1001, 'restart') }),
        sf({ opcode: OP.TEXT, payload: 'after close' }),
        randomBuf(prng(3), 200),
      ]));
      const f = await conn.readFrame(T);
      expect(f.masked).toBe(true);
      expect(closeInfo(f)).toEqual({ code: 1001, reason: Buffer.from('restart') });
      conn.end();
      await until(() => closes.length === 1, T, () => 'client close event');
      expect(closes).toEqual([[1001, 'restart']]);
      expect(messages).toEqual(['hello']);
      expect(uncaught).toEqual([]);
    } finally {
      await srv.close();
    }
  });
});

describe('no error listener', () => {
  it('a server connection handler without an error listener survives invalid UTF-8 (1007) and other protocol errors', async () => {
    const s = await startEcho({}, false);
    const seen: WebSocket[] = [];
    s.wss.on('connection', (ws: WebSocket) => seen.push(ws));
    const c1 = await connectRaw(s.port);
    c1.write(cf({ opcode: OP.TEXT, payload: Buffer.from([0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5, 0xed, 0xa0, 0x80, 0x65, 0x64, 0x69, 0x74, 0x65, 0x64]) }));
    await expectFail(c1, { code: 1007 });
    const c2 = await connectRaw(s.port);
    c2.write(cf({ opcode: OP.TEXT, payload: Buffer.from([0xe2, 0x82]), fin: false }), cf({ opcode: OP.CONT, payload: Buffer.from([0x28]) }));
    await expectFail(c2, { code: 1007 });
    const c3 = await connectRaw(s.port);
    c3.write(buildFrame({ opcode: OP.TEXT, payload: 'unmasked', mask: false }));
    await expectFail(c3, { code: 1002 });
    const c4 = await connectRaw(s.port);
    c4.write(cf({ opcode: OP.BINARY, payload: Buffer.alloc(MAX_PAYLOAD + 1) }));
    await expectFail(c4, { code: 1009 });
    expect(seen.map((ws) => ws.listenerCount('error'))).toEqual([0, 0, 0, 0]);
    await until(() => s.serverCloses.length === 4, T, () => 'four server-side close events');
    expect(s.serverCloses).toEqual([1006, 1006, 1006, 1006]);
    // the server still serves
    const ok = await connectRaw(s.port);
    ok.write(cf({ opcode: OP.TEXT, payload: 'still alive' }));
    const f = await ok.readFrame(T);
    expect(f.payload.toString()).toBe('still alive');
    expect(uncaught).toEqual([]);
  });

  it('our client without an error listener survives invalid UTF-8 from the server', async () => {
    const srv = await startRawServer();
    try {
      const client = new WebSocket(`ws://127.0.0.1:${srv.port}/`, { perMessageDeflate: false });
      const closes: number[] = [];
      client.on('close', (code: number) => closes.push(code));
      const conn = await acceptOpen(srv, client);
      expect(client.listenerCount('error')).toBe(0);
      conn.write(sf({ opcode: OP.TEXT, payload: Buffer.from([0xff]) }));
      await expectFail(conn, { code: 1007, masked: true });
      await until(() => closes.length === 1, T, () => 'client close');
      expect(closes).toEqual([1006]);
      expect(uncaught).toEqual([]);
    } finally {
      await srv.close();
    }
  });
});

describe('a peer that pings without reading', () => {
  it('auto-pong stops past 1 MiB queued: pongs do not pile up without bound', async () => {
    const { createConnection } = await import('node:net');
    const s = await startEcho();
    const conn = new Promise<WebSocket>((r) => s.wss.once('connection', r));
    const sock = createConnection(s.port, '127.0.0.1');
    cleanupSocket = sock;
    await once(sock, 'connect');
    sock.write(handshakeRequest(s.port));
    await once(sock, 'data'); // the 101
    sock.pause(); // from here on the peer reads nothing
    const ws = await withTimeout(conn, T, 'connection');
    let pings = 0;
    ws.on('ping', () => { pings++; });
    const batch = Buffer.concat(Array.from({ length: 1000 }, () => cf({ opcode: OP.PING, payload: Buffer.alloc(125, 7) })));
    // 200,000 pings of 125 bytes ask for 25 MB of pongs
    for (let i = 0; i < 200; i++) {
      if (!sock.write(batch)) await once(sock, 'drain');
    }
    await until(() => pings === 200_000, 20_000, () => `pings received: ${pings}`);
    // what the server holds for this peer stays near the cap, whatever the peer asks for
    expect(ws.bufferedAmount).toBeLessThan(1024 * 1024 + 256 * 1024);
    expect(s.serverErrors).toEqual([]);
    expect(uncaught).toEqual([]);
  }, 40_000);
});

let cleanupSocket: { destroy(): void } | null = null;
afterEach(() => { cleanupSocket?.destroy(); cleanupSocket = null; });
