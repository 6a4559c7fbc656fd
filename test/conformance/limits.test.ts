// Size limits and malformed lengths.
// RFC 6455 §5.2 (minimal length encoding, 64-bit MSB must be 0, masking rules),
// §5.5 (control frames <= 125 bytes), §7.4.1 (1009 "message too big").
// maxPayload is the `ws` option (the maximum allowed message size).
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  OP,
  buildFrame,
  cf,
  cleanup,
  connectRaw,
  expectClientFail,
  expectFail,
  expectMessage,
  impl,
  isWs,
  openClient,
  prng,
  randomBuf,
  sf,
  startEchoServer,
  startRawServer,
  type EchoServer,
  type RawServer,
} from './helpers.ts';

afterEach(cleanup);

const MAX = 1000;

describe(`server limits [${impl}] (maxPayload ${MAX})`, () => {
  let s: EchoServer;
  beforeAll(async () => {
    s = await startEchoServer({ maxPayload: MAX });
  });
  afterAll(() => s.close());

  const rand = prng(57);

  it('a message of exactly maxPayload bytes is accepted', async () => {
    const c = await connectRaw(s.port);
    const p = randomBuf(rand, MAX);
    c.write(cf({ opcode: OP.BINARY, payload: p }));
    await expectMessage(c, OP.BINARY, p);
  });

  it('a fragmented message of exactly maxPayload bytes is accepted', async () => {
    const c = await connectRaw(s.port);
    const p = randomBuf(rand, MAX);
    c.write(cf({ opcode: OP.BINARY, fin: false, payload: p.subarray(0, 600) }), cf({ opcode: OP.CONT, payload: p.subarray(600) }));
    await expectMessage(c, OP.BINARY, p);
  });

  it.each([
    ['16-bit', MAX + 1],
    ['64-bit', 2 ** 40],
  ])('a %s frame header declaring more than maxPayload -> close 1009 before any payload is sent', async (_n, len) => {
    const c = await connectRaw(s.port);
    c.write(cf({ opcode: OP.BINARY, declaredLength: len, headerOnly: true }));
    await expectFail(c, { code: 1009 });
  });

  it('a fragmented message whose total exceeds maxPayload -> 1009', async () => {
    const c = await connectRaw(s.port);
    c.write(
      cf({ opcode: OP.TEXT, fin: false, payload: 'a'.repeat(400) }),
      cf({ opcode: OP.CONT, fin: false, payload: 'b'.repeat(400) }),
      cf({ opcode: OP.CONT, payload: 'c'.repeat(400) }),
    );
    await expectFail(c, { code: 1009 });
  });

  it('a fragment header that pushes the total over maxPayload -> 1009 before its payload is sent', async () => {
    const c = await connectRaw(s.port);
    c.write(cf({ opcode: OP.BINARY, fin: false, payload: randomBuf(rand, 900) }), cf({ opcode: OP.CONT, declaredLength: 101, headerOnly: true }));
    await expectFail(c, { code: 1009 });
  });

  it('a 126-byte ping -> 1002 (control frames carry at most 125 bytes)', async () => {
    const c = await connectRaw(s.port);
    c.write(cf({ opcode: OP.PING, payload: randomBuf(rand, 126) }));
    await expectFail(c, { code: 1002 });
  });

  it('a 126-byte close frame -> 1002', async () => {
    const c = await connectRaw(s.port);
    c.write(cf({ opcode: OP.CLOSE, payload: Buffer.concat([Buffer.from([0x03, 0xe8]), Buffer.alloc(124, 0x61)]) }));
    await expectFail(c, { code: 1002 });
  });

  it('a pong with a 64-bit length field -> 1002', async () => {
    const c = await connectRaw(s.port);
    c.write(cf({ opcode: OP.PONG, payload: 'x', lengthForm: 64 }));
    await expectFail(c, { code: 1002 });
  });

  // ws does not check for minimal length encodings (it accepts them).
  it.skipIf(isWs).each([
    ['length 5 in the 16-bit form', 5, 16],
    ['length 125 in the 16-bit form', 125, 16],
    ['length 5 in the 64-bit form', 5, 64],
    ['length 500 in the 64-bit form', 500, 64],
  ] as const)('non-minimal length encoding (%s) -> 1002', async (_n, len, form) => {
    const c = await connectRaw(s.port);
    c.write(cf({ opcode: OP.BINARY, payload: randomBuf(rand, len), lengthForm: form }));
    await expectFail(c, { code: 1002 });
  });

  // ws answers 1009 ("payload length > 2^53 - 1") rather than treating the set
  // MSB as the protocol violation it is (§5.2: "the most significant bit MUST be 0").
  it.skipIf(isWs)('a 64-bit length with the most significant bit set -> 1002', async () => {
    const c = await connectRaw(s.port);
    c.write(cf({ opcode: OP.BINARY, declaredLength: 2n ** 63n + 5n, headerOnly: true }));
    await expectFail(c, { code: 1002 });
  });

  it('an unmasked client frame -> 1002', async () => {
    const c = await connectRaw(s.port);
    c.write(buildFrame({ opcode: OP.TEXT, payload: 'naked', mask: false }));
    await expectFail(c, { code: 1002 });
  });

  it('an unmasked ping -> 1002', async () => {
    const c = await connectRaw(s.port);
    c.write(buildFrame({ opcode: OP.PING, payload: 'naked', mask: false }));
    await expectFail(c, { code: 1002 });
  });

  it('the server is still healthy after all of the above', async () => {
    const c = await connectRaw(s.port);
    c.write(cf({ opcode: OP.TEXT, payload: 'ok' }));
    await expectMessage(c, OP.TEXT, Buffer.from('ok'));
  });
});

