// Real redis-server processes on free loopback ports for the broker tests:
// a single Redis (stoppable and restartable on the same port), a 3-master
// Redis Cluster, and a TCP proxy that can cut one process off from Redis.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sleep } from './wait.ts';

export const REDIS_SERVER = '/usr/bin/redis-server';
export const REDIS_CLI = '/usr/bin/redis-cli';
export const HAS_REDIS = existsSync(REDIS_SERVER) && existsSync(REDIS_CLI);
export const NO_REDIS_REASON = 'redis-server/redis-cli not installed (Debian package redis-server; .ci/run installs it)';

export async function freePort(): Promise<number> {
  const s = net.createServer().listen(0, '127.0.0.1');
  await new Promise((r) => s.once('listening', r));
  const { port } = s.address() as net.AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

/** Runs redis-cli against 127.0.0.1:port and returns its output lines. */
export function cli(port: number, ...args: string[]): Promise<string[]> {
  return new Promise((resolve, reject) => {
    execFile(REDIS_CLI, ['-h', '127.0.0.1', '-p', String(port), ...args], { timeout: 30_000 }, (err, out) => {
      if (err) reject(err); else resolve(out.split('\n').filter((l) => l !== ''));
    });
  });
}

async function waitForPing(port: number, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      if ((await cli(port, 'PING'))[0] === 'PONG') return;
    } catch { /* not up yet */ }
    if (Date.now() > deadline) throw new Error(`redis-server on ${port} did not answer PING within ${ms} ms`);
    await sleep(50);
  }
}

export class RedisServer {
  proc: ChildProcess | null = null;
  private constructor(readonly port: number, private readonly args: string[], private readonly dir: string) {}

  static async start(extra: string[] = []): Promise<RedisServer> {
    const dir = mkdtempSync(join(tmpdir(), 'wasmsocket-redis-'));
    const s = new RedisServer(await freePort(), extra, dir);
    await s.restart();
    return s;
  }

  get url(): string { return `redis://127.0.0.1:${this.port}`; }
  get pid(): number { return this.proc?.pid ?? -1; }

  /** (Re)starts redis-server on the same port, no persistence, and waits for PING. */
  async restart(): Promise<void> {
    this.proc = spawn(REDIS_SERVER, ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
      '--dir', this.dir, ...this.args], { stdio: 'ignore' });
    await waitForPing(this.port);
  }

  /** SIGKILL: the abrupt outage. */
  async kill(): Promise<void> {
    const p = this.proc;
    this.proc = null;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await exited;
  }

  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Three masters, no replicas, slots spread by redis-cli --cluster create. */
export async function startCluster(): Promise<{ nodes: RedisServer[]; urls: string[]; stop(): Promise<void> }> {
  const nodes: RedisServer[] = [];
  for (let i = 0; i < 3; i++) {
    nodes.push(await RedisServer.start(['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${i}.conf`, '--cluster-node-timeout', '5000']));
  }
  await new Promise<void>((resolve, reject) => {
    execFile(REDIS_CLI, ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes'],
      { timeout: 60_000 }, (err, _out, stderr) => (err ? reject(new Error(`cluster create failed: ${stderr}`)) : resolve()));
  });
  const deadline = Date.now() + 30_000;
  for (const n of nodes) {
    while (!(await cli(n.port, 'CLUSTER', 'INFO')).some((l) => l.trim() === 'cluster_state:ok')) {
      if (Date.now() > deadline) throw new Error('cluster did not reach cluster_state:ok');
      await sleep(100);
    }
  }
  return { nodes, urls: nodes.map((n) => n.url), stop: async () => { for (const n of nodes) await n.stop(); } };
}

/** A loopback TCP proxy in front of Redis; cut() drops every connection and refuses new ones until restore(). */
export class TcpProxy {
  private readonly server: net.Server;
  private readonly pairs = new Set<net.Socket>();
  private open = true;
  port = 0;

  constructor(private readonly target: number) {
    this.server = net.createServer((client) => {
      if (!this.open) { client.destroy(); return; }
      const upstream = net.connect(this.target, '127.0.0.1');
      for (const s of [client, upstream]) {
        this.pairs.add(s);
        s.on('error', () => {});
        s.on('close', () => { this.pairs.delete(s); client.destroy(); upstream.destroy(); });
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
  }

  async listen(): Promise<this> {
    this.server.listen(0, '127.0.0.1');
    await new Promise((r) => this.server.once('listening', r));
    this.port = (this.server.address() as net.AddressInfo).port;
    return this;
  }

  get url(): string { return `redis://127.0.0.1:${this.port}`; }
  cut(): void { this.open = false; for (const s of this.pairs) s.destroy(); }
  restore(): void { this.open = true; }
  close(): Promise<void> {
    this.cut();
    return new Promise((r) => this.server.close(() => r()));
  }
}
