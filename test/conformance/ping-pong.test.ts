// RFC 6455 §5.5.2 (Ping) and §5.5.3 (Pong).
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  OP,
  cf,
  checkClientFrame,
  checkServerFrame,
  cleanup,
  connectRaw,
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

describe(`server ping/pong [${impl}]`, () => {
  let s: EchoServer;
  beforeAll(async () => {
    s = await startEchoServer();
  });
  afterAll(() => s.close());

  const rand = prng(552);

  it.each([
    ['an empty', Buffer.alloc(0)],
    ['a text', utf8('Hello')],
    ['a 125-byte binary', randomBuf(rand, 125)],
  ])('answers %s ping with a pong carrying the identical payload', async (_name, payload) => {
    const c = await connectRaw(s.port);
    c.write(cf({ opcode: OP.PING, payload }));
    const f = await c.readFrame();
    checkServerFrame(f);
    expect(f.opcode).toBe(OP.PONG);
    expect(f.fin).toBe(true);
    expect(f.payload.equals(payload)).toBe(true);
    // connection still usable
    c.write(cf({ opcode: OP.TEXT, payload: 'after' }));
    await expectMessage(c, OP.TEXT, utf8('after'));
  });

  it('answers several pings in one write with pongs in the same order', async () => {
    const c = await connectRaw(s.port);
    c.write(Buffer.concat([1, 2, 3].map((i) => cf({ opcode: OP.PING, payload: `p${i}` }))));
    for (const i of [1, 2, 3]) {
      const f = await c.readFrame();
      checkServerFrame(f);
      expect(f.opcode).toBe(OP.PONG);
      expect(f.payload.toString()).toBe(`p${i}`);
    }
  });

  it('answers a ping delivered one byte at a time', async () => {
    const c = await connectRaw(s.port);
    await c.writeSlowly(cf({ opcode: OP.PING, payload: 'slow ping' }));
    const f = await c.readFrame();
    expect(f.opcode).toBe(OP.PONG);
    expect(f.payload.toString()).toBe('slow ping');
  });

  it('ignores an unsolicited pong (no reply), and keeps working', async () => {
    const c = await connectRaw(s.port);
    c.write(cf({ opcode: OP.PONG, payload: 'unsolicited' }));
    await c.expectSilence(150);
    c.write(cf({ opcode: OP.PONG }), cf({ opcode: OP.TEXT, payload: 'next' }));
    // the very next frame must be the echo: nothing was sent for the pongs
    await expectMessage(c, OP.TEXT, utf8('next'));
  });
});

describe(`client ping/pong [${impl}]`, () => {
  let srv: RawServer;
  beforeAll(async () => {
    srv = await startRawServer();
  });
  afterAll(() => srv.close());

  const rand = prng(553);

  it.each([
    ['an empty', Buffer.alloc(0)],
    ['a text', utf8('Hello')],
    ['a 125-byte binary', randomBuf(rand, 125)],
  ])('answers %s ping with a masked pong carrying the identical payload', async (_n, payload) => {
    const o = await openClient(srv);
    o.conn.write(sf({ opcode: OP.PING, payload }));
    const f = await o.conn.readFrame();
    checkClientFrame(f);
    expect(f.opcode).toBe(OP.PONG);
    expect(f.fin).toBe(true);
    expect(f.payload.equals(payload)).toBe(true);
    expect(o.ev.pings.map((p) => p.toString('hex'))).toEqual([payload.toString('hex')]);
  });

  it('ignores an unsolicited pong on the wire and reports it as a pong event', async () => {
    const o = await openClient(srv);
    o.conn.write(sf({ opcode: OP.PONG, payload: 'u' }), sf({ opcode: OP.TEXT, payload: 'x' }));
    expect((await o.ev.nextMessage()).data.toString()).toBe('x');
    expect(o.ev.pongs.map((p) => p.toString())).toEqual(['u']);
    await o.conn.expectSilence(100);
  });

  it('sends ping() as a masked ping frame', async () => {
    const o = await openClient(srv);
    o.client.ping(utf8('are you there'));
    const f = await o.conn.readFrame();
    checkClientFrame(f);
    expect(f.opcode).toBe(OP.PING);
    expect(f.payload.toString()).toBe('are you there');
    o.conn.write(sf({ opcode: OP.PONG, payload: f.payload }));
    await expect.poll(() => o.ev.pongs.length, { timeout: 2000 }).toBe(1);
  });
});
