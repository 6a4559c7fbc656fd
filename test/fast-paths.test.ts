// The fast paths lean on Node internals and fall back silently where one is
// missing (a new Node release could cost 5-40% with nothing failing). Each one
// is shown here to be *used* on a real connection of the Node running the
// suite, by a counter that moves, so losing one fails CI on that version
// (.ci/run runs the suite on every supported major). The switched-off paths
// are covered in test/direct-reads.test.ts and test/direct-writes.test.ts.
//   direct reads   the socket's kBuffer/kBufferCb slots + handle.useUserBuffer (src/node/transport/net.ts readDirect)
//   direct writes  process.binding('stream_wrap').WriteWrap + handle.writeBuffer (net.ts writeDirect)
//   in-thread zlib the zlib handle's writeSync (src/node/deflate/zlib-sync.ts runSync)
import { afterAll, describe, expect, it } from 'vitest';
import { once } from 'node:events';
import type { AddressInfo, Socket } from 'node:net';
import process from 'node:process';
import WS from 'ws';
import { WebSocketServer, type WebSocket } from '../src/index.ts';
import { directReadStats, directWriteStats, readsDirect } from '../src/node/transport/net.ts';
import { syncZlibStats } from '../src/node/deflate/zlib-sync.ts';
import { resetZlibPeak, zlibStats } from '../src/node/deflate/permessage-deflate.ts';
import { cleanupList, closeWss, echoMessages } from './helpers/servers.ts';
import { T, withTimeout } from './helpers/wait.ts';

const cleanups = cleanupList();
const engaged: string[] = [];
// One line per Node in the test output: README's "Node versions" table is read from it.
afterAll(() => console.log(`fast paths on node ${process.versions.node}: ${engaged.join(', ') || 'none'}`));

/** An echo server on 127.0.0.1 and one ws client, both open, with the server's side of the connection. */
async function echoPair(perMessageDeflate: boolean): Promise<{ client: WS; server: WebSocket }> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate });
  cleanups.push(() => closeWss(wss));
  await withTimeout(once(wss, 'listening'), T, 'listening');
  const conn = withTimeout(once(wss, 'connection'), T, 'connection');
  const client = new WS(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, { perMessageDeflate });
  cleanups.push(() => client.terminate());
  const [server] = await conn as [WebSocket];
  echoMessages(server);
  await withTimeout(once(client, 'open'), T, 'client open');
  return { client, server };
}

/** Sends `n` messages of `size` bytes of compressible text one at a time and waits for each echo. */
async function echoRounds(client: WS, n: number, size: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const msg = `message ${i} `.padEnd(size, 'chat text ');
    const back = withTimeout(once(client, 'message'), T, `echo ${i}`);
    client.send(msg);
    const [data] = await back;
    expect(String(data)).toBe(msg);
  }
}

const socketOf = (ws: WebSocket) => (ws as unknown as { _socket: Socket })._socket;
const ROUNDS = 20;

describe(`fast paths engage on node ${process.versions.node}`, () => {
  it('direct reads: an accepted socket reads straight into the decoder (kBuffer/kBufferCb, useUserBuffer)', async () => {
    const { client, server } = await echoPair(false);
    expect(readsDirect(socketOf(server)), 'readDirect did not take the socket: kBuffer/kBufferCb/kBufferGen or useUserBuffer missing?').toBe(true);
    const before = directReadStats.reads;
    await echoRounds(client, ROUNDS, 100);
    // Each message waited for its echo before the next was sent: one read each at least.
    expect(directReadStats.reads - before).toBeGreaterThanOrEqual(ROUNDS);
    engaged.push('direct reads');
  });

  it("direct writes: frames go to the TCP handle through stream_wrap's WriteWrap", async () => {
    const { client } = await echoPair(false);
    const before = directWriteStats.writes;
    await echoRounds(client, ROUNDS, 100);
    // Every echo was written by the server with nothing queued before it: each takes the direct path.
    expect(directWriteStats.writes - before, "writeDirect fell back to socket.write: process.binding('stream_wrap').WriteWrap missing?")
      .toBeGreaterThanOrEqual(ROUNDS);
    engaged.push('direct writes');
  });

  it("in-thread deflate: messages are inflated and compressed on the zlib handle's writeSync, not on the thread pool", async () => {
    const { client, server } = await echoPair(true);
    expect(server.extensions).toContain('permessage-deflate');
    const before = syncZlibStats.runs;
    resetZlibPeak();
    // 2 KiB: above the default threshold (1024), so the server compresses each echo.
    await echoRounds(client, ROUNDS, 2048);
    // One inflate and one compress per message, none of them a thread-pool job.
    expect(syncZlibStats.runs - before, 'runSync was not used: the zlib handle has no writeSync or _writeState?').toBeGreaterThanOrEqual(2 * ROUNDS);
    expect(zlibStats().peak).toBe(0);
    engaged.push('in-thread zlib');
  });
});
