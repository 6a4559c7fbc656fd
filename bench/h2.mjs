#!/usr/bin/env node
// WebSockets over HTTP/2 (RFC 8441) against WebSockets over TCP, same library,
// same server code, side by side in one run:
//
//   node bench/h2.mjs [--conns 10000] [--sessions 4] [--echo-conns 64] [--inflight 16] [--seconds 3] [--rounds 2]
//                     [--bare] [--idle-only]
//
// idle: server RSS / heap growth per open WebSocket (after GC), --conns sockets
//       over --sessions HTTP/2 connections vs --conns TCP connections.
// echo: 32-byte text echo, --echo-conns sockets x --inflight messages in flight,
//       over TCP (one connection each) vs over HTTP/2 (all on one connection).
// Cleartext both ways (h2c with prior knowledge vs ws://), so TLS is not measured.
// --bare adds the idle rows of bare Node (no WebSocket library on the server: a net
// server writing the 101 by hand, an http2 server answering 200 and holding the
// stream), so the difference shows what Node itself spends per socket.
// The server is a child process (node --expose-gc, this file with --serve); the
// load generator is this process. Bounded: every phase has a deadline.
import { fork } from 'node:child_process';
import http2 from 'node:http2';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const arg = (name, def) => { const i = args.indexOf(name); return i >= 0 ? Number(args[i + 1]) : def; };
const lib = await import('../dist/index.js');
const { WebSocket, WebSocketServer } = lib;

