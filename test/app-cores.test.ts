// wasmsocket/app on every core of one machine (issue 23): Apps in worker
// threads of one process listening on one port (SO_REUSEPORT: Node >= 22.12's
// UV_TCP_REUSEPORT on the raw TCP handle, net.Server's reusePort on the
// fallback), app.publish() reaching every thread's subscribers through the
// ThreadBroker, and a thread that exits leaving the others serving. Real
// sockets, ws clients. The threads run in a child process
// (test/helpers/app-threads.mjs) on a Node that has SO_REUSEPORT: this one,
// or an official build cached in ~/.cache/wasmsocket-node (scripts/node-build.mjs);
// the shared-port cases skip with a printed reason when there is none. The
// broker cases also run on this Node (on Node 20 each thread has its own port).
// Deno and Bun run the same with Web Workers (runtimes/app/threads.ts).
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

const HELPER = fileURLToPath(new URL('./helpers/app-threads.mjs', import.meta.url));
const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Whether `node` has UV_TCP_REUSEPORT (and so net's reusePort). */
function hasReusePort(node: string): boolean {
  const r = spawnSync(node, ['-e', "process.stdout.write(String(process.binding('tcp_wrap').constants.UV_TCP_REUSEPORT ?? ''))"],
    { encoding: 'utf8', timeout: 10_000 });
  return r.status === 0 && Number(r.stdout) > 0;
}

/** A Node with SO_REUSEPORT: this one, else the newest cached official build that has it. */
function reusePortNode(): string | null {
  if (hasReusePort(process.execPath)) return process.execPath;
  const cache = process.env.WASMSOCKET_NODE_CACHE ?? join(homedir(), '.cache', 'wasmsocket-node');
  if (!existsSync(cache)) return null;
  const versions = readdirSync(cache).filter((v) => /^\d+\.\d+\.\d+$/.test(v))
    .sort((a, b) => { const x = a.split('.').map(Number), y = b.split('.').map(Number); return y[0] - x[0] || y[1] - x[1] || y[2] - x[2]; });
  for (const v of versions) {
    const node = join(cache, v, 'bin', 'node');
    if (existsSync(node) && hasReusePort(node)) return node;
  }
  return null;
}

interface Ready { port: number; ports: number[]; threads: number[]; exclusiveRefused: boolean; sameThreadRefused: boolean; node: string }
interface Threads { child: ChildProcess; ready: Ready; exited: Array<{ exited: number; code: number }> }

const running: ChildProcess[] = [];
afterEach(() => { for (const c of running.splice(0)) c.kill('SIGKILL'); });

function startThreads(node: string, n: number, transport: 'tcp' | 'net'): Promise<Threads> {
  const child = spawn(node, [HELPER, String(n), transport], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  running.push(child);
  const exited: Threads['exited'] = [];
  let stderr = '';
  child.stderr!.on('data', (d) => { stderr += d; });
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`threads not ready in 30 s: ${stderr}`)), 30_000);
    child.stdout!.on('data', (d) => {
      buf += d;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const m = JSON.parse(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
        if (m.ready) { clearTimeout(timer); resolve({ child, ready: m, exited }); }
        else if (m.exited !== undefined) exited.push(m);
      }
    });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`threads exited (${code}): ${stderr}`)); });
  });
}

interface Client { ws: WebSocket; thread: number; messages: string[] }

/** A ws client; resolves once the App told it its thread. */
function connect(port: number): Promise<Client> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
    const messages: string[] = [];
    const timer = setTimeout(() => { ws.terminate(); reject(new Error('no thread id in 10 s')); }, 10_000);
    ws.on('message', (data) => {
      const text = String(data);
      if (messages.length === 0 && text.startsWith('{')) {
        clearTimeout(timer);
        messages.push(text);
        resolve({ ws, thread: JSON.parse(text).thread, messages });
      } else messages.push(text);
    });
    ws.on('error', (err) => { clearTimeout(timer); reject(err); });
  });
}

