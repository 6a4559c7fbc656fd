// Server RSS per idle connection on Deno and Bun: wasmsocket/web's accept() on
// the runtime's raw TCP listener against the runtime's own WebSocket server
// (issue 22). Measured as `npm run bench`'s idle scenario measures Node's: the
// server's RSS after a full GC with N open connections, minus its RSS after a
// GC before the first one, divided by N.
//
//   node bench/edge-idle.mjs [--count 10000] [--runtimes deno,bun] [--rounds 2] [--impls native,ours,conn]
//                            [--deflate] [--warm] [--src] [--json]
//
// --impls:   native: the runtime's own server; ours: accept() with a
//            WebSocketStream piped to itself (runtimes/*/echo-server.ts);
//            conn: acceptConnection() with a handler echoing through Connection.send.
// --deflate: clients offer permessage-deflate (ws's default offer); off by
//            default, as the Node idle scenario's clients.
// --warm:    each client sends one 4 KiB text message and waits for its echo
//            before going idle, so every connection has been through the message path.
// --src:     Bun imports src/web instead of dist/web.js (Deno always runs src/
//            through runtimes/deno/deno.json's import map).
//
// Each server runs in its own process (bench/servers/edge-echo.ts); the ws
// clients run in this one, opened 200 at a time. Native and ours alternate per
// round; the median per runtime and server is printed.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

const args = process.argv.slice(2);
const flag = (name, def) => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1] : def; };
const count = Number(flag('count', 10_000));
const rounds = Number(flag('rounds', 2));
const runtimes = flag('runtimes', 'deno,bun').split(',');
const deflate = args.includes('--deflate');
const warm = args.includes('--warm');
const fromSrc = args.includes('--src');
const asJson = args.includes('--json');
const impls = flag('impls', 'native,ours').split(',');
const root = fileURLToPath(new URL('..', import.meta.url));
const BATCH = 200; // handshakes in flight: keeps the listen backlog from overflowing
const RUN_LIMIT_MS = 180_000;

function command(runtime, impl) {
  const script = 'bench/servers/edge-echo.ts';
  if (runtime === 'deno') {
    return [`${root}node_modules/.bin/deno`, ['run', '-A', '--config', 'runtimes/deno/deno.json', '--v8-flags=--expose-gc', script, impl]];
  }
  return [`${root}node_modules/.bin/bun`, [script, impl, ...(fromSrc ? ['--src'] : [])]];
}

function startServer(runtime, impl) {
  const [cmd, argv] = command(runtime, impl);
  const child = spawn(cmd, argv, { cwd: root, stdio: ['pipe', 'pipe', 'inherit'] });
  const waiting = [];
  let buf = '';
  let ready;
  const readyP = new Promise((resolve, reject) => {
    ready = resolve;
    child.once('exit', (code) => reject(new Error(`${runtime} ${impl} server exited (${code})`)));
  });
  child.stdout.on('data', (d) => {
    buf += d;
    for (let i; (i = buf.indexOf('\n')) >= 0;) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      let m;
      try { m = JSON.parse(line); } catch { continue; }
      if (m.ready) ready(m); else waiting.shift()?.(m);
    }
  });
  const stats = () => new Promise((resolve) => { waiting.push(resolve); child.stdin.write('stats\n'); });
  return { child, readyP, stats };
}

function openClients(port) {
  const clients = [];
  const payload = 'idle connection warm-up message '.repeat(128);
  let started = 0;
  return new Promise((resolve, reject) => {
    let open = 0;
    const one = () => {
      if (started >= count) return;
      started++;
      const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: deflate });
      clients.push(ws);
      ws.on('error', reject);
      const ready = () => { if (++open === count) resolve(clients); else one(); };
      if (warm) { ws.on('open', () => ws.send(payload)); ws.once('message', ready); } else ws.on('open', ready);
    };
    for (let i = 0; i < BATCH; i++) one();
  });
}

async function measure(runtime, impl) {
  const { child, readyP, stats } = startServer(runtime, impl);
  let timer;
  try {
    return await Promise.race([(async () => {
      const { port } = await readyP;
      await new Promise((r) => setTimeout(r, 300));
      const base = await stats();
      const clients = await openClients(port);
      await new Promise((r) => setTimeout(r, 1000)); // lazily allocated per-connection state settles
      const loaded = await stats();
      for (const c of clients) c.terminate();
      return { runtime, impl, count, baseRss: base.rss, rss: loaded.rss, perConnection: (loaded.rss - base.rss) / count,
        heapPerConnection: (loaded.heapUsed + loaded.external - base.heapUsed - base.external) / count };
    })(), new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`${runtime} ${impl}: over ${RUN_LIMIT_MS} ms`)), RUN_LIMIT_MS); })]);
  } finally {
    clearTimeout(timer);
    child.stdin.end();
    child.kill();
  }
}

const results = [];
for (const runtime of runtimes) {
  for (let r = 0; r < rounds; r++) {
    for (const impl of impls) {
      const res = await measure(runtime, impl);
      results.push(res);
      if (!asJson) console.log(`${runtime} ${impl.padEnd(6)} ${count} idle: RSS +${((res.rss - res.baseRss) / 1048576).toFixed(1)} MiB, ${(res.perConnection / 1024).toFixed(1)} KiB/connection (JS heap+external ${(res.heapPerConnection / 1024).toFixed(1)} KiB)`);
    }
  }
}
const median = (runtime, impl) => {
  const v = results.filter((r) => r.runtime === runtime && r.impl === impl).map((r) => r.perConnection).sort((a, b) => a - b);
  return v[Math.floor((v.length - 1) / 2)];
};
const summary = runtimes.map((runtime) => ({ runtime, ...Object.fromEntries(impls.map((impl) => [impl, median(runtime, impl)])) }));
if (asJson) console.log(JSON.stringify({ count, deflate, warm, results, summary }, null, 2));
else {
  for (const s of summary) {
    console.log(`${s.runtime}: median per connection: ${impls.map((impl) => `${impl} ${(s[impl] / 1024).toFixed(1)} KiB`).join(', ')}`);
  }
}
