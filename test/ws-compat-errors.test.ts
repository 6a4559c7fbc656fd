// ws 8 drop-in (issue 11): protocol errors carry ws's message, code and close
// code, 'error' is emitted once per connection (also when both sides fail at
// once), messages before a bad frame are still delivered, and sends cut short by
// the socket going away call back once, in order, with ws's wording.
// Real sockets on 127.0.0.1.
import { describe, expect, it } from 'vitest';
import { once } from 'node:events';
import { deflateRawSync } from 'node:zlib';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, WebSocket } from '../src/index.ts';
import { T, withTimeout } from './helpers/wait.ts';

/** The next `name` event's arguments (unlike events.once, an 'error' does not reject it). */
function next(em: { once(e: string, f: (...a: any[]) => void): unknown }, name: string): Promise<any[]> {
  return withTimeout(new Promise((r) => em.once(name, (...a: any[]) => r(a))), T, `'${name}'`);
}

/** An open client/server pair on loopback; both ends are terminated and the server closed after `fn`. */
async function pair<R>(opts: { perMessageDeflate?: boolean }, fn: (client: WebSocket, server: WebSocket) => Promise<R>): Promise<R> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: opts.perMessageDeflate ?? false });
  await once(wss, 'listening');
  const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, { perMessageDeflate: opts.perMessageDeflate ?? false });
  const [[server]] = await Promise.all([next(wss, 'connection'), next(client, 'open')]);
  try {
    return await fn(client, server as WebSocket);
  } finally {
    client.terminate();
    (server as WebSocket).terminate();
    await new Promise<void>((r) => wss.close(() => r()));
  }
}

// Unmasked server-to-client frames, written raw on the server's socket.
const frame = (b0: number, payload: Buffer = Buffer.alloc(0)): Buffer => Buffer.concat([Buffer.from([b0, payload.length]), payload]);

