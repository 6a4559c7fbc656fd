// "No crash on garbage": hostile connections (seeded random bytes, truncated
// handshakes, half-open sockets, malformed frames) thrown at the server while a
// well-behaved client (always the `ws` package) echoes 1,000 numbered messages,
// which must all come back, in order.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket as RefWebSocket } from 'ws';
import {
  OP,
  RawConn,
  buildFrame,
  cf,
  cleanup,
  connectRaw,
  expectMessage,
  handshakeRequest,
  impl,
  overH2,
  WebSocket,
  type ClientOptions,
  prng,
  randomBuf,
  sleep,
  startEchoServer,
  utf8,
  type EchoServer,
} from './helpers.ts';

afterEach(cleanup);

const HOSTILE = 200;
const CONCURRENCY = 16;
const MESSAGES = 1000;

async function hostile(port: number, rand: () => number): Promise<void> {
  const kind = Math.floor(rand() * 10);
  const pause = () => sleep(5 + Math.floor(rand() * 40));
  let c: RawConn | undefined;
  try {
    if (kind <= 3) {
      c = await RawConn.connect(port);
      if (kind === 0) {
        c.write(randomBuf(rand, 1 + Math.floor(rand() * 4096))); // random bytes, then half-close
        c.end();
      } else if (kind === 1) {
        c.write(randomBuf(rand, 1 + Math.floor(rand() * 512))); // random bytes, abrupt close
        await pause();
      } else {
        const req = handshakeRequest(port);
        c.write(req.slice(0, Math.floor(rand() * (req.length - 4)))); // truncated handshake
        if (kind === 2) c.end(); // ...then half-open: FIN from our side
        await pause(); // kind 3: idle, then vanish
      }
      await pause();
    } else if (kind === 4) {
      c = await RawConn.connect(port);
      c.end(); // connect and half-close immediately, no bytes
      await pause();
    } else if (kind === 5) {
      c = await RawConn.connect(port);
      (c.sock as import('node:net').Socket).resetAndDestroy(); // connect then RST
    } else {
      c = await connectRaw(port);
      if (kind === 6) {
        c.write(randomBuf(rand, 1 + Math.floor(rand() * 2048))); // garbage frames
        c.end();
      } else if (kind === 7) {
        const f = cf({ opcode: OP.BINARY, payload: randomBuf(rand, 200) });
        c.write(f.subarray(0, 1 + Math.floor(rand() * 10))); // truncated frame header, then half-close
        c.end();
      } else if (kind === 8) {
        c.write(cf({ opcode: OP.BINARY, declaredLength: 1 << 20, headerOnly: true }), randomBuf(rand, 10)); // promises 1 MiB, delivers 10 bytes
        await pause();
      } else {
        // a burst of random frames with random flags/opcodes/lengths/masking
        const frames: Buffer[] = [];
        for (let i = 0; i < 5; i++) {
          frames.push(
            buildFrame({
              opcode: Math.floor(rand() * 16),
              fin: rand() < 0.7,
              rsv1: rand() < 0.1,
              rsv2: rand() < 0.05,
              rsv3: rand() < 0.05,
              mask: rand() < 0.9,
              payload: randomBuf(rand, Math.floor(rand() * 300)),
            }),
          );
        }
        c.write(Buffer.concat(frames));
      }
      await pause();
    }
  } catch {
    // the server may legitimately drop hostile connections at any point
  } finally {
    c?.destroy();
  }
}

describe(`no crash on garbage [${impl}]`, () => {
  let s: EchoServer;
  beforeAll(async () => {
    s = await startEchoServer();
  });
  afterAll(() => s.close());

  it(`${HOSTILE} hostile connections while a ws client echoes ${MESSAGES} numbered messages in order`, async () => {
    const rand = prng(0xbad5eed);
    let hostileDone = 0;

    const hostileRun = (async () => {
      let next = 0;
      const worker = async () => {
        while (next < HOSTILE) {
          next++;
          await hostile(s.port, rand);
          hostileDone++;
        }
      };
      await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    })();

    // Over HTTP/2 the well-behaved client is ours (ws has no HTTP/2).
    const client = overH2 ? new WebSocket(`ws://127.0.0.1:${s.port}/`, { http2: true } as ClientOptions) as unknown as RefWebSocket
      : new RefWebSocket(`ws://127.0.0.1:${s.port}/`);
    const received: string[] = [];
    const clientErrors: Error[] = [];
    client.on('error', (e) => clientErrors.push(e));
    client.on('message', (d) => received.push(d.toString()));
    await new Promise<void>((resolve, reject) => {
      client.once('open', () => resolve());
      client.once('close', () => reject(new Error('reference client closed before open')));
    });

    const deadline = Date.now() + 8000;
    const BATCH = 10;
    for (let b = 0; b < MESSAGES / BATCH; b++) {
      // pace the client so it keeps talking for the whole hostile run
      while (hostileDone < Math.min(HOSTILE, Math.floor((b * BATCH * HOSTILE) / MESSAGES)) && Date.now() < deadline) await sleep(2);
      for (let i = b * BATCH; i < (b + 1) * BATCH; i++) client.send(`#${i}`);
      while (received.length < (b + 1) * BATCH && client.readyState === RefWebSocket.OPEN && Date.now() < deadline) await sleep(1);
    }
    await hostileRun;

    expect(clientErrors).toEqual([]);
    expect(client.readyState).toBe(RefWebSocket.OPEN);
    expect(received.length).toBe(MESSAGES);
    expect(received).toEqual(Array.from({ length: MESSAGES }, (_, i) => `#${i}`));

    // a clean close still works
    const closed = new Promise<number>((r) => client.once('close', (code) => r(code)));
    client.close(1000, 'done');
    expect(await closed).toBe(1000);

    // and the server still accepts and serves new connections
    const c = await connectRaw(s.port);
    c.write(cf({ opcode: OP.TEXT, payload: 'after the storm' }));
    await expectMessage(c, OP.TEXT, utf8('after the storm'));
  }, 15_000);
});
