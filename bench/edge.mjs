#!/usr/bin/env node
// wasmsocket/app on Deno and Bun against each runtime's own WebSocket server
// (issue 23's edge targets: the App on Deno >= 1.5x Deno's native server, on
// Bun >= 0.8x Bun.serve's), echo 32 B and 1 KiB, driven by the C load generator
// of `npm run bench` (bench/loadgen.c: 64 connections x 16 messages in flight,
// the same scenarios as run.mjs's echo-32 and echo-1k). Interleaved: every
// round runs each runtime's native server and the App back to back (the order
// alternating per round), so a busier moment of the machine falls on both.
//
//   node bench/edge.mjs                       # 3 rounds, 1 s warm-up + 3 s measured per run
//   node bench/edge.mjs --quick               # smoke run: 1 round, 0.3 s + 1 s
//   node bench/edge.mjs --runtimes deno --only echo-32 --rounds 5
//   node bench/edge.mjs --src                 # the App from src/ instead of the built dist/
//   node bench/edge.mjs --json [--out FILE]   # also write bench/results-edge.json (or FILE)
//   node bench/edge.mjs --no-pin              # do not pin (taskset) server and load generator
//   node bench/edge.mjs --ceiling             # also each runtime's ceilings (bench/servers/edge-ceiling.ts):
//                                             # its raw TCP echo, and that plus an ArrayBuffer lent per message
//
// The servers are bench/servers/edge-app.ts (app | native). Server and load
// generator each pinned to one core (taskset), as run.mjs does; the server's
// CPU is read from /proc/<pid>/stat over the measurement window (any runtime,
// no help from the server), so each row also shows the server's CPU per
// message. Every process is bounded: the load generator ends after its window
// (hard deadline), servers exit when their stdin closes and are killed after
// 3 s, the whole run gives up after 20 minutes.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildCLoadgen, keyArgs } from './loadgen-c.mjs';
import { TASKSET, allowedCpus, newestMtime, onJsonLines } from './machine.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const flag = (name, def) => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1] : def; };
const quick = args.includes('--quick');
const runtimes = flag('runtimes', 'deno,bun').split(',');
const rounds = Number(flag('rounds', quick ? 1 : 3));
const warmupMs = Math.round(Number(flag('warmup', quick ? 0.3 : 1)) * 1000);
const durationMs = Math.round(Number(flag('duration', quick ? 1 : 3)) * 1000);
const fromSrc = args.includes('--src');
const pin = !args.includes('--no-pin');
const withCeiling = args.includes('--ceiling');
const jsonOut = args.includes('--json') ? flag('out', path.join(ROOT, 'bench', 'results-edge.json')) : null;
if (args.includes('--help')) {
  console.log(readFileSync(fileURLToPath(import.meta.url), "utf8").split("\n").slice(1, 18).map((l) => l.replace(/^\/\/ ?/, '')).join('\n'));
  process.exit(0);
}

// The targets of issue 23: the App's throughput as a share of the runtime's own server.
const TARGETS = { deno: 1.5, bun: 0.8 };
const SCENARIOS = [
  { name: 'echo-32', size: 32, conns: 64, inflight: 16, refill: 4, desc: 'echo, 32 B text, 64 conns x 16 in flight' },
  { name: 'echo-1k', size: 1024, conns: 64, inflight: 16, refill: 4, desc: 'echo, 1 KiB text, 64 conns x 16 in flight' },
].filter((s) => { const only = flag('only'); return !only || only.split(',').some((o) => s.name.startsWith(o)); });
const BIN = { deno: path.join(ROOT, 'node_modules', '.bin', 'deno'), bun: path.join(ROOT, 'node_modules', '.bin', 'bun') };
const SERVER = 'bench/servers/edge-app.ts';
const RUN_LIMIT_MS = 20 * 60_000;

// ---- environment ------------------------------------------------------------------------------

const CPUS = allowedCpus();
const PIN = pin && TASKSET && CPUS.length >= 2 ? { server: CPUS[0], loadgen: CPUS[1] } : null;

