#!/usr/bin/env node
// wasmsocket/app on more than one core (issue 23): the same echo in 1 and in 2 worker threads
// of one process on one port (bench/servers/app-threads.mjs; SO_REUSEPORT, Node >= 22.12),
// interleaved per round, driven by the C load generator (bench/loadgen.c, the scenarios of
// bench/run.mjs). Nothing is pinned: the server may use every core, and the load generator
// shares them. So the table reports, per run, the server's CPU (in % of one core: up to
// 100 x cores), the load generator's, and what other processes took from the machine; the
// ratio of 2 threads to 1 is only as good as the load generator's headroom (on a 2-core machine
// one core's worth of the 2 goes to the load generator when it saturates: that row is flagged).
//
//   node bench/cores.mjs [--quick] [--only echo-32,echo-1k] [--rounds N] [--duration S]
//                        [--warmup S] [--threads 1,2] [--node NODE] [--json FILE]
//
// --node: the Node the servers run on (a major, a version or a path, as run.mjs's; default:
// this Node if it has SO_REUSEPORT, else the newest cached build in ~/.cache/wasmsocket-node
// that has it). Smoke runs (--quick) are not figures to quote.

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildCLoadgen, keyArgs } from './loadgen-c.mjs';
import { onJsonLines } from './machine.mjs';
import { cacheRoot, nodeBuild } from '../scripts/node-build.mjs';

const BENCH = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.dirname(BENCH);
const SERVER = path.join(BENCH, 'servers', 'app-threads.mjs');
const SCENARIOS = {
  'echo-32': { kind: 'echo', size: 32, binary: false, conns: 64, inflight: 16, refill: 4 },
  'echo-1k': { kind: 'echo', size: 1024, binary: false, conns: 64, inflight: 16, refill: 4 },
};
const GEN_LIMIT = 90; // load generator CPU% (of one core) from which a row is flagged, as run.mjs

const args = process.argv.slice(2);
const flag = (name, def) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : def; };
const quick = args.includes('--quick');
const only = flag('--only', 'echo-32,echo-1k').split(',').filter((s) => SCENARIOS[s]);
const rounds = Number(flag('--rounds', quick ? 1 : 3));
const durationMs = Number(flag('--duration', quick ? 1 : 3)) * 1000;
const warmupMs = Number(flag('--warmup', quick ? 0.3 : 1)) * 1000;
const threadCounts = flag('--threads', '1,2').split(',').map(Number).filter((n) => n >= 1);
const jsonOut = flag('--json', null);

function hasReusePort(node) {
  const r = spawnSync(node, ['-e', "process.stdout.write(String(process.binding('tcp_wrap').constants.UV_TCP_REUSEPORT ?? ''))"], { encoding: 'utf8' });
  return r.status === 0 && Number(r.stdout) > 0;
}
function serverNode(spec) {
  if (spec) return /^v?\d+(\.\d+\.\d+)?$/.test(spec) ? path.join(nodeBuild(spec), 'node') : path.resolve(spec);
  if (hasReusePort(process.execPath)) return process.execPath;
  const cached = existsSync(cacheRoot) ? readdirSync(cacheRoot).filter((v) => /^\d+\.\d+\.\d+$/.test(v)) : [];
  cached.sort((a, b) => { const x = a.split('.').map(Number), y = b.split('.').map(Number); return y[0] - x[0] || y[1] - x[1] || y[2] - x[2]; });
  for (const v of cached) {
    const node = path.join(cacheRoot, v, 'bin', 'node');
    if (existsSync(node) && hasReusePort(node)) return node;
  }
  return null;
}

const NODE = serverNode(flag('--node', null));
if (NODE === null || !hasReusePort(NODE)) {
  console.error(`cores: no Node with SO_REUSEPORT (>= 22.12) to run the servers on (this is ${process.version}); try --node 22`);
  process.exit(2);
}
const NODE_VERSION = spawnSync(NODE, ['-p', 'process.version'], { encoding: 'utf8' }).stdout.trim();
const built = buildCLoadgen();
if (!built.bin) { console.error(`cores: the C load generator could not be built: ${built.why}`); process.exit(2); }
if (!existsSync(path.join(ROOT, 'dist', 'app.js'))) { console.error('cores: dist/app.js is missing: npm run build'); process.exit(2); }

/** Per-CPU busy / total jiffies from /proc/stat, summed over the machine. */
function machineTimes() {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n').find((l) => l.startsWith('cpu '));
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
    return { busy: total - f[3] - (f[4] || 0), total };
  } catch { return null; }
}

function request(child, msg) {
  return new Promise((resolve, reject) => {
    const id = Math.random();
    const t = setTimeout(() => reject(new Error(`server did not answer ${msg.cmd}`)), 10_000);
    const on = (m) => { if (m?.id === id) { clearTimeout(t); child.off('message', on); resolve(m); } };
    child.on('message', on);
    child.send({ ...msg, id });
  });
}

