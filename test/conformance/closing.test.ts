// RFC 6455 §5.5.1 (Close), §7 (closing the connection), §7.4 (status codes).
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  OP,
  bytes,
  cf,
  checkClientFrame,
  checkServerFrame,
  closeInfo,
  closePayload,
  cleanup,
  connectRaw,
  expectClientFail,
  expectFail,
  impl,
  openClient,
  sf,
  startEchoServer,
  startRawServer,
  type EchoServer,
  type Frame,
  type RawConn,
  type RawServer,
} from './helpers.ts';

afterEach(cleanup);

const invalidCodes = [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535];
const validCodes = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999];

/** Read frames until a close frame, failing on anything that is not a close. */
async function readClose(c: RawConn): Promise<Frame> {
  const f = await c.readFrame();
  expect(f.opcode, `expected a close frame, got opcode ${f.opcode}`).toBe(OP.CLOSE);
  expect(f.fin).toBe(true);
  return f;
}

/** RFC-valid reply to a close without status code: empty payload, or 1000 (1005 must never be sent). */
function expectReplyToEmptyClose(f: Frame): void {
  const { code, reason } = closeInfo(f);
  if (code !== undefined) {
    expect(code).toBe(1000);
    expect(reason.length).toBe(0);
  }
}

describe(`server closing [${impl}]`, () => {
  let s: EchoServer;
  beforeAll(async () => {
    s = await startEchoServer();
  });
  afterAll(() => s.close());

  it('close with code and reason: the server echoes both, then closes TCP', async () => {
    const c = await connectRaw(s.port);
    c.write(cf({ opcode: OP.CLOSE, payload: closePayload(1000, 'bye now ✓') }));
    const f = await readClose(c);
    checkServerFrame(f);
    const { code, reason } = closeInfo(f);
    expect(code).toBe(1000);
    expect(reason.toString('utf8')).toBe('bye now ✓');
    await c.waitEnd(); // the server closes the TCP connection (§7.1.1) without further help
  });

  it('close with the longest allowed reason (123 bytes) is echoed', async () => {
    const c = await connectRaw(s.port);
    const reason = 'r'.repeat(123);
    c.write(cf({ opcode: OP.CLOSE, payload: closePayload(4000, reason) }));
    const f = await readClose(c);
    expect(closeInfo(f).code).toBe(4000);
    expect(closeInfo(f).reason.toString()).toBe(reason);
    await c.waitEnd();
  });

  it('close with no payload: the reply is an empty close or 1000 (never 1005), then TCP closes', async () => {
    const c = await connectRaw(s.port);
    c.write(cf({ opcode: OP.CLOSE }));
    const f = await readClose(c);
    checkServerFrame(f);
    expectReplyToEmptyClose(f);
    await c.waitEnd();
  });

  it('close with a 1-byte payload -> 1002', async () => {
    const c = await connectRaw(s.port);
    c.write(cf({ opcode: OP.CLOSE, payload: bytes(0x03) }));
    await expectFail(c, { code: 1002 });
  });

  it.each(invalidCodes)('close code %i is invalid on the wire -> 1002', async (code) => {
    const c = await connectRaw(s.port);
    c.write(cf({ opcode: OP.CLOSE, payload: closePayload(code) }));
    await expectFail(c, { code: 1002 });
  });

  it.each(validCodes)('close code %i is accepted and echoed', async (code) => {
    const c = await connectRaw(s.port);
    c.write(cf({ opcode: OP.CLOSE, payload: closePayload(code, 'x') }));
    const f = await readClose(c);
    expect(closeInfo(f).code).toBe(code);
    await c.waitEnd();
  });

  it('close reason with invalid UTF-8 -> 1007', async () => {
    const c = await connectRaw(s.port);
    c.write(cf({ opcode: OP.CLOSE, payload: closePayload(1000, bytes(0x61, 0xff, 0x62)) }));
    await expectFail(c, { code: 1007 });
  });

  it('close reason with a truncated UTF-8 sequence -> 1007', async () => {
    const c = await connectRaw(s.port);
    c.write(cf({ opcode: OP.CLOSE, payload: closePayload(1000, bytes(0xe2, 0x82)) }));
    await expectFail(c, { code: 1007 });
  });

  it('data, pings and more closes after a close frame are ignored', async () => {
    const c = await connectRaw(s.port);
    c.write(
      Buffer.concat([
        cf({ opcode: OP.CLOSE, payload: closePayload(1000) }),
        cf({ opcode: OP.TEXT, payload: 'after close' }),
        cf({ opcode: OP.PING, payload: 'ping after close' }),
        cf({ opcode: OP.CLOSE, payload: closePayload(1001) }),
      ]),
    );
    const f = await readClose(c);
    expect(closeInfo(f).code).toBe(1000);
    await c.waitEnd();
    expect(c.buffered).toBe(0);
    expect(c.frames.length).toBe(1);
  });

  it('a message received before the close frame is still echoed before the close reply', async () => {
    const c = await connectRaw(s.port);
    c.write(Buffer.concat([cf({ opcode: OP.TEXT, payload: 'last words' }), cf({ opcode: OP.CLOSE, payload: closePayload(1000) })]));
    const m = await c.readFrame();
    expect(m.opcode).toBe(OP.TEXT);
    expect(m.payload.toString()).toBe('last words');
    expect(closeInfo(await readClose(c)).code).toBe(1000);
    await c.waitEnd();
  });

  it('server-initiated close: the server sends its close, waits for ours, then closes TCP', async () => {
    const c = await connectRaw(s.port);
    c.write(cf({ opcode: OP.TEXT, payload: 'hi' }));
    await c.readFrame();
    const ws = s.sockets[s.sockets.length - 1];
    const closed = new Promise<[number, string]>((r) => ws.once('close', (code: number, reason: Buffer) => r([code, reason.toString()])));
    ws.close(4001, 'server says bye');
    const f = await readClose(c);
    checkServerFrame(f);
    expect(closeInfo(f).code).toBe(4001);
    expect(closeInfo(f).reason.toString()).toBe('server says bye');
    c.write(cf({ opcode: OP.CLOSE, payload: closePayload(4001, 'ok') }));
    await c.waitEnd();
    expect(await closed).toEqual([4001, 'ok']);
  });
});

