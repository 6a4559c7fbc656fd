// RFC 6455 §5.2: opcodes 0x3-0x7 and 0xB-0xF are reserved; receiving one
// (no extension negotiated) MUST _Fail the WebSocket Connection_ (close 1002).
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
  type RawServer,
} from './helpers.ts';

afterEach(cleanup);

const reserved = [3, 4, 5, 6, 7, 11, 12, 13, 14, 15];

describe(`server reserved opcodes [${impl}]`, () => {
  let s: EchoServer;
  beforeAll(async () => {
    s = await startEchoServer();
  });
  afterAll(() => s.close());

  it.each(reserved)('opcode %i -> close 1002', async (op) => {
    const c = await connectRaw(s.port);
    c.write(cf({ opcode: op, payload: 'reserved' }));
    await expectFail(c, { code: 1002 });
  });

  it('an empty reserved-opcode frame after a valid message -> echo, then close 1002', async () => {
    const c = await connectRaw(s.port);
    c.write(Buffer.concat([cf({ opcode: OP.TEXT, payload: 'ok' }), cf({ opcode: 5 })]));
    await expectMessage(c, OP.TEXT, utf8('ok'));
    await expectFail(c, { code: 1002 });
  });

  it('a reserved control opcode (0xB) inside a fragmented message -> close 1002', async () => {
    const c = await connectRaw(s.port);
    c.write(cf({ opcode: OP.TEXT, fin: false, payload: 'a' }), cf({ opcode: 0xb }), cf({ opcode: OP.CONT, payload: 'b' }));
    await expectFail(c, { code: 1002 });
  });
});

describe(`client reserved opcodes [${impl}]`, () => {
  let srv: RawServer;
  beforeAll(async () => {
    srv = await startRawServer();
  });
  afterAll(() => srv.close());

  it.each(reserved)('opcode %i -> masked close 1002, error, close event 1006', async (op) => {
    const o = await openClient(srv);
    o.conn.write(sf({ opcode: op, payload: 'reserved' }));
    await expectClientFail(o, 1002);
  });
});