async function runOne(name, threads) {
  const scn = SCENARIOS[name];
  const server = spawn(NODE, ['--expose-gc', SERVER, '--threads', String(threads)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  const serverGone = new Promise((r) => server.on('exit', r));
  let lg = null;
  try {
    const ready = await new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('server not ready in 20 s')), 20_000);
      onJsonLines(server.stdout, 'server', (m) => { if (!('ready' in m)) return false; clearTimeout(t); resolve(m); return true; });
      server.on('exit', (c) => { clearTimeout(t); reject(new Error(`server exited (${c})`)); });
    });
    if (!ready.ready) throw new Error(ready.error);
    const cfg = { port: ready.port, ...scn, deflate: false, maskedEcho: false, warmupMs, durationMs, openTimeoutMs: 60_000,
      hardDeadlineMs: warmupMs + durationMs + 30_000 };
    lg = spawn(built.bin, [JSON.stringify(cfg), ...keyArgs()], { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] });
    let s0 = null, s1 = null, m0 = null, m1 = null, result = null;
    onJsonLines(lg.stdout, 'loadgen', (m) => {
      if (m.type === 'measure-start') { s0 = request(server, { cmd: 'stats' }); m0 = machineTimes(); }
      else if (m.type === 'measure-end') { s1 = request(server, { cmd: 'stats' }); m1 = machineTimes(); }
      else if (m.type === 'result') result = m;
      else return false;
      return true;
    });
    await new Promise((r) => lg.on('close', r));
    if (!result || result.error) throw new Error(result?.error ?? 'load generator gave no result');
    const [a, b] = await Promise.all([s0, s1]);
    const srvCpu = ((b.cpu.user + b.cpu.system - a.cpu.user - a.cpu.system) / 1000 / (b.t - a.t)) * 100;
    // The whole machine's busy time in % of one core, less the server's and the load generator's.
    const cores = os.cpus().length;
    const machine = m0 && m1 && m1.total > m0.total ? ((m1.busy - m0.busy) / (m1.total - m0.total)) * 100 * cores : null;
    const other = machine == null ? null : Math.max(0, machine - srvCpu - result.cpuPercent);
    return { scenario: name, threads, ok: true, msgsPerSec: result.msgsPerSec, p50: result.p50, p99: result.p99,
      srvCpu, genCpu: result.cpuPercent, other, perCpu: srvCpu > 0 ? result.msgsPerSec / (srvCpu / 100) : null, errors: result.errors };
  } catch (err) {
    return { scenario: name, threads, ok: false, error: err.message };
  } finally {
    if (lg && lg.exitCode === null) lg.kill('SIGKILL');
    try { server.send({ cmd: 'exit' }); } catch {}
    const t = setTimeout(() => server.kill('SIGKILL'), 2000);
    await serverGone;
    clearTimeout(t);
  }
}

const median = (xs) => { const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b); return v.length ? (v.length % 2 ? v[v.length >> 1] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2) : null; };
const pct = (x) => (x == null ? '-' : `${x.toFixed(0)}%`);
const count = (x) => (x == null ? '-' : x >= 1e6 ? `${(x / 1e6).toFixed(2)}M` : x >= 1e4 ? `${(x / 1e3).toFixed(1)}k` : x.toFixed(0));

console.error(`cores: ${only.join(', ')}; ${threadCounts.join(' / ')} thread(s), ${rounds} round(s) interleaved; warm-up ${warmupMs / 1000} s, measure ${durationMs / 1000} s; ` +
  `nothing pinned, ${os.cpus().length} CPUs shared by the server and the C load generator; servers on Node ${NODE_VERSION}; load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
const runs = [];
for (const name of only) {
  for (let r = 1; r <= rounds; r++) {
    for (const n of threadCounts) {
      const run = await runOne(name, n);
      runs.push(run);
      console.error(`  ${name} ${n} thread(s) #${r}: ` + (run.ok ? `${count(run.msgsPerSec)} msgs/s, server ${pct(run.srvCpu)}, loadgen ${pct(run.genCpu)}, others ${pct(run.other)}` : `ERROR ${run.error}`));
    }
  }
}

const rows = [];
const summary = [];
for (const name of only) {
  const base = median(runs.filter((r) => r.ok && r.scenario === name && r.threads === threadCounts[0]).map((r) => r.msgsPerSec));
  for (const n of threadCounts) {
    const ok = runs.filter((r) => r.ok && r.scenario === name && r.threads === n);
    const m = (k) => median(ok.map((r) => r[k]));
    const s = { scenario: name, threads: n, runs: ok.length, msgsPerSec: m('msgsPerSec'), srvCpu: m('srvCpu'), genCpu: m('genCpu'), other: m('other'), perCpu: m('perCpu'), p99: m('p99') };
    s.vsFirst = base && s.msgsPerSec ? s.msgsPerSec / base : null;
    summary.push(s);
    rows.push([name, String(n), count(s.msgsPerSec), s.vsFirst == null ? '-' : `${s.vsFirst.toFixed(2)}x`, pct(s.srvCpu),
      pct(s.genCpu) + (s.genCpu != null && s.genCpu >= GEN_LIMIT ? '!' : ''), pct(s.other), count(s.perCpu), s.p99 == null ? '-' : s.p99.toFixed(1)]);
  }
}
const headers = ['scenario', 'threads', 'msgs/s', `x ${threadCounts[0]} thr`, 'server CPU', 'loadgen CPU', 'others', 'msgs/CPU-s', 'p99 ms'];
const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (c) => c.map((x, i) => (i < 2 ? x.padEnd(widths[i]) : x.padStart(widths[i]))).join('  ');
console.log('\n' + [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n'));
console.log(`\nmedians of ${rounds} run(s); CPU in % of one core (the server's may reach ${100 * os.cpus().length}%); nothing pinned: the load ` +
  `generator (one thread, at most 100%) shares the ${os.cpus().length} cores with the server, so when it is marked "!" (>= ${GEN_LIMIT}%) ` +
  `the row measures the load generator and the thread ratio is a floor. Servers on Node ${NODE_VERSION}.`);
for (const r of runs) if (!r.ok) console.log(`  * ${r.scenario} / ${r.threads} thread(s): ERROR ${r.error}`);
if (jsonOut) {
  writeFileSync(jsonOut, JSON.stringify({ node: NODE_VERSION, cpus: os.cpus().length, loadavg: os.loadavg(), rounds, durationMs, warmupMs, summary, runs }, null, 2) + '\n');
  console.log(`wrote ${jsonOut}`);
}
