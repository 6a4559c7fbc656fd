// The multi-process scenario of `npm run bench`: 2 server processes on one
// redis-server, 256 subscribers spread over them, a 64 B text message published
// from both processes; deliveries/s counted at the subscribers. wasmsocket
// (wss.publish + wasmsocket/redis) side by side with socket.io +
// @socket.io/redis-adapter doing the same work, rounds interleaved. Reports the
// CPU of redis-server (from /proc/<pid>/stat) and of the server processes.
//
//   node bench/redis-fanout.mjs [--servers 2] [--subscribers 256] [--seconds 4] [--rounds 2] [--json]
//
// Flow control: publishing goes in batches; the next batch waits until the
// subscribers are within a few batches of the published total, so no socket
// queues more than ~90 KiB and every message counted was delivered (no drops).
import { fork } from 'node:child_process';
import { startRedis } from './redis-server.mjs';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const opt = (name, def) => { const i = args.indexOf(`--${name}`); return i === -1 ? def : Number(args[i + 1]); };
const SERVERS = opt('servers', 2);
const SUBSCRIBERS = opt('subscribers', 256);
const SECONDS = opt('seconds', 4);
const ROUNDS = opt('rounds', 2);
const WARMUP_MS = 1000;
const BATCH = 20; // messages per server per batch
const WINDOW = 32; // batches in flight: 32 x 40 x ~70 B = ~90 KiB queued per subscriber at most (limit: 1 MiB)
const TEXT = 'x'.repeat(64);
const HARD_LIMIT_MS = 60_000; // one run never takes longer
const here = (f) => fileURLToPath(new URL(f, import.meta.url));
const CLK_TCK = 100; // Linux's USER_HZ for /proc/<pid>/stat

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

if (!existsSync('/usr/bin/redis-server')) {
  console.log('redis fan-out: skipped (redis-server not installed: apt-get install redis-server)');
  process.exit(0);
}
if (!existsSync(here('../dist/redis.js'))) {
  console.log('redis fan-out: skipped (dist/redis.js missing: npm run build)');
  process.exit(0);
}

function procCpuSeconds(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK; // utime + stime
}

function onMessage(child, op) {
  return new Promise((resolve) => {
    const f = (m) => { if (m.op === op) { child.off('message', f); resolve(m); } };
    child.on('message', f);
  });
}

