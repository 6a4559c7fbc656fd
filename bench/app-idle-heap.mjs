#!/usr/bin/env node
// Where the App's idle memory per WebSocket goes on Node: the server's RSS,
// V8 heap (total and used) and external memory after two full GCs with N idle
// upgraded connections, minus the same before the first, divided by N. The
// idle scenario of `npm run bench` reads only the RSS; this splits it.
//
//   node --expose-gc bench/app-idle-heap.mjs [count=10000]
//   node --expose-gc --max-semi-space-size=1 bench/app-idle-heap.mjs   # the young generation held small
//   node --expose-gc bench/app-idle-heap.mjs 8000 --steps 4 --reduce    # the cost at the margin
//   node --expose-gc bench/app-idle-heap.mjs 8000 --steps 4 --reduce --probe
//
// --steps K opens the count in K batches and prints each batch's growth per
// connection: the first carries what is paid once (compiled code, pools, the
// young generation's growth), the later ones what one more connection costs.
// --reduce collects with V8's memory-reducing GC (gc({flavor: 'last-resort'}),
// what V8 runs under memory pressure: it also gives back heap pages kept
// empty), where plain gc() keeps them. --probe serves the same clients with
// no App: a TCP handle per connection that writes a fixed 101 and keeps
// nothing else, the floor of any server on Node's handles.
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
const args = process.argv.slice(2);
const N = Number(args.find((a) => /^\d+$/.test(a)) ?? 10_000);
const flagValue = (name, def) => { const i = args.indexOf(name); return i >= 0 ? Number(args[i + 1]) : def; };
const STEPS = flagValue('--steps', 1), REDUCE = args.includes('--reduce'), PROBE = args.includes('--probe');
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

let port, stop;
if (PROBE) {
  // The floor: Node's TCP handle per connection, a fixed 101 written once, nothing kept in JS but the handle.
  const { TCP, constants } = process.binding('tcp_wrap');
  const { WriteWrap } = process.binding('stream_wrap');
  const held = new Set();
  const res = 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
    'Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n';
  const server = new TCP(constants.SERVER);
  if (server.bind('127.0.0.1', 0) !== 0 || server.listen(511) !== 0) throw new Error('listen failed');
  server.onconnection = (status, h) => {
    if (status !== 0) return;
    held.add(h);
    h.onread = function onread() { const w = new WriteWrap(); w.handle = h; w.oncomplete = () => {}; h.writeUtf8String(w, res); };
    h.readStart();
  };
  const out = {};
  server.getsockname(out);
  port = out.port;
  stop = () => server.close();
} else {
  const uWS = await import('../dist/app.js');
  const app = uWS.App().ws('/*', { idleTimeout: 0, message() {} });
  port = await new Promise((resolve, reject) =>
    app.listen('127.0.0.1', 0, (t) => (t ? resolve(uWS.us_socket_local_port(t)) : reject(new Error('listen failed')))));
  stop = () => app.close();
}

const collect = REDUCE ? () => gc({ type: 'major', execution: 'sync', flavor: 'last-resort' }) : () => { gc(); gc(); };
const settle = async () => { collect(); await new Promise((r) => setTimeout(r, 500)); };
await settle();
const what = PROBE ? 'TCP handles (probe)' : 'App WebSockets';
const runs = [];
let prev = process.memoryUsage();
const batch = Math.floor(N / STEPS);
for (let k = 0; k < STEPS; k++) {
  const clients = spawn(process.execPath, ['-e', CLIENTS, String(port), String(batch)], { stdio: ['pipe', 'pipe', 'inherit'] });
  runs.push(clients);
  await new Promise((resolve) => clients.stdout.once('data', resolve));
  await settle();
  const now = process.memoryUsage();
  const per = (key) => `${((now[key] - prev[key]) / batch).toFixed(0)} B`;
  console.log(`${batch} more idle ${what} (${(k + 1) * batch} open), per connection: rss ${per('rss')}, heapTotal ${per('heapTotal')}, ` +
    `heapUsed ${per('heapUsed')}, external ${per('external')} (node ${process.version}, ${process.execArgv.join(' ')}${REDUCE ? ', memory-reducing GC' : ''})`);
  prev = now;
}
for (const c of runs) c.stdin.end();
stop();
process.exit(0);
