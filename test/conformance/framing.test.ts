// RFC 6455 §5.2 (base framing), §5.3 (client-to-server masking), §5.6 (data frames).
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  OP,
  WebSocket,
  checkClientFrame,
  handshakeResponse,
  onlyOverTcp,
  recordClient,
  checkServerFrame,
  cf,
  cleanup,
  connectRaw,
  expectEcho,
  expectMessage,
  impl,
  openClient,
  prng,
  randomBuf,
  sf,
  startEchoServer,
  startRawServer,
  utf8,
  type EchoServer,
  type RawServer,
} from './helpers.ts';

afterEach(cleanup);

describe(`server framing [${impl}]`, () => {
  let s: EchoServer;
  beforeAll(async () => {
    s = await startEchoServer();
  });
  afterAll(() => s.close());

  const rand = prng(52);
  // 7-bit: 0..125, 16-bit: 126..65535, 64-bit: >= 65536
  const sizes: [number, 7 | 16 | 64][] = [
    [0, 7],
    [1, 7],
    [125, 7],
    [126, 16],
    [127, 16],
    [65535, 16],
    [65536, 64],
    [1 << 20, 64],
  ];

  it.each(sizes)('binary message of %i bytes (%i-bit length) is echoed with a minimal header', async (n, form) => {
    const c = await connectRaw(s.port);
    const p = randomBuf(rand, n);
    c.write(cf({ opcode: OP.BINARY, payload: p }));
    const m = await c.readMessage(4000);
    expect(m.opcode).toBe(OP.BINARY);
    expect(m.data.equals(p)).toBe(true);
    for (const f of m.frames) checkServerFrame(f);
    if (m.frames.length === 1) expect(m.frames[0].lengthForm).toBe(form);
  });

  it.each([0, 125, 126, 65536])('text message of %i bytes is echoed', async (n) => {
    const c = await connectRaw(s.port);
    await expectEcho(c, OP.TEXT, 'a'.repeat(n));
  });

  it('accepts an all-zero masking key', async () => {
    const c = await connectRaw(s.port);
    c.write(cf({ opcode: OP.TEXT, payload: 'zero key', mask: Buffer.alloc(4) }));
    await expectMessage(c, OP.TEXT, utf8('zero key'));
  });

  it('accepts an 0xff masking key and payloads of every length modulo 4', async () => {
    const c = await connectRaw(s.port);
    for (let n = 1; n <= 9; n++) {
      const p = randomBuf(rand, n);
      c.write(cf({ opcode: OP.BINARY, payload: p, mask: Buffer.from([0xff, 0xff, 0xff, 0xff]) }));
      await expectMessage(c, OP.BINARY, p);
    }
  });

  it('unmasks with a different key on every frame', async () => {
    const c = await connectRaw(s.port);
    for (let i = 0; i < 20; i++) {
      const p = randomBuf(rand, 1 + i * 7);
      c.write(cf({ opcode: OP.BINARY, payload: p, mask: randomBuf(rand, 4) }));
      await expectMessage(c, OP.BINARY, p);
    }
  });

  it('handles a frame delivered one byte per TCP write', async () => {
    const c = await connectRaw(s.port);
    const p = utf8('byte-by-byte ✓');
    await c.writeSlowly(cf({ opcode: OP.TEXT, payload: p }), 1, 1);
    await expectMessage(c, OP.TEXT, p);
  });

  it('handles a 64-bit-length frame split inside the length and the mask', async () => {
    const c = await connectRaw(s.port);
    const p = randomBuf(rand, 70000);
    const f = cf({ opcode: OP.BINARY, payload: p });
    for (const [a, b] of [[0, 1], [1, 5], [5, 12], [12, 40000], [40000, f.length]]) {
      c.write(f.subarray(a, b));
      await new Promise((r) => setTimeout(r, 5));
    }
    await expectMessage(c, OP.BINARY, p);
  });

  it('handles several frames in one TCP write, echoing them in order', async () => {
    const c = await connectRaw(s.port);
    c.write(Buffer.concat([1, 2, 3, 4, 5].map((i) => cf({ opcode: i % 2 ? OP.TEXT : OP.BINARY, payload: `msg ${i}` }))));
    for (const i of [1, 2, 3, 4, 5]) await expectMessage(c, i % 2 ? OP.TEXT : OP.BINARY, utf8(`msg ${i}`));
  });

  it('keeps text and binary types distinct', async () => {
    const c = await connectRaw(s.port);
    await expectEcho(c, OP.TEXT, 'text');
    await expectEcho(c, OP.BINARY, utf8('binary'));
    await expectEcho(c, OP.BINARY, Buffer.from([0xff, 0xfe, 0x00]));
  });
});