async function runOne(impl, redis) {
  const servers = [];
  const kill = () => { for (const c of [...servers, sub]) c?.kill('SIGKILL'); };
  let sub = null;
  const hard = setTimeout(() => { kill(); }, HARD_LIMIT_MS);
  try {
    for (let i = 0; i < SERVERS; i++) {
      const c = fork(here('./redis-node.mjs'), [impl, redis.url], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      servers.push(c);
    }
    const ports = (await Promise.all(servers.map((c) => onMessage(c, 'listening')))).map((m) => m.port);
    sub = fork(here('./redis-subscribers.mjs'), [JSON.stringify({ kind: impl === 'wasmsocket' ? 'ws' : 'socketio', ports, perPort: SUBSCRIBERS / SERVERS })],
      { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let frames = 0;
    sub.on('message', (m) => { if (m.op === 'count') frames = m.frames; else if (m.op === 'error') console.error(`subscriber error: ${m.error}`); });
    await onMessage(sub, 'ready');
    await sleep(500); // joins and Redis subscriptions settle

    let published = 0; // messages, all servers
    const perBatch = BATCH * SERVERS;
    let stop = false;
    let sample = null;
    const loop = (async () => {
      while (!stop) {
        // Publish while the subscribers have all but WINDOW batches of what was published.
        while (!stop && frames >= (published - WINDOW * perBatch) * SUBSCRIBERS) {
          for (const c of servers) if (c.connected) c.send({ op: 'publish', count: BATCH, text: TEXT });
          published += perBatch;
        }
        await sleep(1);
      }
    })();
    await sleep(WARMUP_MS);
    const cpu0 = await Promise.all(servers.map((c) => { const p = onMessage(c, 'cpu'); c.send({ op: 'cpu' }); return p; }));
    const redis0 = procCpuSeconds(redis.proc.pid), sub0 = procCpuSeconds(sub.pid);
    const f0 = frames, t0 = process.hrtime.bigint();
    await sleep(SECONDS * 1000);
    const f1 = frames, t1 = process.hrtime.bigint();
    const redis1 = procCpuSeconds(redis.proc.pid), sub1 = procCpuSeconds(sub.pid);
    const cpu1 = await Promise.all(servers.map((c) => { const p = onMessage(c, 'cpu'); c.send({ op: 'cpu' }); return p; }));
    stop = true;
    await loop;
    const secs = Number(t1 - t0) / 1e9;
    sample = {
      impl,
      deliveriesPerSec: (f1 - f0) / secs,
      redisCpu: (redis1 - redis0) / secs,
      subscriberCpu: (sub1 - sub0) / secs,
      serverCpu: cpu1.reduce((s, c, i) => s + (c.us - cpu0[i].us), 0) / 1e6 / secs,
      failures: cpu1.reduce((s, c) => s + c.failures, 0),
      firstFailure: cpu1.find((c) => c.failures)?.firstFailure,
    };
    return sample;
  } finally {
    clearTimeout(hard);
    kill();
    await sleep(200);
  }
}

const redis = await startRedis();
process.on('exit', () => redis.proc.kill('SIGKILL'));
const runs = [];
console.error(`redis fan-out: ${SERVERS} server processes on one redis-server, ${SUBSCRIBERS} subscribers (${SUBSCRIBERS / SERVERS} per process), ` +
  `64 B text from every process, ${ROUNDS} rounds x ${SECONDS} s (warm-up ${WARMUP_MS / 1000} s), interleaved`);
for (let round = 1; round <= ROUNDS; round++) {
  for (const impl of ['wasmsocket', 'socketio']) {
    const r = await runOne(impl, redis);
    runs.push(r);
    console.error(`  ${impl} #${round}: ${Math.round(r.deliveriesPerSec).toLocaleString('en')} deliveries/s, redis-server CPU ${(r.redisCpu * 100).toFixed(0)}%, servers CPU ${(r.serverCpu * 100).toFixed(0)}% (sum), subscribers' process CPU ${(r.subscriberCpu * 100).toFixed(0)}%` +
      (r.failures ? `; ${r.failures} server-side failures (first: ${r.firstFailure})` : ''));
  }
}
const best = (impl) => runs.filter((r) => r.impl === impl).sort((a, b) => b.deliveriesPerSec - a.deliveriesPerSec)[0];
const ours = best('wasmsocket'), theirs = best('socketio');
const rows = [
  ['impl', 'deliveries/s', 'x socket.io', 'redis-server CPU', 'server processes CPU (sum)', 'subscribers CPU'],
  ['wasmsocket + wasmsocket/redis', Math.round(ours.deliveriesPerSec).toLocaleString('en'), (ours.deliveriesPerSec / theirs.deliveriesPerSec).toFixed(1), `${(ours.redisCpu * 100).toFixed(0)}%`, `${(ours.serverCpu * 100).toFixed(0)}%`, `${(ours.subscriberCpu * 100).toFixed(0)}%`],
  ['socket.io + @socket.io/redis-adapter', Math.round(theirs.deliveriesPerSec).toLocaleString('en'), '1.0', `${(theirs.redisCpu * 100).toFixed(0)}%`, `${(theirs.serverCpu * 100).toFixed(0)}%`, `${(theirs.subscriberCpu * 100).toFixed(0)}%`],
];
const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
console.log(`\nredis fan-out (best of ${ROUNDS}; target >= 5x socket.io):`);
for (const r of rows) console.log(`| ${r.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`);
if (args.includes('--json')) console.log(JSON.stringify({ runs }));
process.exit(0);
