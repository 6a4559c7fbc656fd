// The same guarantees through every door (issue 22): one test body per
// guarantee, run over a table of doors: the Node WebSocketServer, accept()
// from wasmsocket/web on node:net in this process, and the Deno and Bun echo
// endpoints (runtimes/deno, runtimes/bun: accept() on the runtime's own TCP
// listener, from the sources) in child processes.
//   - idleTimeout: a raw TCP peer that never answers after the handshake is
//     pinged, then gone within idleTimeout of its last byte;
//   - the memory budget: 200 peers streaming messages they never finish while
//     5 ws clients echo numbered messages: the bytes counted never exceed the
//     budget, the streamers are closed with 1009, the clients lose nothing.
import { describe, expect, it } from 'vitest';
import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import { Duplex } from 'node:stream';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { WebSocket as WsClient, WebSocketServer as WsServer } from 'ws';
import { WebSocketServer, type WebSocket } from '../src/index.ts';
import * as web from '../src/web/index.ts';
import { cleanupList, closeWss, echoMessages, portWhenListening } from './helpers/servers.ts';
import { streamers, wellBehaved } from './helpers/budget-load.ts';
import { T, until, withTimeout } from './helpers/wait.ts';

const cleanups = cleanupList({ bestEffort: true, ms: T });
const MiB = 1024 * 1024;
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = (name: string) => `${ROOT}node_modules/.bin/${name}`;

interface Limits { idleTimeout?: number; maxBufferedBytes?: number; maxPayload: number }
/** What a door's server counted since it started. */
interface DoorStats { maxSeen: number; budgetCloses: number; idleTimeouts: number }
interface Endpoint { port: number; stats(): Promise<DoorStats> }
interface Door {
  name: string;
  skip: string | null;
  start(limits: Limits): Promise<Endpoint>;
  /** Of the 200 streamers, how many at least see the 1009 close frame before their socket goes. */
  closeFramesSeen: number;
}

/** Samples a byte count every 5 ms; the most seen. */
function sampler(read: () => number): () => number {
  let max = 0;
  const t = setInterval(() => { max = Math.max(max, read()); }, 5);
  cleanups.push(() => clearInterval(t));
  return () => Math.max(max, read());
}

const nodeServer: Door = {
  name: 'Node WebSocketServer',
  skip: null,
  closeFramesSeen: 190,
  async start(limits) {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', ...limits });
    cleanups.push(() => closeWss(wss));
    wss.on('connection', (ws: WebSocket) => { ws.on('error', () => undefined); echoMessages(ws); });
    const port = await portWhenListening(wss);
    const maxSeen = sampler(() => wss.stats.bufferedBytes);
    return { port, stats: async () => ({ maxSeen: maxSeen(), budgetCloses: wss.stats.budgetCloses, idleTimeouts: wss.stats.idleTimeouts }) };
  },
};

