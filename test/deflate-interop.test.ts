// permessage-deflate over real sockets: our server with the ws client, our client
// with the ws server, both compressing, with fragmentation, takeover on and off,
// every window size, and the safety cases (bomb, corrupt stream, RSV1 misuse).
import { afterEach, describe, expect, it } from 'vitest';
import net, { type AddressInfo } from 'node:net';
import { deflateRawSync } from 'node:zlib';
import { createHash, randomBytes } from 'node:crypto';
import WS, { WebSocketServer as WSServer } from 'ws';
import { WebSocket, WebSocketServer } from '../src/index.ts';

const cleanups: Array<() => unknown> = [];
// Last registered, first cleaned: clients go before the servers they keep open.
afterEach(async () => { for (const c of cleanups.splice(0).reverse()) await c(); });

async function ourEchoServer(perMessageDeflate: object | boolean, extra: object = {}): Promise<{ wss: WebSocketServer; url: string }> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate, ...extra });
  wss.on('connection', (ws) => ws.on('message', (d, isBinary) => ws.send(d, { binary: isBinary })));
  await new Promise((r) => wss.once('listening', r));
  cleanups.push(() => new Promise((r) => { for (const c of wss.clients) c.terminate(); wss.close(() => r(undefined)); }));
  return { wss, url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}` };
}

// Either client (ws's or ours): method shorthand keeps the parameter types bivariant.
interface Peer {
  send(data: string | Buffer, options: { binary: boolean }): void;
  on(event: 'message', listener: (data: Buffer) => void): unknown;
  once(event: 'error', listener: (err: Error) => void): unknown;
}

function roundTrip(client: Peer, messages: Array<Buffer | string>): Promise<Array<Buffer>> {
  return new Promise((resolve, reject) => {
    const got: Buffer[] = [];
    client.on('message', (d: Buffer) => { got.push(Buffer.from(d)); if (got.length === messages.length) resolve(got); });
    client.once('error', reject);
    for (const m of messages) client.send(m, { binary: typeof m !== 'string' });
  });
}

const opened = <T extends { once: Function }>(c: T): Promise<T> => new Promise((r, j) => { c.once('open', () => r(c)); c.once('error', j); });

function corpus(): Array<Buffer | string> {
  const text = 'The quick brown fox jumps over the lazy dog. Съешь же ещё этих мягких булок. '.repeat(200);
  return [text, Buffer.from(text.repeat(5)), 'short', randomBytes(3000), Buffer.alloc(200_000, 0x61), text];
}

describe('permessage-deflate interop', () => {
  for (const [name, opts] of [
    ['context takeover', { threshold: 0 }],
    ['no context takeover', { threshold: 0, serverNoContextTakeover: true, clientNoContextTakeover: true }],
  ] as const) {
    it(`our server with the ws client (${name})`, async () => {
      const { url } = await ourEchoServer(opts);
      const c = await opened(new WS(url, { perMessageDeflate: { threshold: 0 } }));
      cleanups.push(() => c.terminate());
      expect(c.extensions).toContain('permessage-deflate');
      const msgs = corpus();
      const got = await roundTrip(c, msgs);
      got.forEach((g, i) => expect(g.equals(Buffer.from(msgs[i] as string))).toBe(true));
    });
    it(`our client with the ws server (${name})`, async () => {
      const wss = new WSServer({ port: 0, host: '127.0.0.1', perMessageDeflate: opts });
      wss.on('connection', (ws) => ws.on('message', (d, isBinary) => ws.send(d, { binary: isBinary })));
      await new Promise((r) => wss.once('listening', r));
      cleanups.push(() => new Promise((r) => wss.close(() => r(undefined))));
      const c = await opened(new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, { perMessageDeflate: { threshold: 0 } }));
      cleanups.push(() => c.terminate());
      expect(c.extensions).toContain('permessage-deflate');
      const msgs = corpus();
      const got = await roundTrip(c as Peer, msgs);
      got.forEach((g, i) => expect(g.equals(Buffer.from(msgs[i] as string))).toBe(true));
    });
  }

  for (let bits = 8; bits <= 15; bits++) {
    it(`window bits ${bits} both ways, our client to our server`, async () => {
      const { url } = await ourEchoServer({ threshold: 0, serverMaxWindowBits: bits, clientMaxWindowBits: bits });
      const c = await opened(new WebSocket(url, { perMessageDeflate: { threshold: 0, serverMaxWindowBits: bits, clientMaxWindowBits: bits } }));
      cleanups.push(() => c.terminate());
      expect(c.extensions).toContain(`server_max_window_bits=${bits}`);
      const msgs = corpus();
      const got = await roundTrip(c as Peer, msgs);
      got.forEach((g, i) => expect(g.equals(Buffer.from(msgs[i] as string))).toBe(true));
    });
  }

  it('a compressed message fragmented across many frames (our client sending with fin: false)', async () => {
    const { url } = await ourEchoServer({ threshold: 0 });
    const c = await opened(new WebSocket(url, { perMessageDeflate: { threshold: 0 } }));
    cleanups.push(() => c.terminate());
    const parts = Array.from({ length: 50 }, (_, i) => `part ${i} `.repeat(40));
    const got = new Promise<string>((r) => c.once('message', (d: Buffer) => r(d.toString())));
    parts.forEach((p, i) => c.send(p, { fin: i === parts.length - 1 }));
    expect(await got).toBe(parts.join(''));
  });

  it('send(data, { compress: false }) goes uncompressed and still arrives', async () => {
    const { url } = await ourEchoServer({ threshold: 0 });
    const c = await opened(new WS(url, { perMessageDeflate: { threshold: 0 } }));
    cleanups.push(() => c.terminate());
    const got = await roundTrip(c, ['a'.repeat(5000)]);
    expect(got[0].toString()).toBe('a'.repeat(5000));
  });
});

// Raw client helpers for the safety cases.
async function rawUpgrade(url: string, extensions: string): Promise<{ sock: net.Socket; frames: () => Promise<Buffer> }> {
  const { port } = new URL(url);
  const sock = net.connect(Number(port), '127.0.0.1');
  cleanups.push(() => sock.destroy());
  const key = randomBytes(16).toString('base64');
  sock.write(`GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: ${extensions}\r\n\r\n`);
  let buf = Buffer.alloc(0);
  sock.on('data', (d) => { buf = Buffer.concat([buf, d]); });
  await new Promise<void>((r) => { const t = setInterval(() => { if (buf.indexOf('\r\n\r\n') >= 0) { clearInterval(t); r(); } }, 5); });
  const head = buf.subarray(0, buf.indexOf('\r\n\r\n')).toString();
  expect(head).toContain(createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64'));
  buf = buf.subarray(buf.indexOf('\r\n\r\n') + 4);
  // resolves with everything received once the server closes the TCP connection
  const frames = () => new Promise<Buffer>((r) => { if (sock.destroyed || sock.readableEnded) r(buf); else sock.once('close', () => r(buf)); });
  return { sock, frames };
}

function masked(b0: number, payload: Buffer): Buffer {
  const key = randomBytes(4);
  const len = payload.length;
  const head = len < 126 ? Buffer.from([b0, 0x80 | len]) : len < 65536 ? Buffer.from([b0, 0xfe, len >> 8, len & 255])
    : Buffer.concat([Buffer.from([b0, 0xff, 0, 0, 0, 0]), Buffer.from([len >>> 24, (len >>> 16) & 255, (len >>> 8) & 255, len & 255])]);
  const body = Buffer.from(payload.map((b, i) => b ^ key[i & 3]));
  return Buffer.concat([head, key, body]);
}

function closeCodeOf(frames: Buffer): number {
  // server frames are unmasked; find the close frame (opcode 8)
  let o = 0;
  while (o + 2 <= frames.length) {
    const op = frames[o] & 15;
    let len = frames[o + 1] & 127;
    let h = 2;
    if (len === 126) { len = frames.readUInt16BE(o + 2); h = 4; } else if (len === 127) { len = Number(frames.readBigUInt64BE(o + 2)); h = 10; }
    if (op === 8) return frames.readUInt16BE(o + h);
    o += h + len;
  }
  return -1;
}

describe('permessage-deflate safety', () => {
  it('a zip bomb gets 1009 without inflating it whole', async () => {
    const { url } = await ourEchoServer({ threshold: 0 }, { maxPayload: 1024 * 1024 });
    const { sock, frames } = await rawUpgrade(url, 'permessage-deflate');
    const bomb = deflateRawSync(Buffer.alloc(64 * 1024 * 1024), { level: 9 });
    const body = bomb.subarray(0, bomb.length); // final block included: inflating it would give 64 MiB
    const before = process.memoryUsage().rss;
    sock.write(masked(0xc2, body));
    expect(closeCodeOf(await frames())).toBe(1009);
    expect(process.memoryUsage().rss - before).toBeLessThan(48 * 1024 * 1024);
  });

  it('a corrupt deflate stream gets 1007', async () => {
    const { url } = await ourEchoServer({ threshold: 0 });
    const { sock, frames } = await rawUpgrade(url, 'permessage-deflate');
    sock.write(masked(0xc1, Buffer.from([0xff, 0xff, 0xff, 0x00, 0x12, 0x34])));
    expect(closeCodeOf(await frames())).toBe(1007);
  });

  it('RSV1 on a continuation frame or a control frame is a 1002', async () => {
    const { url } = await ourEchoServer({ threshold: 0 });
    const a = await rawUpgrade(url, 'permessage-deflate');
    a.sock.write(Buffer.concat([masked(0x41, deflateRawSync('ab')), masked(0xc0, Buffer.from('c'))]));
    expect(closeCodeOf(await a.frames())).toBe(1002);
    const b = await rawUpgrade(url, 'permessage-deflate');
    b.sock.write(masked(0xc9, Buffer.from('ping')));
    expect(closeCodeOf(await b.frames())).toBe(1002);
  });

  it('a compressed frame when deflate was not negotiated is a 1002', async () => {
    const { url } = await ourEchoServer(false);
    const { sock, frames } = await rawUpgrade(url, 'permessage-deflate');
    sock.write(masked(0xc1, deflateRawSync('hello')));
    expect(closeCodeOf(await frames())).toBe(1002);
  });

  it('compressed text that inflates to invalid UTF-8 gets 1007', async () => {
    const { url } = await ourEchoServer({ threshold: 0 });
    const { sock, frames } = await rawUpgrade(url, 'permessage-deflate');
    const z = deflateRawSync(Buffer.from([0x61, 0xc0, 0x80]), { finishFlush: 2 });
    sock.write(masked(0xc1, z.subarray(0, z.length - 4)));
    expect(closeCodeOf(await frames())).toBe(1007);
  });
});