describe('protocol errors as ws reports them', () => {
  const cases: Array<[string, Buffer, string, string]> = [
    ['reserved opcode', frame(0x85), 'Invalid WebSocket frame: invalid opcode 5', 'WS_ERR_INVALID_OPCODE'],
    ['reserved control opcode', frame(0x8b), 'Invalid WebSocket frame: invalid opcode 11', 'WS_ERR_INVALID_OPCODE'],
    ['continuation with nothing to continue', frame(0x80, Buffer.from('a')), 'Invalid WebSocket frame: invalid opcode 0', 'WS_ERR_INVALID_OPCODE'],
    ['new message inside a fragmented one', Buffer.concat([frame(0x01, Buffer.from('a')), frame(0x82, Buffer.from('b'))]),
      'Invalid WebSocket frame: invalid opcode 2', 'WS_ERR_INVALID_OPCODE'],
    ['fragmented ping', frame(0x09), 'Invalid WebSocket frame: FIN must be set', 'WS_ERR_EXPECTED_FIN'],
    ['RSV2 set', frame(0xa1, Buffer.from('a')), 'Invalid WebSocket frame: RSV2 and RSV3 must be clear', 'WS_ERR_UNEXPECTED_RSV_2_3'],
    ['RSV1 without an extension', frame(0xc1, Buffer.from('a')), 'Invalid WebSocket frame: RSV1 must be clear', 'WS_ERR_UNEXPECTED_RSV_1'],
    ['masked server frame', Buffer.from([0x81, 0x81, 0, 0, 0, 0, 0x61]), 'Invalid WebSocket frame: MASK must be clear', 'WS_ERR_UNEXPECTED_MASK'],
    ['ping longer than 125 bytes', Buffer.concat([Buffer.from([0x89, 126, 0, 126]), Buffer.alloc(126)]),
      'Invalid WebSocket frame: invalid payload length 126', 'WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH'],
    ['invalid UTF-8 text', frame(0x81, Buffer.from([0xff])), 'Invalid WebSocket frame: invalid UTF-8 sequence', 'WS_ERR_INVALID_UTF8'],
    ['reserved close code', frame(0x88, Buffer.from([0x03, 0xec])), 'Invalid WebSocket frame: invalid status code 1004', 'WS_ERR_INVALID_CLOSE_CODE'],
  ];
  for (const [name, bytes, message, code] of cases) {
    it(`${name}: ${message} (${code}), once, then close`, async () => {
      await pair({}, async (client, server) => {
        const errors: Error[] = [];
        client.on('error', (e) => errors.push(e));
        const serverClosed = next(server, 'close');
        const clientClosed = next(client, 'close');
        // The bad frame twice: the second must not produce a second 'error'.
        server._socket!.write(Buffer.concat([bytes, bytes]));
        const [clientCode] = await clientClosed;
        const [serverCode] = await serverClosed;
        expect(errors).toHaveLength(1);
        expect(errors[0]).toBeInstanceOf(RangeError);
        expect(errors[0].message).toBe(message);
        expect((errors[0] as Error & { code: string }).code).toBe(code);
        const closeCode = code === 'WS_ERR_INVALID_UTF8' ? 1007 : 1002;
        expect(clientCode).toBe(1006); // we failed the connection: no close frame came back
        expect(serverCode).toBe(closeCode); // the peer heard why
      });
    });
  }

  it('both sides failing at once: each emits one error and closes with 1006', async () => {
    await pair({}, async (client, server) => {
      const errs = { client: [] as Error[], server: [] as Error[] };
      client.on('error', (e) => errs.client.push(e));
      server.on('error', (e) => errs.server.push(e));
      const closed = Promise.all([next(client, 'close'), next(server, 'close')]);
      server._socket!.write(Buffer.from([0x85, 0x00]));
      client._socket!.write(Buffer.from([0x85, 0x80, 0, 0, 0, 0]));
      const [[c], [s]] = await closed;
      expect([c, s]).toEqual([1006, 1006]);
      expect(errs.client.map((e) => e.message)).toEqual(['Invalid WebSocket frame: invalid opcode 5']);
      expect(errs.server.map((e) => e.message)).toEqual(['Invalid WebSocket frame: invalid opcode 5']);
    });
  });

  it('messages before a bad frame are delivered first (compressed ones too), then the error', async () => {
    await pair({ perMessageDeflate: true }, async (client, server) => {
      const events: string[] = [];
      client.on('message', (m) => events.push(`message ${m}`));
      client.on('error', (e) => events.push(`error ${e.message}`));
      const closed = next(client, 'close');
      const deflated = (text: string): Buffer => {
        const d = deflateRawSync(text, { finishFlush: 2 /* Z_SYNC_FLUSH */ });
        return frame(0xc1, d.subarray(0, d.length - 4));
      };
      server._socket!.write(Buffer.concat([deflated('one'), frame(0x81, Buffer.from('two')), deflated('three'), frame(0x85)]));
      await closed;
      expect(events).toEqual(['message one', 'message two', 'message three', 'error Invalid WebSocket frame: invalid opcode 5']);
    });
  });

  it('corrupt compressed data: zlib\'s code and errno, close 1007', async () => {
    await pair({ perMessageDeflate: true }, async (client, server) => {
      const serverClosed = next(server, 'close');
      server._socket!.write(frame(0xc2, Buffer.from([0x22, 0xfa, 0xec, 0x78])));
      const [err] = await next(client, 'error');
      expect(err.code).toBe('Z_DATA_ERROR');
      expect(err.errno).toBe(-3);
      const [code] = await serverClosed;
      expect(code).toBe(1007);
    });
  });

  it('without an error listener a bad frame closes the connection and nothing throws (our one difference)', async () => {
    await pair({}, async (client, server) => {
      const closed = next(client, 'close');
      const serverClosed = next(server, 'close');
      server._socket!.write(frame(0x85));
      expect((await closed)[0]).toBe(1006);
      expect((await serverClosed)[0]).toBe(1002);
    });
  });
});

