// Server RSS of 1,000 idle permessage-deflate connections, ours vs ws (issue 4).
//
//   node bench/deflate-idle.mjs [--count 1000] [--json] [--shared]
//
// --shared: our server in its shared-compressor mode (perMessageDeflate:
// { sharedCompressor: true }: one compressor per process, no context takeover
// on our side); ws as always.
//
// Each server runs in its own process (bench/servers/*-echo.mjs --deflate). A
// client process opens N connections offering permessage-deflate (ws client,
// default options: context takeover on), sends one compressible 4 KiB message
// on each and waits for its echo, so every connection has used inflate and
// deflate once; then the connections sit idle and the server reports its RSS
// after two forced GCs. Reported: RSS above the server's baseline, per connection.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

const args = process.argv.slice(2);
const count = Number(args[args.indexOf('--count') + 1]) || 1000;
const asJson = args.includes('--json');
const shared = args.includes('--shared');
const here = (p) => fileURLToPath(new URL(p, import.meta.url));

function startServer(impl) {
  const env = { ...process.env, BENCH_DEFLATE_SHARED: shared && impl === 'wasmsocket' ? '1' : '0' };
  const child = fork(here(`./servers/${impl}-echo.mjs`), ['--deflate'], { env, execArgv: ['--expose-gc'], stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  let id = 0;
  const stats = () => new Promise((resolve) => {
    const my = ++id;
    const on = (m) => { if (m.id === my) { child.off('message', on); resolve(m); } };
    child.on('message', on);
    child.send({ cmd: 'stats', id: my, gc: true });
  });
  return new Promise((resolve, reject) => {
    child.stdout.once('data', (line) => {
      const info = JSON.parse(String(line).split('\n')[0]);
      if (!info.ready) reject(new Error(info.error)); else resolve({ child, port: info.port, stats });
    });
  });
}

async function measure(impl) {
  const { child, port, stats } = await startServer(impl);
  const base = await stats();
  const clients = [];
  const payload = 'idle connection warm-up message '.repeat(128);
  for (let i = 0; i < count; i += 50) {
    const batch = [];
    for (let j = i; j < Math.min(count, i + 50); j++) {
      batch.push(new Promise((resolve, reject) => {
        const ws = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: true });
        ws.on('error', reject);
        ws.on('open', () => ws.send(payload));
        ws.once('message', () => resolve(ws));
      }));
    }
    clients.push(...(await Promise.all(batch)));
  }
  if (!clients.every((c) => c.extensions.includes('permessage-deflate'))) throw new Error(`${impl}: deflate not negotiated`);
  await new Promise((r) => setTimeout(r, 500));
  const loaded = await stats();
  for (const c of clients) c.terminate();
  child.send({ cmd: 'exit' });
  return { impl, count, baseRss: base.rss, rss: loaded.rss, perConnection: (loaded.rss - base.rss) / count };
}

const results = [];
for (const impl of ['ws', 'wasmsocket', 'ws', 'wasmsocket']) results.push(await measure(impl));
const median = (impl) => {
  const v = results.filter((r) => r.impl === impl).map((r) => r.perConnection).sort((a, b) => a - b);
  return v[Math.floor(v.length / 2)];
};
const summary = { count, wsPerConnection: median('ws'), oursPerConnection: median('wasmsocket') };
summary.ratio = summary.oursPerConnection / summary.wsPerConnection;
if (asJson) console.log(JSON.stringify({ results, summary }, null, 2));
else {
  for (const r of results) console.log(`${r.impl.padEnd(11)} ${count} idle deflate connections: RSS +${((r.rss - r.baseRss) / 1048576).toFixed(1)} MiB, ${(r.perConnection / 1024).toFixed(1)} KiB/connection`);
  if (shared) console.log('wasmsocket in shared-compressor mode');
  console.log(`median per connection: ws ${(summary.wsPerConnection / 1024).toFixed(1)} KiB, wasmsocket ${(summary.oursPerConnection / 1024).toFixed(1)} KiB, ratio ours/ws ${summary.ratio.toFixed(2)}`);
}