const notes = [];
const note = (m) => { notes.push(m); console.error(`edge: ${m}`); };
if (!PIN) note(pin ? 'not pinned (no taskset or fewer than 2 CPUs)' : 'pinning disabled (--no-pin)');
let useSrc = fromSrc;
if (!useSrc) {
  const missing = ['app-deno.js', 'app-bun.js'].filter((f) => !existsSync(path.join(ROOT, 'dist', f)));
  if (missing.length) { note(`dist/${missing.join(', dist/')} missing (npm run build): the App runs from src/`); useSrc = true; }
  else if (statSync(path.join(ROOT, 'dist', 'app-deno.js')).mtimeMs < newestMtime(path.join(ROOT, 'src'))) note('dist/ is older than src/: run `npm run build` to measure the current sources');
}
const built = buildCLoadgen();
if (!built.bin) { console.error(`edge: the C load generator could not be built (${built.why})`); process.exit(1); }
for (const rt of runtimes) if (!BIN[rt] || !existsSync(BIN[rt])) { console.error(`edge: ${rt} is not installed at ${BIN[rt]}`); process.exit(1); }

function version(rt) {
  const r = spawnSync(BIN[rt], ['--version'], { encoding: 'utf8' });
  const v = /(\d+\.\d+\.\d+)/.exec(r.stdout || '')?.[1] ?? '?';
  return `${rt === 'deno' ? 'Deno' : 'Bun'} ${v}`;
}

// ---- processes --------------------------------------------------------------------------------

const children = new Set();
function spawnPinned(cmd, cpu, stdio) {
  if (PIN && cpu != null) cmd = [TASKSET, '-c', String(cpu), ...cmd];
  const child = spawn(cmd[0], cmd.slice(1), { cwd: ROOT, stdio, env: { ...process.env, NO_COLOR: '1', DENO_NO_UPDATE_CHECK: '1' } });
  children.add(child);
  child.exited = new Promise((r) => child.on('close', (code, signal) => { children.delete(child); r({ code, signal }); }));
  child.on('error', () => {});
  return child;
}
function killAll() { for (const c of children) try { c.kill('SIGKILL'); } catch { /* gone */ } }
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { killAll(); process.exit(130); });
setTimeout(() => { console.error('edge: gave up after 20 minutes'); killAll(); process.exit(1); }, RUN_LIMIT_MS).unref();

const CEILINGS = ['tcp', 'lend'];

