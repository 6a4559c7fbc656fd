// A throwaway redis-server for the Redis benchmarks: a free loopback port, no
// persistence, ready once it answers PING (5 s at most).
import { spawn, execFileSync } from 'node:child_process';
import net from 'node:net';

async function freePort() {
  const s = net.createServer().listen(0, '127.0.0.1');
  await new Promise((r) => s.once('listening', r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

export async function startRedis() {
  const port = await freePort();
  const proc = spawn('/usr/bin/redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    try { if (execFileSync('/usr/bin/redis-cli', ['-p', String(port), 'PING'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim() === 'PONG') break; } catch { /* starting */ }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { proc, url: `redis://127.0.0.1:${port}` };
}
