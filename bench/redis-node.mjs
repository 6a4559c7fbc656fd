// One server process of the multi-process Redis scenario (bench/redis-fanout.mjs).
//
//   node bench/redis-node.mjs <wasmsocket|socketio> <redis url>
//
// Every client connection joins the topic/room "bench". On {op:'publish', count, text}
// from the parent it publishes `count` messages (wss.publish / io.to().emit) in one
// tick. {op:'cpu'} answers this process's CPU time.
import { createRequire } from 'node:module';

const [impl, redisUrl] = process.argv.slice(2);
const require = createRequire(import.meta.url);
let publish;
let port;
// Failures (e.g. a Redis command timing out) are counted and reported, not fatal:
// the run then says how many there were.
let failures = 0;
let firstFailure = '';
process.on('unhandledRejection', (err) => { if (failures++ === 0) firstFailure = String(err?.message ?? err); });

if (impl === 'wasmsocket') {
  const { WebSocketServer } = await import('../dist/index.js');
  const { redisBroker } = await import('../dist/redis.js');
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  const broker = redisBroker({ url: redisUrl, prefix: 'bench', onError: (err) => { if (failures++ === 0) firstFailure = String(err?.message ?? err); } });
  wss.useBroker(broker);
  wss.on('connection', (ws) => { ws.on('error', () => {}); ws.subscribe('bench'); });
  await new Promise((r) => wss.once('listening', r));
  port = wss.address().port;
  publish = (text) => wss.publish('bench', text);
} else {
  const http = require('node:http');
  const { Server } = require('socket.io');
  const { createAdapter } = require('@socket.io/redis-adapter');
  const { createClient } = require('redis');
  const pub = createClient({ url: redisUrl });
  const sub = pub.duplicate();
  for (const c of [pub, sub]) c.on('error', (err) => { if (failures++ === 0) firstFailure = String(err?.message ?? err); });
  await Promise.all([pub.connect(), sub.connect()]);
  const server = http.createServer();
  // WebSocket only (no polling), no per-message compression: the same work as ours.
  const io = new Server(server, { transports: ['websocket'], perMessageDeflate: false, adapter: createAdapter(pub, sub) });
  io.on('connection', (socket) => socket.join('bench'));
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  port = server.address().port;
  publish = (text) => io.to('bench').emit('m', text);
}

process.on('message', (m) => {
  if (m.op === 'publish') {
    for (let i = 0; i < m.count; i++) publish(m.text);
  } else if (m.op === 'cpu') {
    const u = process.cpuUsage();
    process.send({ op: 'cpu', us: u.user + u.system, failures, firstFailure });
  }
});
process.on('disconnect', () => process.exit(0));
process.send({ op: 'listening', port });