describe('sends cut short by the socket going away', () => {
  it('a Blob being read: its callback and those queued behind it fail once, in order, while CLOSING', async () => {
    await pair({}, async (client) => {
      const calls: string[] = [];
      const closed = next(client, 'close');
      client.send(new Blob(['blob']), (err) => calls.push(`1 ${client.readyState} ${err?.message}`));
      client.send('queued');
      client.send('queued too', (err) => calls.push(`2 ${client.readyState} ${err?.message}`));
      client.terminate();
      await closed;
      await new Promise((r) => setImmediate(r));
      expect(calls).toEqual([
        '1 2 The socket was closed while the blob was being read',
        '2 2 The socket was closed while the blob was being read',
      ]);
    });
  });

  // On a permessage-deflate pair, `sends` queues work on the client, then terminate() comes in the
  // same tick: what each callback heard (`n readyState message`), and how many messages the server got.
  async function terminatedWhileCompressing(sends: (client: WebSocket, heard: (n: number) => (err?: Error | null) => void) => void) {
    return pair({ perMessageDeflate: true }, async (client, server) => {
      const calls: string[] = [];
      let received = 0;
      server.on('message', () => { received++; });
      const closed = next(client, 'close');
      sends(client, (n) => (err) => calls.push(`${n} ${client.readyState} ${err?.message}`));
      client.terminate();
      await closed;
      await new Promise((r) => setTimeout(r, 50));
      return { calls, received };
    });
  }

  it('a message being compressed off-thread: callbacks fail once, in order, while CLOSING; nothing is sent after', async () => {
    const { calls, received } = await terminatedWhileCompressing((client, heard) => {
      // Past SYNC_COMPRESS_MAX (1 MiB) deflate runs on the thread pool: there is a "while compressing".
      client.send(Buffer.alloc(2 * 1024 * 1024, 7), heard(1));
      client.send('behind it', heard(2));
    });
    expect(calls).toEqual([
      '1 2 The socket was closed while data was being compressed',
      '2 2 The socket was closed while data was being compressed',
    ]);
    expect(received).toBe(0);
  });

  it('a message compressed in this thread: terminate() in the same tick fails it and those behind it, in order, while CLOSING', async () => {
    const { calls, received } = await terminatedWhileCompressing((client, heard) => {
      // Under 1 MiB: compressed synchronously, but at the tick's flush, not inside send().
      client.send('hi', heard(1));
      client.send('there', { compress: false }, heard(2));
      client.ping('p', undefined, heard(3));
    });
    expect(calls).toEqual([
      '1 2 The socket was closed while data was being compressed',
      '2 2 The socket was closed while data was being compressed',
      '3 2 The socket was closed while data was being compressed',
    ]);
    expect(received).toBe(0);
  });

  it('an unreadable Blob fails the send and the connection once; after close it only reaches the callback', async () => {
    // A Blob whose backing store fails to read: a file-backed Blob whose file changed size.
    const { openAsBlob } = await import('node:fs');
    const { writeFileSync, unlinkSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const file = join(tmpdir(), `wasmsocket-blob-${process.pid}-${Date.now()}.bin`);
    writeFileSync(file, Buffer.alloc(64, 1));
    try {
      const blob = await openAsBlob(file);
      writeFileSync(file, Buffer.alloc(32, 1));
      await pair({}, async (client) => {
        const errors: Error[] = [];
        client.on('error', (e) => errors.push(e));
        const calls: string[] = [];
        const closed = next(client, 'close');
        client.send(blob, (err) => calls.push(`${(err as Error).name}: ${err?.message}`));
        client.send('behind', (err) => calls.push(`behind: ${err?.message}`));
        await closed;
        expect(calls).toEqual(['NotReadableError: The blob could not be read', 'behind: The blob could not be read']);
        expect(errors.map((e) => e.name)).toEqual(['NotReadableError']);
      });
    } finally {
      unlinkSync(file);
    }
  });
});

describe('messages to compress wait for the tick\'s flush (as ws\'s asynchronous deflate does)', () => {
  it('bufferedAmount counts them by their input bytes right after send(), and is 0 once they are written', async () => {
    await pair({ perMessageDeflate: true }, async (client) => {
      client.send('foo');
      expect(client.bufferedAmount).toBe(3);
      const written = new Promise<number>((resolve, reject) => client.send('bar', (err) => err ? reject(err) : resolve(client.bufferedAmount)));
      expect(client.bufferedAmount).toBe(6);
      expect(await written).toBe(0);
    });
  });

  it('compressed, uncompressed, ping, binary and close sent in one tick reach a ws peer in that order', async () => {
    const { WebSocketServer: WsServer } = await import('ws');
    const wss = new WsServer({ port: 0, host: '127.0.0.1', perMessageDeflate: true });
    await once(wss, 'listening');
    try {
      const log: string[] = [];
      const done = new Promise<void>((resolve) => wss.on('connection', (peer) => {
        peer.on('message', (data, isBinary) => log.push(`${isBinary ? 'bin' : 'text'} ${String(data).slice(0, 12)} ${String(data).length}`));
        peer.on('ping', (data) => log.push(`ping ${data}`));
        peer.on('close', (code) => { log.push(`close ${code}`); resolve(); });
      }));
      const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, { perMessageDeflate: true });
      await next(client, 'open');
      expect(client.extensions).toContain('permessage-deflate');
      client.send('a'.repeat(3000));
      client.send('plain', { compress: false });
      client.ping('p1');
      client.send(Buffer.alloc(100, 98));
      client.send('x'.repeat(20), { fin: false });
      client.ping('p2');
      client.send('y'.repeat(20));
      client.close(4000);
      await withTimeout(done, T, 'peer close');
      expect(log).toEqual([
        'text aaaaaaaaaaaa 3000', 'text plain 5', 'ping p1', 'bin bbbbbbbbbbbb 100', 'ping p2',
        'text xxxxxxxxxxxx 40', 'close 4000',
      ]);
    } finally {
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((r) => wss.close(() => r()));
    }
  });

  it('30000 compressed sends in one tick: all arrive in order (the queue runs in a loop, not recursion)', async () => {
    await pair({ perMessageDeflate: true }, async (client, server) => {
      const n = 30000;
      let expected = 0;
      let outOfOrder = 0;
      const all = new Promise<void>((resolve) => server.on('message', (data) => {
        if (String(data) !== `message ${expected}`) outOfOrder++;
        if (++expected === n) resolve();
      }));
      for (let i = 0; i < n; i++) client.send(`message ${i}`);
      await withTimeout(all, T, 'all messages');
      expect(outOfOrder).toBe(0);
    });
  });
});
