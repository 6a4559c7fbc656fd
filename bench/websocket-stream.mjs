#!/usr/bin/env node
// node bench/websocket-stream.mjs [--mib N] [--size BYTES] [--rounds N]
//
// What the WebSocketStream layer costs over the event API, in one process over
// 127.0.0.1 (dist/ must be built): N MiB of binary messages client -> server,
// the server counting bytes, for
//   ws        ws client -> ws server ('message' events)
//   events    our WebSocket client -> our server ('message' events)
//   streams   our WebSocketStream client (awaiting each write) -> our server
//             reading WebSocketStream.from(ws)'s readable
//   web       wasmsocket/web WebSocketStream client -> accept() on node:net
// interleaved per round; prints the median MB/s of each and its ratio to ws.
// Each run is bounded (60 s).
import net from 'node:net';
import { Duplex } from 'node:stream';
import { WebSocketServer as WsServer, WebSocket as WsClient } from 'ws';
import { WebSocketServer, WebSocket, WebSocketStream } from '../dist/index.js';
import * as web from '../dist/web.js';

const arg = (name, def) => Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? def);
const MIB = arg('mib', 64);
const SIZE = arg('size', 16 * 1024);
const ROUNDS = arg('rounds', 3);
const TOTAL = MIB * 1024 * 1024;
const COUNT = Math.floor(TOTAL / SIZE);
const payload = new Uint8Array(SIZE).fill(7);

function bounded(p) {
  let t;
  return Promise.race([p, new Promise((_, j) => { t = setTimeout(() => j(new Error('run took over 60 s')), 60_000); })]).finally(() => clearTimeout(t));
}

/** Resolves when `count` messages totalling COUNT * SIZE bytes were received. */
function counter() {
  let bytes = 0;
  let done;
  const finished = new Promise((r) => { done = r; });
  return { add(n) { bytes += n; if (bytes >= COUNT * SIZE) done(); }, finished };
}

async function eventsRun(Server, Client) {
  const c = counter();
  const wss = new Server({ port: 0, host: '127.0.0.1' });
  await new Promise((r) => wss.on('listening', r));
  wss.on('connection', (ws) => ws.on('message', (d) => c.add(d.length)));
  const ws = new Client(`ws://127.0.0.1:${wss.address().port}`);
  await new Promise((r) => ws.on('open', r));
  const t0 = performance.now();
  // Bounded in-flight: wait for the socket to drain above 1 MiB buffered, as a careful event-API sender does.
  for (let i = 0; i < COUNT; i++) {
    ws.send(payload);
    if (ws.bufferedAmount > 1 << 20) await new Promise((r) => setTimeout(r, 0));
  }
  await bounded(c.finished);
  const ms = performance.now() - t0;
  ws.terminate();
  await new Promise((r) => wss.close(r));
  return ms;
}

async function streamsRun() {
  const c = counter();
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise((r) => wss.on('listening', r));
  wss.on('connection', (ws) => {
    WebSocketStream.from(ws).opened.then(async ({ readable }) => { for await (const m of readable) c.add(m.length); }).catch(() => {});
  });
  const s = new WebSocketStream(`ws://127.0.0.1:${wss.address().port}`);
  const w = (await s.opened).writable.getWriter();
  const t0 = performance.now();
  for (let i = 0; i < COUNT; i++) await w.write(payload);
  await bounded(c.finished);
  const ms = performance.now() - t0;
  for (const ws of wss.clients) ws.terminate();
  await new Promise((r) => wss.close(r));
  return ms;
}

async function webRun() {
  const c = counter();
  const server = net.createServer((sock) => {
    web.accept(Duplex.toWeb(sock)).then(async (s) => { for await (const m of (await s.opened).readable) c.add(m.length); }).catch(() => {});
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const port = server.address().port;
  const s = new web.WebSocketStream(`ws://127.0.0.1:${port}`, { connect: (u) => Duplex.toWeb(net.connect(Number(u.port), u.hostname)), perMessageDeflate: false });
  const w = (await s.opened).writable.getWriter();
  const t0 = performance.now();
  for (let i = 0; i < COUNT; i++) await w.write(payload);
  await bounded(c.finished);
  const ms = performance.now() - t0;
  s.close();
  server.closeAllConnections?.();
  await new Promise((r) => server.close(r));
  return ms;
}

const runs = { ws: () => eventsRun(WsServer, WsClient), events: () => eventsRun(WebSocketServer, WebSocket), streams: streamsRun, web: webRun };
const times = Object.fromEntries(Object.keys(runs).map((k) => [k, []]));
for (let r = 0; r < ROUNDS; r++) for (const [k, fn] of Object.entries(runs)) times[k].push(await fn());
const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const mbps = (ms) => (COUNT * SIZE) / 1e6 / (ms / 1000);
const wsRate = mbps(median(times.ws));
console.log(`${MIB} MiB in ${SIZE}-byte binary messages, client -> server, ${ROUNDS} rounds interleaved, median:`);
for (const k of Object.keys(runs)) console.log(`  ${k.padEnd(8)} ${mbps(median(times[k])).toFixed(0).padStart(6)} MB/s   ${(mbps(median(times[k])) / wsRate).toFixed(2)}x ws`);
process.exit(0);
