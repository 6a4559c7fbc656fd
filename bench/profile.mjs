#!/usr/bin/env node
// Where a benchmark server's time goes: runs one scenario of bench/run.mjs against one server
// started with `node --cpu-prof`, under the same load generator and pinning, then prints the
// functions with the most self time (and the profile's path, for Chrome DevTools).
//
//   node bench/profile.mjs echo-1k [ours|app|ws|tcp|unmask|http] [--duration S] [--top N] [--keep DIR] [--loadgen c|js]
//
// Sample shares are robust to other work on the machine (they are shares of the server's own
// samples, idle excluded), so this is the tool for "where does the time go", while bench/run.mjs
// answers "how fast, against ws". PROFILE_NODE_FLAGS adds node flags to the server (e.g.
// --no-turbo-inlining, so inlined callees keep their own samples).

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { buildCLoadgen, keyArgs } from './loadgen-c.mjs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const BENCH = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.dirname(BENCH);
const args = process.argv.slice(2);
const flag = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : def;
};
const positional = args.filter((a, i) => !a.startsWith('--') && !(i > 0 && args[i - 1].startsWith('--')));
const scenarioName = positional[0] ?? 'echo-1k';
const impl = positional[1] ?? 'ours';
const durationMs = Number(flag('--duration', 4)) * 1000;
const top = Number(flag('--top', 30));
const dir = flag('--keep', null) ?? mkdtempSync(path.join(os.tmpdir(), 'wasmsocket-prof-'));

const SCENARIOS = {
  'echo-32': { kind: 'echo', size: 32, binary: false, conns: 64, inflight: 16, refill: 4 },
  'echo-1k': { kind: 'echo', size: 1024, binary: false, conns: 64, inflight: 16, refill: 4 },
  'echo-16k': { kind: 'echo', size: 16384, binary: false, conns: 64, inflight: 4 },
  'echo-64k': { kind: 'echo', size: 65536, binary: true, conns: 16, inflight: 4 },
  'echo-1m': { kind: 'echo', size: 1 << 20, binary: true, conns: 4, inflight: 2 },
  broadcast: { kind: 'broadcast', size: 64, binary: false, conns: 256, inflight: 16 },
  setup: { kind: 'setup', concurrency: 16 },
};
// NAME-deflate: the same with permessage-deflate negotiated (as bench/run.mjs's *-deflate scenarios).
const deflate = scenarioName.endsWith('-deflate');
const scn = SCENARIOS[deflate ? scenarioName.slice(0, -'-deflate'.length) : scenarioName];
if (!scn) {
  console.error(`unknown scenario ${scenarioName}: ${Object.keys(SCENARIOS).join(', ')}`);
  process.exit(2);
}
const SERVERS = {
  ours: ['servers/wasmsocket-echo.mjs'],
  app: ['servers/app-echo.mjs'],
  ws: ['servers/ws-echo.mjs'],
  tcp: ['servers/ceiling.mjs', '--variant', 'tcp'],
  unmask: ['servers/ceiling.mjs', '--variant', 'unmask'],
  http: ['servers/ceiling.mjs', '--variant', 'http'],
};
const hasTaskset = spawnSync('sh', ['-c', 'command -v taskset']).status === 0 && os.cpus().length >= 2;
const pin = (cpu, cmd) => (hasTaskset ? ['taskset', '-c', String(cpu), ...cmd] : cmd);

const [script, ...extra] = SERVERS[impl];
const mode = scn.kind === 'broadcast' ? 'broadcast' : scn.kind === 'setup' && impl !== 'ours' && impl !== 'ws' ? 'setup' : 'echo';
const serverCmd = pin(0, [process.execPath, ...(process.env.PROFILE_NODE_FLAGS ?? '').split(' ').filter(Boolean), '--cpu-prof', '--cpu-prof-dir', dir, path.join(BENCH, script), ...extra, '--mode', mode, ...(deflate ? ['--deflate'] : [])]);
const server = spawn(serverCmd[0], serverCmd.slice(1), { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
const port = await new Promise((resolve, reject) => {
  let buf = '';
  server.stdout.on('data', (d) => {
    buf += d;
    const line = buf.split('\n').find((l) => l.includes('"ready"'));
    if (line) resolve(JSON.parse(line).port);
  });
  server.on('exit', () => reject(new Error('server exited')));
});

const cfg = { port, ...scn, deflate, maskedEcho: impl === 'tcp' || impl === 'http', warmupMs: 500, durationMs, hardDeadlineMs: durationMs + 30_000 };
// The C load generator, as `npm run bench` uses (--loadgen js: the Node one).
const cbin = flag('--loadgen', 'c') === 'js' ? null : buildCLoadgen().bin ?? null;
let result;
if (cbin) {
  const lgCmd = pin(1, [cbin, JSON.stringify(cfg), ...keyArgs()]);
  const lg = spawn(lgCmd[0], lgCmd.slice(1), { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  lg.stdout.on('data', (d) => { out += d; });
  await new Promise((r) => lg.on('exit', r));
  result = out.split('\n').filter((l) => l.includes('"result"')).map((l) => JSON.parse(l))[0] ?? null;
} else {
  const lgCmd = pin(1, [process.execPath, path.join(BENCH, 'loadgen.mjs'), JSON.stringify(cfg)]);
  const lg = spawn(lgCmd[0], lgCmd.slice(1), { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  result = await new Promise((resolve) => {
    let res = null;
    lg.on('message', (m) => { if (m?.type === 'result') res = m; });
    lg.on('exit', () => resolve(res));
  });
}
server.send({ cmd: 'exit' });
await new Promise((r) => server.on('exit', r));

const file = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).map((f) => path.join(dir, f)).pop();
const prof = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const self = new Map();
let total = 0;
let idle = 0;
for (let i = 0; i < prof.samples.length; i++) {
  const n = byId.get(prof.samples[i]);
  const dt = prof.timeDeltas[i] ?? 0;
  const f = n.callFrame;
  if (f.functionName === '(idle)') { idle += dt; continue; }
  total += dt;
  const file = f.url ? f.url.replace(/^.*\/(node_modules\/|dist\/|bench\/|node:)/, '$1') : '';
  const key = `${f.functionName || '(anonymous)'} ${file}${f.url ? `:${f.lineNumber + 1}` : ''}`;
  self.set(key, (self.get(key) ?? 0) + dt);
}
console.log(`${scenarioName} / ${impl}: ${result?.msgsPerSec?.toFixed(0) ?? '?'} msgs/s over the window; ` +
  `profile ${file}\nbusy ${(total / 1000).toFixed(0)} ms, idle ${(idle / 1000).toFixed(0)} ms; self time, % of busy samples:`);
for (const [k, v] of [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, top)) {
  console.log(`${((v / total) * 100).toFixed(1).padStart(5)}%  ${k}`);
}