describe(`client closing [${impl}]`, () => {
  let srv: RawServer;
  beforeAll(async () => {
    srv = await startRawServer();
  });
  afterAll(() => srv.close());

  it('server close with code and reason: the client echoes it masked and reports it', async () => {
    const o = await openClient(srv);
    o.conn.write(sf({ opcode: OP.CLOSE, payload: closePayload(1001, 'going away ✓') }));
    const f = await readClose(o.conn);
    checkClientFrame(f);
    expect(closeInfo(f).code).toBe(1001);
    expect(closeInfo(f).reason.toString()).toBe('going away ✓');
    o.conn.end(); // the server closes TCP first (§7.1.1)
    expect(await o.ev.waitClose()).toEqual({ code: 1001, reason: 'going away ✓' });
    expect(o.ev.errors).toEqual([]);
  });

  it('server close with no payload: the client reports 1005 and replies empty or 1000', async () => {
    const o = await openClient(srv);
    o.conn.write(sf({ opcode: OP.CLOSE }));
    const f = await readClose(o.conn);
    checkClientFrame(f);
    expectReplyToEmptyClose(f);
    o.conn.end();
    expect((await o.ev.waitClose()).code).toBe(1005);
  });

  it('close with a 1-byte payload -> 1002', async () => {
    const o = await openClient(srv);
    o.conn.write(sf({ opcode: OP.CLOSE, payload: bytes(0x03) }));
    await expectClientFail(o, 1002);
  });

  it.each([0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000])('close code %i -> 1002', async (code) => {
    const o = await openClient(srv);
    o.conn.write(sf({ opcode: OP.CLOSE, payload: closePayload(code) }));
    await expectClientFail(o, 1002);
  });

  it.each([1000, 1003, 1011, 3000, 4999])('close code %i is accepted, echoed and reported', async (code) => {
    const o = await openClient(srv);
    o.conn.write(sf({ opcode: OP.CLOSE, payload: closePayload(code, 'r') }));
    const f = await readClose(o.conn);
    expect(closeInfo(f).code).toBe(code);
    o.conn.end();
    expect(await o.ev.waitClose()).toEqual({ code, reason: 'r' });
  });

  it('close reason with invalid UTF-8 -> 1007', async () => {
    const o = await openClient(srv);
    o.conn.write(sf({ opcode: OP.CLOSE, payload: closePayload(1000, bytes(0xc0, 0x80)) }));
    await expectClientFail(o, 1007);
  });

  it('data after the server close frame is ignored', async () => {
    const o = await openClient(srv);
    o.conn.write(Buffer.concat([sf({ opcode: OP.CLOSE, payload: closePayload(1000) }), sf({ opcode: OP.TEXT, payload: 'ghost' })]));
    await readClose(o.conn);
    o.conn.end();
    expect((await o.ev.waitClose()).code).toBe(1000);
    expect(o.ev.messages).toEqual([]);
  });

  it('client.close(code, reason) sends a masked close and completes when the server answers', async () => {
    const o = await openClient(srv);
    o.client.close(4000, 'done here');
    const f = await readClose(o.conn);
    checkClientFrame(f);
    expect(closeInfo(f).code).toBe(4000);
    expect(closeInfo(f).reason.toString()).toBe('done here');
    o.conn.write(sf({ opcode: OP.CLOSE, payload: closePayload(4000, 'done here') }));
    o.conn.end();
    expect(await o.ev.waitClose()).toEqual({ code: 4000, reason: 'done here' });
  });

  it('client.close() without a code sends an empty close or 1000 (never 1005)', async () => {
    const o = await openClient(srv);
    o.client.close();
    const f = await readClose(o.conn);
    checkClientFrame(f);
    expectReplyToEmptyClose(f);
    o.conn.write(sf({ opcode: OP.CLOSE }));
    o.conn.end();
    await o.ev.waitClose();
  });

  it('TCP closed without a close frame -> close event 1006', async () => {
    const o = await openClient(srv);
    o.conn.destroy();
    expect((await o.ev.waitClose()).code).toBe(1006);
  });

  it('the client does not send data after its close frame', async () => {
    const o = await openClient(srv);
    o.client.close(1000);
    o.client.send('too late', () => undefined);
    const f = await readClose(o.conn);
    expect(closeInfo(f).code).toBe(1000);
    await o.conn.expectSilence(100);
    o.conn.end();
    await o.ev.waitClose();
  });
});