const nodeAccept: Door = {
  name: 'accept() (wasmsocket/web) on node:net',
  skip: null,
  closeFramesSeen: 190,
  async start(limits) {
    // A budget of its own, so that connections of other tests do not count.
    const memoryBudget = new web.MemoryBudget(limits.maxBufferedBytes ?? 0);
    const options = { ...limits, memoryBudget };
    const timeoutsBefore = web.acceptHeartbeat(options)?.stats.idleTimeouts ?? 0;
    const server = net.createServer((sock) => {
      sock.setNoDelay(true);
      web.accept(Duplex.toWeb(sock) as web.BytePair, options).then(async (ws) => {
        const { readable, writable } = await ws.opened;
        await readable.pipeTo(writable);
      }).catch(() => undefined);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanups.push(() => new Promise((r) => server.close(r)));
    const maxSeen = sampler(() => memoryBudget.total);
    return {
      port: (server.address() as AddressInfo).port,
      stats: async () => ({
        maxSeen: maxSeen(), budgetCloses: memoryBudget.closes,
        idleTimeouts: (web.acceptHeartbeat(options)?.stats.idleTimeouts ?? 0) - timeoutsBefore,
      }),
    };
  },
};

/** The echo endpoint of runtimes/<runtime>/ in a child process, with the limits as flags. */
function runtimeDoor(runtime: 'deno' | 'bun'): Door {
  const cmd = (limits: Limits): string[] => {
    const flags = [String(limits.maxPayload)];
    if (limits.idleTimeout) flags.push(`--idle-timeout=${limits.idleTimeout}`);
    if (limits.maxBufferedBytes !== undefined) flags.push(`--max-buffered-bytes=${limits.maxBufferedBytes}`);
    // Deno through runtimes/deno/deno.json's import map, Bun through runtimes/tsconfig.json's paths: the sources.
    return runtime === 'deno'
      ? ['run', '--allow-net=127.0.0.1', '--allow-env', '--allow-sys', '--config', 'runtimes/deno/deno.json', 'runtimes/deno/echo-server.ts', ...flags]
      : ['runtimes/bun/echo-server.ts', ...flags];
  };
  return {
    name: `${runtime} accept() on ${runtime === 'deno' ? 'Deno.listen' : 'Bun.listen'}`,
    skip: existsSync(BIN(runtime)) ? null : `${BIN(runtime)} is absent`,
    // Bun: every one of the 199 close frames is written whole (counted in
    // BunChannel.write while investigating), but 5-23 of the peers' sockets
    // closed before they read it (EPIPE on their writes: the connection went
    // while they were still streaming). Not understood yet; see the report.
    closeFramesSeen: runtime === 'bun' ? 170 : 190,
    async start(limits) {
      const child = spawn(BIN(runtime), cmd(limits), { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] });
      cleanups.push(() => { child.stdin.end(); setTimeout(() => child.kill('SIGKILL'), 2000).unref(); });
      const waiting: Array<(s: DoorStats) => void> = [];
      let listening: (port: number) => void;
      const port = new Promise<number>((r) => { listening = r; });
      createInterface({ input: child.stdout }).on('line', (line) => {
        if (line.startsWith('LISTENING ')) listening(JSON.parse(line.slice(10)).port);
        if (line.startsWith('STATS ')) waiting.shift()?.(JSON.parse(line.slice(6)));
      });
      return {
        port: await withTimeout(port, 30_000, `${runtime} echo server to listen`),
        stats: () => withTimeout(new Promise<DoorStats>((r) => { waiting.push(r); child.stdin.write('stats\n'); }), T, `${runtime} stats`),
      };
    },
  };
}

const DOORS: Door[] = [nodeServer, nodeAccept, runtimeDoor('deno'), runtimeDoor('bun')];

/** A raw TCP peer: upgrades, then reads everything and answers nothing. Resolves with what it saw when the server closed it. */
async function silentPeer(port: number): Promise<{ lastByteSent: number; closedAt: () => Promise<number>; pings: () => number }> {
  const sock = net.connect(port, '127.0.0.1');
  cleanups.push(() => sock.destroy());
  await once(sock, 'connect');
  sock.write('GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
  const lastByteSent = Date.now();
  let pings = 0, upgraded = false;
  sock.on('data', (d: Buffer) => {
    if (!upgraded) { upgraded = d.includes('101 Switching Protocols'); d = d.subarray(d.indexOf('\r\n\r\n') + 4); }
    // Server frames here are pings (0x89) with empty payloads: two bytes each.
    for (let i = 0; i + 1 < d.length; i += 2 + (d[i + 1] & 0x7f)) if (d[i] === 0x89) pings++;
  });
  sock.on('error', () => undefined);
  // Terminated: a FIN or (Bun's terminate()) a reset.
  const closed = new Promise<number>((r) => sock.on('close', () => r(Date.now())));
  return { lastByteSent, closedAt: () => closed, pings: () => pings };
}



describe.each(DOORS)('$name', (door) => {
  it.skipIf(door.skip !== null)(`idleTimeout: a peer that never answers after the handshake is pinged, then gone within idleTimeout${door.skip ? ` (skipped: ${door.skip})` : ''}`, async () => {
    const IDLE = 1000;
    const ep = await door.start({ idleTimeout: IDLE, maxPayload: 100 * MiB });
    const peer = await silentPeer(ep.port);
    const closedAt = await withTimeout(peer.closedAt(), IDLE * 3, 'the server to drop the silent peer');
    const gone = closedAt - peer.lastByteSent;
    const st = await ep.stats();
    console.log(`[door-limits] ${door.name}: idleTimeout ${IDLE} ms, a silent peer pinged ${peer.pings()}x, gone ${gone} ms after its last byte`);
    expect(peer.pings()).toBeGreaterThanOrEqual(1);
    // 4/5 of idleTimeout at least; idleTimeout at most, plus timer slack on a shared machine (as test/heartbeat.test.ts).
    expect(gone).toBeGreaterThanOrEqual(IDLE * 0.8 - 50);
    expect(gone).toBeLessThanOrEqual(IDLE + 300);
    expect(st.idleTimeouts).toBe(1);
  }, 60_000);

  it.skipIf(door.skip !== null)('the memory budget: 200 peers streaming unfinished messages are closed with 1009, the count never exceeds the budget, well-behaved clients lose nothing', async () => {
    const BUDGET = 32 * MiB;
    const ep = await door.start({ maxBufferedBytes: BUDGET, maxPayload: 256 * MiB });
    // 200 peers x 32 MiB = 6.25 GiB if nothing stopped them.
    const hostile = streamers(ep.port, 200, 'fragments', 32 * MiB, cleanups);
    const good = wellBehaved(ep.port, 5, 200, cleanups);
    await until(() => hostile.state().connected === 200, 120_000, () => `200 hostile peers connected (${JSON.stringify(hostile.state())})`);
    const { lost, wrong } = await good;
    await until(() => hostile.state().closed >= 199 || hostile.state().sent >= 200 * 32 * MiB,
      180_000, () => `hostile peers closed (${JSON.stringify(hostile.state())})`);
    const st = await ep.stats();
    const hs = hostile.state();
    console.log(`[door-limits] ${door.name}: budget ${BUDGET / MiB} MiB, counted at most ${(st.maxSeen / MiB).toFixed(1)} MiB, ` +
      `hostile sent ${(hs.sent / MiB).toFixed(0)} MiB, ${st.budgetCloses} budget closes, peer-seen codes ${JSON.stringify(hs.codes)}`);
    expect(lost).toBe(0);
    expect(wrong).toBe(0);
    expect(st.budgetCloses).toBeGreaterThanOrEqual(199);
    expect(hs.codes['1009']).toBeGreaterThanOrEqual(door.closeFramesSeen); // the close frame reached (nearly) every peer
    expect(st.maxSeen).toBeLessThanOrEqual(BUDGET);
  }, 400_000);
});

describe('the WebSocketStream client of wasmsocket/web (in Node), as our Node client', () => {
  const connect = (u: URL) => Duplex.toWeb(net.connect(Number(u.port), u.hostname)) as web.BytePair;

  it('idleTimeout: a server that answers the upgrade and then nothing is pinged, then dropped within idleTimeout', async () => {
    const IDLE = 1000;
    let pings = 0;
    const server = net.createServer((sock) => {
      sock.once('data', (d) => {
        const key = /Sec-WebSocket-Key: (\S+)/i.exec(String(d))![1];
        void web.acceptValue(key).then((accept) => sock.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          `Sec-WebSocket-Accept: ${accept}\r\n\r\n`));
        sock.on('data', (f) => { if ((f[0] & 0x0f) === 0x9) pings++; }); // reads, answers nothing
      });
      sock.on('error', () => undefined);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanups.push(() => new Promise((r) => server.close(r)));
    const ws = new web.WebSocketStream(`ws://127.0.0.1:${(server.address() as AddressInfo).port}/`, { connect, idleTimeout: IDLE, perMessageDeflate: false });
    await withTimeout(ws.opened, T, 'opened');
    const opened = Date.now();
    const err = await withTimeout(ws.closed.then(() => null, (e: web.WebSocketError) => e), IDLE * 3, 'the client to drop the silent server');
    const gone = Date.now() - opened;
    console.log(`[door-limits] web WebSocketStream client: idleTimeout ${IDLE} ms, a silent server pinged ${pings}x, dropped ${gone} ms after the handshake`);
    expect(err?.closeCode).toBe(1006);
    expect(pings).toBeGreaterThanOrEqual(1);
    expect(gone).toBeLessThanOrEqual(IDLE + 300);
  });

  it('clients share a budget: a server streaming unfinished messages to 10 clients is cut at it (1009)', async () => {
    const MiB16 = 16 * MiB;
    const wss = new WsServer({ port: 0, host: '127.0.0.1' });
    cleanups.push(() => new Promise((r) => { for (const c of wss.clients) c.terminate(); wss.close(r); }));
    await once(wss, 'listening');
    const closeCodes: number[] = [];
    wss.on('connection', (s) => {
      s.on('close', (code) => closeCodes.push(code));
      // ws sends each as a non-final fragment: the message is never finished.
      const chunk = Buffer.alloc(256 * 1024, 2);
      let n = 0;
      const pump = (): void => { if (n++ < 16 && s.readyState === 1) s.send(chunk, { fin: false }, pump); };
      pump();
    });
    const budget = new web.MemoryBudget(MiB16);
    const url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/`;
    const clients = Array.from({ length: 10 }, () => new web.WebSocketStream(url, { connect, memoryBudget: budget, perMessageDeflate: false }));
    for (const c of clients) { cleanups.push(() => c.close()); c.closed.catch(() => undefined); }
    const maxSeen = sampler(() => budget.total);
    // 10 clients x 4 MiB unfinished = 40 MiB against a 16 MiB budget.
    await until(() => budget.closes >= 6, 20_000, () => `budget closes (${budget.closes}, total ${budget.total})`);
    await until(() => closeCodes.filter((c) => c === 1009).length >= 6, T, () => `the server to see 1009 (${closeCodes})`);
    expect(maxSeen()).toBeLessThanOrEqual(MiB16);
  });
});