/** Resolves when `c` receives `text` (or rejects after `ms`). */
function receives(c: Client, text: string, ms = 10_000): Promise<void> {
  if (c.messages.includes(text)) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`thread ${c.thread} client did not get ${text}`)), ms);
    const on = (data: unknown) => { if (String(data) === text) { clearTimeout(timer); c.ws.off('message', on); resolve(); } };
    c.ws.on('message', on);
  });
}

/** Opens connections until every one of `threads` has a client (at most `max` tries). */
async function oneOnEach(port: number, threads: number[], max = 64): Promise<Map<number, Client>> {
  const by = new Map<number, Client>();
  for (let i = 0; i < max && by.size < threads.length; i++) {
    const c = await connect(port);
    if (by.has(c.thread)) c.ws.close();
    else by.set(c.thread, c);
  }
  return by;
}

const closeAll = (cs: Iterable<Client>) => { for (const c of cs) c.ws.close(); };

let node: string | null = null;
beforeAll(() => {
  node = reusePortNode();
  if (node === null) console.log('app-cores: no Node with SO_REUSEPORT (>= 22.12) here or in ~/.cache/wasmsocket-node: the shared-port cases skip');
  else if (node !== process.execPath) console.log(`app-cores: shared-port cases run the threads on ${node}`);
});

describe.each(['tcp', 'net'] as const)('two Apps in worker threads on one port (%s)', (transport) => {
  it('both threads get connections: the kernel spreads them', async (ctx) => {
    if (node === null) ctx.skip();
    const t = await startThreads(node!, 2, transport);
    expect(t.ready.ports).toEqual([t.ready.port, t.ready.port]);
    expect(t.ready.exclusiveRefused).toBe(true); // LIBUS_LISTEN_EXCLUSIVE_PORT does not join a shared port
    expect(t.ready.sameThreadRefused).toBe(true); // nor does one thread listen twice on its port
    // 40 connections land on one thread of two with odds 2^-39 when the kernel spreads them.
    const clients = await Promise.all(Array.from({ length: 40 }, () => connect(t.ready.port)));
    const seen = new Set(clients.map((c) => c.thread));
    closeAll(clients);
    expect([...seen].sort()).toEqual([...t.ready.threads].sort());
  }, 60_000);

  it('app.publish on one thread reaches subscribers on the other (ThreadBroker)', async (ctx) => {
    if (node === null) ctx.skip();
    const t = await startThreads(node!, 2, transport);
    const by = await oneOnEach(t.ready.port, t.ready.threads);
    expect(by.size).toBe(2);
    const [a, b] = [...by.values()];
    a.ws.send('pub:from-' + a.thread);
    await Promise.all([receives(a, 'from-' + a.thread), receives(b, 'from-' + a.thread)]);
    b.ws.send('pub:from-' + b.thread);
    await Promise.all([receives(a, 'from-' + b.thread), receives(b, 'from-' + b.thread)]);
    closeAll(by.values());
  }, 60_000);

  it('a thread that exits does not take the others down', async (ctx) => {
    if (node === null) ctx.skip();
    const t = await startThreads(node!, 2, transport);
    const by = await oneOnEach(t.ready.port, t.ready.threads);
    expect(by.size).toBe(2);
    const [gone, stays] = [...by.values()];
    const closed = new Promise<void>((r) => gone.ws.on('close', () => r()));
    gone.ws.send('exit');
    await closed;
    for (let i = 0; i < 100 && !t.exited.some((e) => e.exited === gone.thread); i++) await new Promise((r) => setTimeout(r, 50));
    expect(t.exited.map((e) => e.exited)).toEqual([gone.thread]);
    // The other thread serves on: its client publishes, and every new connection lands on it.
    stays.ws.send('pub:still-here');
    await receives(stays, 'still-here');
    const later = await Promise.all(Array.from({ length: 16 }, () => connect(t.ready.port)));
    expect(new Set(later.map((c) => c.thread))).toEqual(new Set([stays.thread]));
    stays.ws.send('pub:again');
    await Promise.all(later.map((c) => receives(c, 'again')));
    closeAll([stays, ...later]);
    expect(t.child.exitCode).toBe(null);
  }, 60_000);
});