function startServer(rt, impl) {
  const script = CEILINGS.includes(impl) ? ['bench/servers/edge-ceiling.ts', impl] : [SERVER, impl, ...(useSrc ? ['--src'] : [])];
  const cmd = rt === 'deno'
    ? [BIN.deno, 'run', '--allow-net=127.0.0.1', '--allow-read', '--config', 'runtimes/deno/deno.json', ...script]
    : [BIN.bun, ...script];
  const child = spawnPinned(cmd, PIN?.server, ['pipe', 'pipe', 'inherit']);
  child.stdin.on('error', () => {});
  const ready = new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${rt} ${impl} did not start in 30 s`)), 30_000);
    onJsonLines(child.stdout, `${rt} ${impl}`, (m) => { if (!m.ready) return false; clearTimeout(t); resolve(m); return true; });
    child.exited.then(({ code }) => { clearTimeout(t); reject(new Error(`${rt} ${impl} exited (${code}) before it was ready`)); });
  });
  return { child, ready };
}

async function stopServer(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const t = setTimeout(() => child.kill('SIGKILL'), 3000);
  child.stdin.end();
  await child.exited;
  clearTimeout(t);
}

/** utime + stime of a process in ms (/proc/<pid>/stat), or null. */
function cpuMs(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(f[11]) + Number(f[12]); // utime, stime (fields 14 and 15)
    return (ticks * 1000) / CLK_TCK;
  } catch {
    return null;
  }
}
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100;

/** One run: a fresh server, the load generator against it; msgs/s, the server's CPU. */
async function runOne(rt, impl, scn) {
  const run = { runtime: rt, impl, scenario: scn.name };
  const { child, ready } = startServer(rt, impl);
  let lg = null;
  try {
    const { port } = await ready;
    const cfg = {
      port, kind: 'echo', size: scn.size, binary: false, conns: scn.conns, inflight: scn.inflight, refill: scn.refill,
      deflate: false, maskedEcho: CEILINGS.includes(impl), warmupMs, durationMs, openTimeoutMs: 30_000, hardDeadlineMs: warmupMs + durationMs + 30_000,
    };
    lg = spawnPinned([built.bin, JSON.stringify(cfg), ...keyArgs()], PIN?.loadgen, ['pipe', 'pipe', 'inherit']);
    lg.stdin.on('error', () => {});
    let result = null;
    let t0 = null;
    let t1 = null;
    onJsonLines(lg.stdout, 'loadgen', (m) => {
      if (m.type === 'measure-start') t0 = { t: performance.now(), cpu: cpuMs(child.pid) };
      else if (m.type === 'measure-end') t1 = { t: performance.now(), cpu: cpuMs(child.pid) };
      else if (m.type === 'result') result = m;
      else return typeof m.type === 'string';
      return true;
    });
    const limit = cfg.hardDeadlineMs + 10_000;
    let timer;
    const timedOut = await Promise.race([lg.exited.then(() => false), new Promise((r) => { timer = setTimeout(() => r(true), limit); })]);
    clearTimeout(timer);
    if (timedOut) throw new Error(`load generator did not finish within ${limit} ms`);
    if (!result) throw new Error('load generator exited without a result');
    if (result.error) throw new Error(`load generator: ${result.error}`);
    if (result.badFrames > 0) throw new Error(`server sent ${result.badFrames} unexpected frame(s): ${result.badSample}`);
    if (!(result.msgsPerSec > 0)) throw new Error(`no messages completed (${result.errorSamples?.join('; ') || 'no errors reported'})`);
    run.msgsPerSec = result.msgsPerSec;
    run.p50 = result.p50;
    run.p99 = result.p99;
    run.genCpu = result.cpuPercent;
    if (t0?.cpu != null && t1?.cpu != null) {
      run.srvCpu = ((t1.cpu - t0.cpu) / (t1.t - t0.t)) * 100;
      run.usPerMsg = ((t1.cpu - t0.cpu) * 1000) / (result.msgsPerSec * ((t1.t - t0.t) / 1000));
    }
    run.ok = true;
  } catch (e) {
    run.error = e.message;
  } finally {
    if (lg && lg.exitCode === null && lg.signalCode === null) lg.kill('SIGKILL');
    await stopServer(child);
  }
  return run;
}

// ---- run --------------------------------------------------------------------------------------

const median = (xs) => {
  const s = xs.filter((x) => x != null && Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return null;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const fmt = (n) => (n == null ? '-' : n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}k` : n.toFixed(0));
const pct = (n) => (n == null ? '-' : `${n.toFixed(0)}%`);

const versions = Object.fromEntries(runtimes.map((rt) => [rt, version(rt)]));
console.log(`edge: ${runtimes.map((rt) => versions[rt]).join(', ')}, Node ${process.version} (runner only); the App from ${useSrc ? 'src/' : 'dist/'}; ` +
  `${rounds} round(s) of ${warmupMs / 1000} s warm-up + ${durationMs / 1000} s; ` +
  `${PIN ? `server on CPU ${PIN.server}, load generator (bench/loadgen.c) on CPU ${PIN.loadgen}` : 'not pinned'}`);

const runs = [];
for (let round = 0; round < rounds; round++) {
  for (const scn of SCENARIOS) {
    for (const rt of runtimes) {
      const order = [...(round % 2 === 0 ? ['native', 'app'] : ['app', 'native']), ...(withCeiling ? CEILINGS : [])];
      for (const impl of order) {
        const r = await runOne(rt, impl, scn);
        r.round = round;
        runs.push(r);
        console.log(`  round ${round + 1} ${scn.name} ${rt} ${impl.padEnd(6)} ` +
          (r.ok ? `${fmt(r.msgsPerSec)} msg/s, server CPU ${pct(r.srvCpu)}, loadgen CPU ${pct(r.genCpu)}` : `FAILED: ${r.error}`));
      }
    }
  }
}