if (args.includes('--serve')) {
  // ---- the server ----
  const kind = args[args.indexOf('--serve') + 1];
  let wss, server;
  const held = new Set();
  if (kind === 'bare-h2') {
    server = http2.createServer({ settings: { maxConcurrentStreams: 100_000, enableConnectProtocol: true } });
    server.on('stream', (stream) => { held.add(stream); stream.on('error', () => {}); stream.respond({ ':status': 200 }); });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
  } else if (kind === 'bare-tcp') {
    const net = await import('node:net');
    const { createHash } = await import('node:crypto');
    server = net.createServer((socket) => {
      held.add(socket);
      socket.on('error', () => {});
      socket.once('data', (d) => {
        const key = /sec-websocket-key: *([^\r]+)/i.exec(d.toString('latin1'))[1];
        const accept = createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
        socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
  } else if (kind === 'h2') {
    server = http2.createServer({ settings: { maxConcurrentStreams: 100_000 } });
    wss = new WebSocketServer({ server, perMessageDeflate: false });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
  } else {
    wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
    await once(wss, 'listening');
  }
  wss?.on('connection', (ws) => {
    ws.on('error', () => {});
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  });
  process.on('message', (m) => {
    if (m.cmd === 'mem') {
      for (let i = 0; i < 3; i++) globalThis.gc();
      const u = process.memoryUsage();
      process.send({ id: m.id, rss: u.rss, heapUsed: u.heapUsed, clients: wss ? wss.clients.size : held.size, cpu: process.cpuUsage() });
    } else if (m.cmd === 'exit') process.exit(0);
  });
  process.on('disconnect', () => process.exit(0));
  setTimeout(() => process.exit(1), 10 * 60_000).unref();
  process.send({ port: (server ?? wss).address().port });
} else {
  await main();
}

async function startServer(kind) {
  const child = fork(fileURLToPath(import.meta.url), ['--serve', kind], { execArgv: ['--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const [{ port }] = await once(child, 'message');
  let n = 0;
  const ask = (cmd) => new Promise((resolve) => {
    const id = ++n;
    const on = (m) => { if (m.id === id) { child.off('message', on); resolve(m); } };
    child.on('message', on);
    child.send({ cmd, id });
  });
  return { port, mem: () => ask('mem'), stop: () => { child.send({ cmd: 'exit' }); child.disconnect(); } };
}

function within(ms, what, p) {
  let t;
  return Promise.race([p, new Promise((_, rej) => { t = setTimeout(() => rej(new Error(`${what}: no result in ${ms} ms`)), ms); })]).finally(() => clearTimeout(t));
}

async function openMany(kind, port, count, sessions) {
  const list = [];
  const h2 = [];
  const h2Kind = kind.endsWith('h2');
  if (h2Kind) for (let i = 0; i < sessions; i++) h2.push(http2.connect(`http://127.0.0.1:${port}`, { settings: { maxConcurrentStreams: 100_000 } }));
  const BATCH = 500;
  for (let i = 0; i < count; i += BATCH) {
    const batch = [];
    for (let j = i; j < Math.min(count, i + BATCH); j++) {
      const ws = h2Kind
        ? new WebSocket(`ws://127.0.0.1:${port}/`, { http2: h2[j % sessions], perMessageDeflate: false })
        : new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false });
      ws.on('error', () => {});
      list.push(ws);
      batch.push(new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('close', () => reject(new Error('closed before open'))); }));
    }
    await within(60_000, `open ${kind} batch`, Promise.all(batch));
  }
  return { list, close: () => { for (const ws of list) ws.terminate(); for (const s of h2) s.destroy(); } };
}

async function idle(kind, count, sessions) {
  const server = await startServer(kind);
  try {
    const before = await server.mem();
    const conns = await openMany(kind, server.port, count, sessions);
    await new Promise((r) => setTimeout(r, 500));
    const after = await server.mem();
    conns.close();
    return { kind, count, perSocket: (after.rss - before.rss) / count, heapPerSocket: (after.heapUsed - before.heapUsed) / count, clients: after.clients };
  } finally {
    server.stop();
  }
}

async function echo(kind, conns, inflight, seconds) {
  const server = await startServer(kind);
  try {
    const opened = await openMany(kind, server.port, conns, 1);
    const payload = 'x'.repeat(32);
    let count = 0;
    let running = true;
    for (const ws of opened.list) {
      ws.on('message', () => { count++; if (running) ws.send(payload); });
    }
    for (let k = 0; k < 500; k++) await new Promise((r) => setImmediate(r)); // settle
    for (const ws of opened.list) for (let i = 0; i < inflight; i++) ws.send(payload);
    await new Promise((r) => setTimeout(r, 500)); // warm-up
    const c0 = count, cpu0 = (await server.mem()).cpu, t0 = process.hrtime.bigint();
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const c1 = count, cpu1 = (await server.mem()).cpu, t1 = process.hrtime.bigint();
    running = false;
    opened.close();
    const secs = Number(t1 - t0) / 1e9;
    const serverCpu = (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / 1e6 / secs;
    return { kind, msgsPerSec: (c1 - c0) / secs, serverCpu };
  } finally {
    server.stop();
  }
}

async function main() {
  const count = arg('--conns', 10_000);
  const sessions = arg('--sessions', 4);
  const echoConns = arg('--echo-conns', 64);
  const inflight = arg('--inflight', 16);
  const seconds = arg('--seconds', 3);
  const rounds = arg('--rounds', 2);
  console.log(`idle: ${count} WebSockets, TCP (one connection each) vs HTTP/2 (${sessions} connections); cleartext; server RSS/heap growth after GC`);
  for (let r = 0; r < rounds; r++) {
    for (const kind of args.includes('--bare') ? ['tcp', 'h2', 'bare-tcp', 'bare-h2'] : ['tcp', 'h2']) {
      const res = await within(180_000, `idle ${kind}`, idle(kind, count, sessions));
      console.log(`  ${kind.padEnd(8)} round ${r + 1}: ${(res.perSocket / 1024).toFixed(2)} KiB RSS per socket, ${(res.heapPerSocket / 1024).toFixed(2)} KiB heap per socket (${res.clients} open)`);
    }
  }
  if (args.includes('--idle-only')) process.exit(0);
  console.log(`echo: 32 B text, ${echoConns} sockets x ${inflight} in flight, ${seconds} s; TCP vs HTTP/2 (all on one connection)`);
  for (let r = 0; r < rounds; r++) {
    const got = {};
    for (const kind of ['tcp', 'h2']) {
      got[kind] = await within(120_000, `echo ${kind}`, echo(kind, echoConns, inflight, seconds));
      const usPerMsg = (got[kind].serverCpu * 1e6) / got[kind].msgsPerSec;
      console.log(`  ${kind.padEnd(3)} round ${r + 1}: ${(got[kind].msgsPerSec / 1000).toFixed(1)}k msgs/s, server CPU ${(got[kind].serverCpu * 100).toFixed(0)}% = ${usPerMsg.toFixed(2)} µs per echoed message`);
    }
    console.log(`  h2/tcp round ${r + 1}: ${(got.h2.msgsPerSec / got.tcp.msgsPerSec).toFixed(2)}x`);
  }
  process.exit(0);
}