describe(`client framing [${impl}]`, () => {
  let srv: RawServer;
  beforeAll(async () => {
    srv = await startRawServer();
  });
  afterAll(() => srv.close());

  const rand = prng(53);

  it.each([0, 1, 125, 126, 65535, 65536, 1 << 20])('receives a %i-byte unmasked binary frame', async (n) => {
    const o = await openClient(srv);
    const p = randomBuf(rand, n);
    o.conn.write(sf({ opcode: OP.BINARY, payload: p }));
    const m = await o.ev.nextMessage(4000);
    expect(m.isBinary).toBe(true);
    expect(m.data.equals(p)).toBe(true);
  });

  it('receives text frames as text', async () => {
    const o = await openClient(srv);
    o.conn.write(sf({ opcode: OP.TEXT, payload: 'héllo' }));
    const m = await o.ev.nextMessage();
    expect(m.isBinary).toBe(false);
    expect(m.data.toString('utf8')).toBe('héllo');
  });

  it('receives a frame delivered one byte per TCP write', async () => {
    const o = await openClient(srv);
    await o.conn.writeSlowly(sf({ opcode: OP.TEXT, payload: 'slow' }), 1, 1);
    expect((await o.ev.nextMessage()).data.toString()).toBe('slow');
  });

  it('receives several frames from one TCP write in order', async () => {
    const o = await openClient(srv);
    o.conn.write(Buffer.concat(['a', 'b', 'c'].map((x) => sf({ opcode: OP.TEXT, payload: x }))));
    for (const x of ['a', 'b', 'c']) expect((await o.ev.nextMessage()).data.toString()).toBe(x);
  });

  it('receives a frame that arrives in the same TCP segment as the 101 response', async () => {
    onlyOverTcp('the 101 response and a frame in one TCP write');
    const client = new WebSocket(`ws://127.0.0.1:${srv.port}/`);
    const ev = recordClient(client);
    const conn = await srv.accept();
    const req = await conn.readHttp();
    conn.write(Buffer.concat([utf8(handshakeResponse(req.headers['sec-websocket-key'])), sf({ opcode: OP.TEXT, payload: 'early' })]));
    await ev.waitOpen();
    expect((await ev.nextMessage()).data.toString()).toBe('early');
  });

  it.each([0, 1, 125, 126, 65535, 65536, 300000])('sends a %i-byte message masked, with a minimal length', async (n) => {
    const o = await openClient(srv);
    const p = randomBuf(rand, n);
    o.client.send(p);
    const f = await o.conn.readFrame(4000);
    checkClientFrame(f);
    expect(f.fin).toBe(true);
    expect(f.opcode).toBe(OP.BINARY);
    expect(f.payload.equals(p)).toBe(true);
    expect(f.lengthForm).toBe(n < 126 ? 7 : n < 65536 ? 16 : 64);
  });

  it('sends strings as text frames', async () => {
    const o = await openClient(srv);
    o.client.send('κόσμε');
    const f = await o.conn.readFrame();
    checkClientFrame(f);
    expect(f.opcode).toBe(OP.TEXT);
    expect(f.payload.toString('utf8')).toBe('κόσμε');
  });

  it('uses a fresh masking key for each frame (§5.3: unpredictable)', async () => {
    const o = await openClient(srv);
    const keys = new Set<string>();
    for (let i = 0; i < 8; i++) o.client.send(`m${i}`);
    for (let i = 0; i < 8; i++) {
      const f = await o.conn.readFrame();
      checkClientFrame(f);
      expect(f.payload.toString()).toBe(`m${i}`);
      keys.add(f.maskKey!.toString('hex'));
    }
    expect(keys.size).toBeGreaterThan(1);
  });
});