const rows = [];
for (const scn of SCENARIOS) {
  for (const rt of runtimes) {
    const pick = (impl) => runs.filter((r) => r.ok && r.runtime === rt && r.impl === impl && r.scenario === scn.name);
    const nat = pick('native');
    const app = pick('app');
    const row = {
      scenario: scn.name, runtime: rt,
      native: median(nat.map((r) => r.msgsPerSec)), app: median(app.map((r) => r.msgsPerSec)),
      nativeUsPerMsg: median(nat.map((r) => r.usPerMsg)), appUsPerMsg: median(app.map((r) => r.usPerMsg)),
      nativeSrvCpu: median(nat.map((r) => r.srvCpu)), appSrvCpu: median(app.map((r) => r.srvCpu)),
      genCpu: median([...nat, ...app].map((r) => r.genCpu)),
      target: TARGETS[rt], rounds: Math.min(nat.length, app.length),
    };
    row.ratio = row.native && row.app ? row.app / row.native : null;
    // The same comparison by the server's CPU per message: steadier than msg/s
    // when other processes take part of the server's core.
    row.cpuRatio = row.nativeUsPerMsg && row.appUsPerMsg ? row.nativeUsPerMsg / row.appUsPerMsg : null;
    row.met = row.ratio == null ? null : row.ratio >= row.target;
    rows.push(row);
  }
}

console.log('');
console.log('| scenario | runtime | native msg/s | App msg/s | App / native | target | server CPU native / App | server µs per msg native / App | by CPU per msg | loadgen CPU |');
console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const r of rows) {
  console.log(`| ${r.scenario} | ${versions[r.runtime]} | ${fmt(r.native)} | ${fmt(r.app)} | ${r.ratio == null ? '-' : `**${r.ratio.toFixed(2)}x**`} | ` +
    `≥ ${r.target}x ${r.met == null ? '' : r.met ? '(met)' : '(missed)'} | ${pct(r.nativeSrvCpu)} / ${pct(r.appSrvCpu)} | ` +
    `${r.nativeUsPerMsg?.toFixed(2) ?? '-'} / ${r.appUsPerMsg?.toFixed(2) ?? '-'} | ${r.cpuRatio == null ? '-' : `${r.cpuRatio.toFixed(2)}x`} | ${pct(r.genCpu)} |`);
}
if (withCeiling) {
  console.log('');
  console.log('Ceilings: the runtime\'s raw TCP echo (tcp), and that plus one ArrayBuffer made and detached per message (lend), as bench/README.md describes');
  console.log('| scenario | runtime | tcp msg/s | lend msg/s | server µs per msg tcp / lend / native / App |');
  console.log('|---|---|---:|---:|---:|');
  for (const scn of SCENARIOS) {
    for (const rt of runtimes) {
      const pick = (impl) => runs.filter((r) => r.ok && r.runtime === rt && r.impl === impl && r.scenario === scn.name);
      const us = (impl) => median(pick(impl).map((r) => r.usPerMsg))?.toFixed(2) ?? '-';
      console.log(`| ${scn.name} | ${versions[rt]} | ${fmt(median(pick('tcp').map((r) => r.msgsPerSec)))} | ${fmt(median(pick('lend').map((r) => r.msgsPerSec)))} | ` +
        `${us('tcp')} / ${us('lend')} / ${us('native')} / ${us('app')} |`);
    }
  }
}
const failed = runs.filter((r) => !r.ok);
if (failed.length) console.log(`\n${failed.length} run(s) failed: ${failed.map((r) => `${r.scenario} ${r.runtime} ${r.impl}: ${r.error}`).join('; ')}`);
for (const r of rows) if (r.genCpu != null && r.genCpu > 90) console.log(`note: ${r.scenario} on ${r.runtime}: the load generator ran at ${pct(r.genCpu)} of its core, so the faster server may be capped by it`);
if (quick) console.log('note: --quick is a smoke run (1 round, 1 s): not figures to quote');
if (jsonOut) {
  writeFileSync(jsonOut, JSON.stringify({ date: new Date().toISOString(), versions, fromSrc: useSrc, rounds, warmupMs, durationMs, pin: PIN, notes, rows, runs }, null, 2));
  console.log(`wrote ${path.relative(ROOT, jsonOut)}`);
}
killAll();
process.exit(failed.length ? 1 : 0);
