// Picks the Redis client for wasmsocket/redis by measurement: one publisher
// connection and one subscriber connection per client library, N messages of
// 64 B (Buffer) published back to back, timed until the subscriber has them all.
//
//   node bench/redis-clients.mjs [count]      (starts its own redis-server on a free port)
//
// ioredis is not a dependency; `npm install --no-save ioredis` first to include it.
import { startRedis } from './redis-server.mjs';

const COUNT = Number(process.argv[2] ?? 100_000);
const ROUNDS = 3;

const { proc: redisProc, url } = await startRedis();
process.on('exit', () => redisProc.kill());
const payload = Buffer.alloc(64, 7);

async function nodeRedis() {
  const { createClient } = await import('redis');
  const pub = createClient({ url }); const sub = createClient({ url });
  await pub.connect(); await sub.connect();
  let got = 0, done;
  await sub.subscribe('bench', () => { if (++got === COUNT) done(); }, true);
  return { name: 'redis (node-redis)', async run() {
    got = 0; const finished = new Promise((r) => { done = r; });
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < COUNT; i++) pub.publish('bench', payload).catch(() => {});
    await finished;
    return Number(process.hrtime.bigint() - t0) / 1e9;
  }, async close() { await pub.quit(); await sub.quit(); } };
}

async function ioRedis() {
  let Redis;
  try { ({ Redis } = await import('ioredis')); } catch { return null; }
  const pub = new Redis(url); const sub = new Redis(url);
  let got = 0, done;
  sub.on('messageBuffer', () => { if (++got === COUNT) done(); });
  await sub.subscribe('bench');
  return { name: 'ioredis', async run() {
    got = 0; const finished = new Promise((r) => { done = r; });
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < COUNT; i++) pub.publish('bench', payload).catch(() => {});
    await finished;
    return Number(process.hrtime.bigint() - t0) / 1e9;
  }, async close() { pub.disconnect(); sub.disconnect(); } };
}

for (const make of [nodeRedis, ioRedis]) {
  const c = await make();
  if (!c) { console.log('ioredis: not installed (npm install --no-save ioredis)'); continue; }
  const rates = [];
  for (let i = 0; i < ROUNDS; i++) rates.push(COUNT / await c.run());
  await c.close();
  rates.sort((a, b) => b - a);
  console.log(`${c.name.padEnd(20)} best ${Math.round(rates[0]).toLocaleString('en')} msg/s, median ${Math.round(rates[1]).toLocaleString('en')} msg/s (${COUNT} x 64 B publish -> subscriber)`);
}
process.exit(0);
