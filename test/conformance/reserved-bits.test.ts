// RFC 6455 §5.2: RSV1-3 MUST be 0 unless an extension defining them was negotiated;
// otherwise the receiver MUST _Fail the WebSocket Connection_ (close 1002).
// No extension is negotiated anywhere in this file.
import { afterAll, afterEach, beforeAll, describe, it } from 'vitest';
import {
  OP,
  cf,
  cleanup,
  connectRaw,
  expectClientFail,
  expectFail,
  expectMessage,
  impl,
  openClient,
  sf,
  startEchoServer,
  startRawServer,
  utf8,
  type EchoServer,
  type FrameSpec,
  type RawServer,
} from './helpers.ts';

afterEach(cleanup);

const cases: [string, Partial<FrameSpec>][] = [
  ['RSV1 on a text frame', { opcode: OP.TEXT, rsv1: true, payload: 'x' }],
  ['RSV2 on a text frame', { opcode: OP.TEXT, rsv2: true, payload: 'x' }],
  ['RSV3 on a text frame', { opcode: OP.TEXT, rsv3: true, payload: 'x' }],
  ['RSV1+2+3 on a binary frame', { opcode: OP.BINARY, rsv1: true, rsv2: true, rsv3: true, payload: 'x' }],
  ['RSV1 on an empty binary frame', { opcode: OP.BINARY, rsv1: true }],
  ['RSV1 on a ping', { opcode: OP.PING, rsv1: true, payload: 'p' }],
  ['RSV2 on a pong', { opcode: OP.PONG, rsv2: true }],
  ['RSV3 on a close', { opcode: OP.CLOSE, rsv3: true, payload: Buffer.from([0x03, 0xe8]) }],
];

describe(`server reserved bits [${impl}]`, () => {
  let s: EchoServer;
  beforeAll(async () => {
    s = await startEchoServer();
  });
  afterAll(() => s.close());

  it.each(cases)('%s -> close 1002', async (_n, spec) => {
    const c = await connectRaw(s.port);
    c.write(cf(spec as FrameSpec));
    await expectFail(c, { code: 1002 });
  });

  it('RSV1 on a continuation frame -> close 1002', async () => {
    const c = await connectRaw(s.port);
    c.write(cf({ opcode: OP.TEXT, fin: false, payload: 'a' }), cf({ opcode: OP.CONT, rsv1: true, payload: 'b' }));
    await expectFail(c, { code: 1002 });
  });

  it('a valid message before the bad frame is still echoed, then close 1002', async () => {
    const c = await connectRaw(s.port);
    c.write(Buffer.concat([cf({ opcode: OP.TEXT, payload: 'ok' }), cf({ opcode: OP.TEXT, rsv2: true, payload: 'bad' })]));
    await expectMessage(c, OP.TEXT, utf8('ok'));
    await expectFail(c, { code: 1002 });
  });
});

describe(`client reserved bits [${impl}]`, () => {
  let srv: RawServer;
  beforeAll(async () => {
    srv = await startRawServer();
  });
  afterAll(() => srv.close());

  it.each(cases)('%s -> masked close 1002, error, close event 1006', async (_n, spec) => {
    const o = await openClient(srv);
    o.conn.write(sf(spec as FrameSpec));
    await expectClientFail(o, 1002);
  });

  it('RSV1 on a continuation frame -> 1002', async () => {
    const o = await openClient(srv);
    o.conn.write(sf({ opcode: OP.TEXT, fin: false, payload: 'a' }), sf({ opcode: OP.CONT, rsv1: true, payload: 'b' }));
    await expectClientFail(o, 1002);
  });
});