describe(`client limits [${impl}]`, () => {
  let srv: RawServer;
  beforeAll(async () => {
    srv = await startRawServer();
  });
  afterAll(() => srv.close());

  const rand = prng(58);

  it('a frame header declaring more than maxPayload -> masked close 1009 before the payload is sent', async () => {
    const o = await openClient(srv, { options: { maxPayload: MAX } });
    o.conn.write(sf({ opcode: OP.BINARY, declaredLength: MAX + 1, headerOnly: true }));
    await expectClientFail(o, 1009);
  });

  it('a message of exactly maxPayload is accepted', async () => {
    const o = await openClient(srv, { options: { maxPayload: MAX } });
    const p = randomBuf(rand, MAX);
    o.conn.write(sf({ opcode: OP.BINARY, payload: p }));
    expect((await o.ev.nextMessage()).data.equals(p)).toBe(true);
  });

  it('a fragmented message whose total exceeds maxPayload -> 1009', async () => {
    const o = await openClient(srv, { options: { maxPayload: MAX } });
    o.conn.write(sf({ opcode: OP.BINARY, fin: false, payload: randomBuf(rand, 600) }), sf({ opcode: OP.CONT, payload: randomBuf(rand, 600) }));
    await expectClientFail(o, 1009);
  });

  it('a 126-byte ping -> 1002', async () => {
    const o = await openClient(srv);
    o.conn.write(sf({ opcode: OP.PING, payload: randomBuf(rand, 126) }));
    await expectClientFail(o, 1002);
  });

  it('a masked server frame -> 1002', async () => {
    const o = await openClient(srv);
    o.conn.write(buildFrame({ opcode: OP.TEXT, payload: 'masked', mask: true }));
    await expectClientFail(o, 1002);
  });

  // ws accepts non-minimal length encodings.
  it.skipIf(isWs).each([
    ['length 5 in the 16-bit form', 5, 16],
    ['length 200 in the 64-bit form', 200, 64],
  ] as const)('non-minimal length encoding (%s) -> 1002', async (_n, len, form) => {
    const o = await openClient(srv);
    o.conn.write(sf({ opcode: OP.BINARY, payload: randomBuf(rand, len), lengthForm: form }));
    await expectClientFail(o, 1002);
  });

  // ws answers 1009 instead of 1002 (see the server case).
  it.skipIf(isWs)('a 64-bit length with the most significant bit set -> 1002', async () => {
    const o = await openClient(srv);
    o.conn.write(sf({ opcode: OP.BINARY, declaredLength: 2n ** 63n, headerOnly: true }));
    await expectClientFail(o, 1002);
  });
});
