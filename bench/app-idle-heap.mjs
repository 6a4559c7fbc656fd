#!/usr/bin/env node
// Where the App's idle memory per WebSocket goes on Node: the server's RSS,
// V8 heap (total and used) and external memory after two full GCs with N idle
// upgraded connections, minus the same before the first, divided by N. The
// idle scenario of `npm run bench` reads only the RSS; this splits it.
//
//   node --expose-gc bench/app-idle-heap.mjs [count=10000]
//   node --expose-gc --max-semi-space-size=1 bench/app-idle-heap.mjs   # the young generation held small
//
// The App (../dist/app.js, `npm run build`) runs in this process; the clients in
// a child process (raw TCP: each sends an upgrade request and keeps the
// connection), 100 connecting at a time, all on 127.0.0.1. The child exits
// when its stdin closes; the run is bounded by a 120 s deadline.
import { spawn } from 'node:child_process';

if (typeof globalThis.gc !== 'function') {
  console.error('run with node --expose-gc');
  process.exit(2);
}
const N = Number(process.argv[2] ?? 10_000);
setTimeout(() => { console.error('gave up after 120 s'); process.exit(1); }, 120_000).unref();

const CLIENTS = `
const net = require('node:net');
const [port, count] = process.argv.slice(1).map(Number);
const req = 'GET / HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\n' +
  'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\\r\\nSec-WebSocket-Version: 13\\r\\n\\r\\n';
let upgraded = 0, started = 0;
function one() {
  if (started >= count) return;
  started++;
  const s = net.connect(port, '127.0.0.1', () => s.write(req));
  s.once('data', () => { if (++upgraded === count) console.log('ready'); else one(); });
  s.on('error', () => {});
}
for (let i = 0; i < 100; i++) one();
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
`;

const uWS = await import('../dist/app.js');
const app = uWS.App().ws('/*', { idleTimeout: 0, message() {} });
const port = await new Promise((resolve, reject) =>
  app.listen('127.0.0.1', 0, (t) => (t ? resolve(uWS.us_socket_local_port(t)) : reject(new Error('listen failed')))));

const settle = async () => { gc(); gc(); await new Promise((r) => setTimeout(r, 500)); };
await settle();
const before = process.memoryUsage();
const clients = spawn(process.execPath, ['-e', CLIENTS, String(port), String(N)], { stdio: ['pipe', 'pipe', 'inherit'] });
await new Promise((resolve) => clients.stdout.once('data', resolve));
await settle();
const after = process.memoryUsage();
const per = (k) => `${((after[k] - before[k]) / N).toFixed(0)} B`;
console.log(`${N} idle App WebSockets, per connection: rss ${per('rss')}, heapTotal ${per('heapTotal')}, ` +
  `heapUsed ${per('heapUsed')}, external ${per('external')} (node ${process.version}, ${process.execArgv.join(' ')})`);
clients.stdin.end();
app.close();
process.exit(0);