describe('ThreadBroker on this Node', () => {
  it('carries app.publish between threads whether or not they share a port', async () => {
    const t = await startThreads(process.execPath, 2, 'tcp');
    // Without SO_REUSEPORT each thread has its own port; with it, one. Reach each thread by its port.
    const clients = new Map<number, Client>();
    if (t.ready.ports[0] !== t.ready.ports[1]) {
      for (const p of t.ready.ports) { const c = await connect(p); clients.set(c.thread, c); }
    } else {
      for (const [k, v] of await oneOnEach(t.ready.port, t.ready.threads)) clients.set(k, v);
    }
    expect(clients.size).toBe(2);
    const [a, b] = [...clients.values()];
    a.ws.send('pub:crosses');
    await Promise.all([receives(a, 'crosses'), receives(b, 'crosses')]);
    // A 1 MiB publish crosses whole.
    const big = 'x'.repeat(1 << 20);
    a.ws.send('pub:' + big);
    await receives(b, big, 20_000);
    closeAll(clients.values());
  }, 60_000);
});

// The same in Deno and Bun: runtimes/app/threads.ts, two Web Workers' Apps on one port
// (Bun.listen's reusePort; Deno.listen's under --unstable-net), a ThreadBroker in each.
const EDGE = {
  deno: [join(ROOT, 'node_modules/.bin/deno'), ['run', '--unstable-net', '--allow-net=127.0.0.1', '--allow-read', '--config', 'runtimes/deno/deno.json', 'runtimes/app/threads.ts']],
  bun: [join(ROOT, 'node_modules/.bin/bun'), ['runtimes/app/threads.ts']],
} as const;

function startEdge(runtime: keyof typeof EDGE): Promise<{ port: number; ports: number[]; threads: number[] }> {
  const [cmd, args] = EDGE[runtime];
  const env: Record<string, string | undefined> = { ...process.env, NO_COLOR: '1', DENO_NO_UPDATE_CHECK: '1' };
  for (const k of Object.keys(env)) if (k.startsWith('VITEST') || k === 'NODE_OPTIONS') delete env[k];
  const child = spawn(cmd, [...args], { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
  running.push(child);
  let out = '', err = '';
  child.stderr!.on('data', (d) => { err += d; });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${runtime}: no THREADS line in 30 s: ${err}`)), 30_000);
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /^THREADS (\{.*\})$/m.exec(out);
      if (m) { clearTimeout(timer); resolve(JSON.parse(m[1])); }
    });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`${runtime} exited (${code}): ${err}`)); });
  });
}

describe.each(Object.keys(EDGE) as Array<keyof typeof EDGE>)('two Apps in %s workers on one port', (runtime) => {
  const missing = !existsSync(EDGE[runtime][0]);
  if (missing) console.log(`app-cores: ${runtime} is not installed (node_modules/.bin/${runtime}): its cases skip`);
  it.skipIf(missing)('both workers get connections, and a publish on one reaches the other', async () => {
    const t = await startEdge(runtime);
    expect(t.ports).toEqual([t.port, t.port]);
    const clients = await Promise.all(Array.from({ length: 40 }, () => connect(t.port)));
    expect(new Set(clients.map((c) => c.thread))).toEqual(new Set(t.threads));
    const a = clients.find((c) => c.thread === t.threads[0])!, b = clients.find((c) => c.thread === t.threads[1])!;
    a.ws.send('pub:from-a');
    await Promise.all([receives(a, 'from-a'), receives(b, 'from-a')]);
    b.ws.send('pub:from-b');
    await receives(a, 'from-b');
    closeAll(clients);
  }, 60_000);
});
