#!/usr/bin/env node
// `npm run test:runtimes`: the codec as a deliverable in each runtime.
//
//   node    vectors (build by feature detection; scalar forced by env and by API)
//           + the server-side conformance cases against our Node server
//   deno    vectors (detected; scalar by env and API) + the echo server of
//           runtimes/deno/ on Deno.listen, importing wasmsocket/web from the
//           packed package (npm pack, installed into a fresh project): the
//           same conformance cases, and our Node client and `ws` against it;
//           then runtimes/stream-client.mjs (WebSocketStream from the packed
//           wasmsocket/web over Deno.connect) against our Node server
//   bun     the same with runtimes/bun/ on Bun.listen (the client over Bun.connect)
//   workerd vectors (detected; scalar) in a Worker under `workerd serve`, and
//           the Worker's WebSocketStream (wasmsocket/web from the packed
//           package, over connect()) against our Node server
//   chromium vectors (detected; scalar) in a page
//
// Prints one line per runtime, `runtime <name>: N passed, N failed`, then
// `runtimes: N passed, N failed`; exits 1 if anything failed or a runtime ran
// nothing. Options: --only=deno,bun (a subset), --verbose (every check).
// Every process it starts is bounded in time and ended before it exits.
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { workerdConfig } from './workerd/config.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = (name) => join(ROOT, 'node_modules', '.bin', name);
const RUNTIMES = ['node', 'deno', 'bun', 'workerd', 'chromium'];
const only = process.argv.find((a) => a.startsWith('--only='))?.slice(7).split(',') ?? RUNTIMES;
const verbose = process.argv.includes('--verbose');
const DEFAULT_MAX = 100 * 1024 * 1024; // ws's default maxPayload, what the Node suite's default server has
const LIMITED_MAX = 1000;              // test/conformance/limits.test.ts's MAX
const CONFORMANCE_FILTER = '^(server |no crash)'; // the server-side describes of test/conformance

const started = Date.now();
// Builds and generated files go to a fresh folder under node_modules/.cache (so
// that the Node bundle's bare imports resolve to this checkout's node_modules),
// removed at the end.
mkdirSync(join(ROOT, 'node_modules', '.cache'), { recursive: true });
const tmp = mkdtempSync(join(ROOT, 'node_modules', '.cache', 'wasmsocket-runtimes-'));
const children = new Set();

// ---------------------------------------------------------------------------
// processes

/** The environment for children: without vitest's and CI's variables meant for the parent run. */
function childEnv(extra = {}) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('VITEST') || k === 'WASMSOCKET_JSON_REPORT' || k === 'WS_IMPL' || k === 'CONFORMANCE_TARGET' ||
      k === 'WASMSOCKET_FORCE_SCALAR' || k === 'NODE_OPTIONS' || k === 'TINYPOOL_WORKER_ID') continue;
    env[k] = v;
  }
  return { ...env, NO_COLOR: '1', DENO_NO_UPDATE_CHECK: '1', ...extra };
}

function killTree(child) {
  if (child.exitCode === null && child.signalCode === null) {
    try { child.kill('SIGKILL'); } catch { /* gone */ }
  }
}

/** Runs a command to completion (killed after timeoutMs); resolves { code, stdout, stderr }. */
function run(cmd, args, { env = childEnv(), timeoutMs = 60_000, cwd = ROOT } = {}) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => { stderr += `\n[killed after ${timeoutMs} ms]`; killTree(child); }, timeoutMs);
    child.on('error', (e) => { stderr += String(e); });
    child.on('close', (code) => {
      clearTimeout(timer);
      children.delete(child);
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * Starts a server that prints `LISTENING {...}` lines and exits when its stdin
 * closes; resolves once `count` listeners are reported.
 */
function startServer(cmd, args, count, { timeoutMs = 20_000, extraFds = 0, cwd = ROOT } = {}) {
  return new Promise((resolve, reject) => {
    const stdio = ['pipe', 'pipe', 'pipe', ...Array(extraFds).fill('pipe')];
    const child = spawn(cmd, args, { cwd, env: childEnv(), stdio });
    children.add(child);
    const listeners = [];
    let out = '';
    let err = '';
    const timer = setTimeout(() => { killTree(child); reject(new Error(`${cmd} did not start within ${timeoutMs} ms: ${err || out}`)); }, timeoutMs);
    child.stdout.on('data', (d) => {
      out += d;
      for (const m of out.matchAll(/^LISTENING (\{.*\})$/gm)) if (listeners.length < count) listeners.push(JSON.parse(m[1]));
      out = out.slice(out.lastIndexOf('\n') + 1);
      if (listeners.length === count) {
        clearTimeout(timer);
        resolve({ child, listeners, stderr: () => err, stop: () => stopServer(child) });
      }
    });
    child.stderr.on('data', (d) => { err += d; });
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('close', (code) => {
      children.delete(child);
      clearTimeout(timer);
      if (listeners.length < count) reject(new Error(`${cmd} exited (${code}) before listening: ${err || out}`));
    });
  });
}

/** Closes the server's stdin (it exits by itself), SIGKILL if it is still there after 3 s. */
function stopServer(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => killTree(child), 3000);
    child.on('close', () => { clearTimeout(timer); resolve(); });
    child.stdin?.end();
    child.kill('SIGTERM');
  });
}

// ---------------------------------------------------------------------------
// results

const results = Object.fromEntries(RUNTIMES.map((r) => [r, { passed: 0, failed: 0, failures: [], notes: [] }]));

function record(runtime, name, ok, error) {
  const r = results[runtime];
  if (ok) r.passed++; else { r.failed++; r.failures.push(`${name}${error ? `: ${error}` : ''}`); }
  if (verbose) console.log(`  [${runtime}] ${ok ? 'ok  ' : 'FAIL'} ${name}${!ok && error ? `: ${error}` : ''}`);
}

function note(runtime, text) {
  results[runtime].notes.push(text);
}

/** Adds a vectors result (from vectors-runner.mjs) under `label`. */
function recordVectors(runtime, label, res) {
  if (!res) { record(runtime, `vectors (${label})`, false, 'no result'); return; }
  const r = results[runtime];
  r.passed += res.passed;
  r.failed += res.failed;
  for (const f of res.failures) r.failures.push(`vectors (${label}): ${f}`);
  note(runtime, `vectors, ${label}: ${res.passed} passed, ${res.failed} failed (${res.simd ? 'SIMD' : 'scalar'} build ran)`);
}

function parseVectors(out) {
  const line = out.stdout.split('\n').find((l) => l.startsWith('VECTORS '));
  if (!line) return { passed: 0, failed: 1, failures: [`no result (exit ${out.code}): ${(out.stderr || out.stdout).slice(-800)}`], simd: null };
  return JSON.parse(line.slice('VECTORS '.length));
}

// ---------------------------------------------------------------------------
// builds: the entries as tsup builds them (esbuild), fresh from src/, into tmp

async function bundles() {
  mkdirSync(join(tmp, 'bundle'));
  mkdirSync(join(tmp, 'workerd'));
  const common = { bundle: true, format: 'esm', logLevel: 'error', absWorkingDir: ROOT };
  await Promise.all([
    // what dist/codec.js is: the entry for node, deno, bun and default
    build({ ...common, entryPoints: ['src/codec/index.ts'], outfile: join(tmp, 'bundle', 'codec.js'), platform: 'neutral', target: 'es2022' }),
    // dist/browser.js
    build({ ...common, entryPoints: ['src/entries/browser.ts'], outfile: join(tmp, 'bundle', 'browser.js'), platform: 'neutral', target: 'es2022' }),
    // our Node WebSocket / WebSocketServer (dist/index.js)
    build({ ...common, entryPoints: ['src/index.ts'], outfile: join(tmp, 'bundle', 'node.js'), platform: 'node', target: 'node20', packages: 'external' }),
  ]);
}

/**
 * The Worker, bundled as a user's would be: wasmsocket/codec and wasmsocket/web
 * resolved (condition "workerd") in the project where the packed package is
 * installed, the vector data inlined; the package's own wasm files as modules.
 */
async function bundleWorker(project) {
  const pkg = join(project, 'node_modules', 'wasmsocket');
  const fromProject = {
    name: 'wasmsocket-from-project',
    setup(b) {
      // (pluginData marks the inner lookup, which this hook must not answer again)
      b.onResolve({ filter: /^wasmsocket\/(codec|web)$/ }, (args) => (args.pluginData === 'inner' ? undefined
        : b.resolve(args.path, { resolveDir: project, kind: args.kind, pluginData: 'inner' })));
    },
  };
  await build({
    bundle: true, format: 'esm', logLevel: 'error', absWorkingDir: ROOT, entryPoints: ['runtimes/workerd/worker.ts'],
    outfile: join(tmp, 'workerd', 'worker.js'), platform: 'neutral', target: 'es2022', conditions: ['workerd', 'worker'],
    external: ['wasmsocket/wasm', 'wasmsocket/wasm/scalar', 'cloudflare:sockets'], plugins: [fromProject],
  });
  copyFileSync(join(pkg, 'build', 'wasmsocket.wasm'), join(tmp, 'workerd', 'wasmsocket.wasm'));
  copyFileSync(join(pkg, 'build', 'wasmsocket.scalar.wasm'), join(tmp, 'workerd', 'wasmsocket.scalar.wasm'));
  writeFileSync(join(tmp, 'workerd', 'config.capnp'), workerdConfig());
}

// ---------------------------------------------------------------------------
// the package as users get it: `npm pack` of this checkout, installed into a
// fresh project per runtime (the Deno and Bun echo servers and the Worker
// import wasmsocket/web from there)

/** Newest modification time under a folder (ms). */
function newest(dir) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

let tarball;
const projects = [];
async function packedProject(runtime) {
  if (!tarball) {
    // npm pack ships dist/ as it is: it must be built from the current src/.
    if (!existsSync(join(ROOT, 'dist', 'web.js')) || statSync(join(ROOT, 'dist', 'web.js')).mtimeMs < newest(join(ROOT, 'src'))) {
      throw new Error('dist/ is older than src/ (or missing): run `npm run build` first');
    }
    const packDir = join(tmp, 'pack');
    mkdirSync(packDir);
    const packed = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', packDir], { timeoutMs: 120_000 });
    if (packed.code !== 0) throw new Error(`npm pack failed: ${packed.stderr.slice(-800)}`);
    tarball = join(packDir, JSON.parse(packed.stdout)[0].filename);
  }
  // Outside node_modules (Deno strips no types there), removed at the end.
  const project = mkdtempSync(join(tmpdir(), `wasmsocket-${runtime}-project-`));
  projects.push(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({
    name: `wasmsocket-${runtime}-check`, private: true, type: 'module', dependencies: { wasmsocket: `file:${tarball}` },
  }, null, 2));
  const installed = await run('npm', ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts'], { cwd: project, timeoutMs: 120_000 });
  if (installed.code !== 0) throw new Error(`npm install of the packed package failed: ${installed.stderr.slice(-800)}`);
  note(runtime, `the package: ${tarball.slice(tarball.lastIndexOf('/') + 1)} (npm pack) installed into a fresh project`);
  return project;
}

// ---------------------------------------------------------------------------
// the pieces

const CODEC = () => join(tmp, 'bundle', 'codec.js');

/** The vectors in Node, Deno or Bun: by feature detection, scalar by env, scalar by API. */
async function vectorsIn(runtime, cmd, preArgs) {
  const args = [...preArgs, 'runtimes/vectors-main.mjs', CODEC()];
  recordVectors(runtime, 'build by feature detection', parseVectors(await run(cmd, args)));
  recordVectors(runtime, 'scalar forced by WASMSOCKET_FORCE_SCALAR=1',
    parseVectors(await run(cmd, [...args, '--scalar=env'], { env: childEnv({ WASMSOCKET_FORCE_SCALAR: '1' }) })));
  recordVectors(runtime, 'scalar forced by forceScalar()', parseVectors(await run(cmd, [...args, '--scalar=api'])));
}

/** The server-side conformance cases (test/conformance) via vitest; target: undefined = our Node server. */
async function conformance(label, target) {
  const out = join(tmp, `conformance-${label}.json`);
  const env = childEnv(target ? { CONFORMANCE_TARGET: target } : {});
  // An external target speaks HTTP/1.1 only: not the conformance-h2 project (vitest.config.ts).
  const res = await run(process.execPath, [join(ROOT, 'node_modules', 'vitest', 'vitest.mjs'), 'run', 'test/conformance',
    ...(target ? ['--project', 'node'] : []),
    '-t', CONFORMANCE_FILTER, '--reporter=json', `--outputFile=${out}`], { env, timeoutMs: 150_000 });
  let report;
  try { report = JSON.parse(readFileSync(out, 'utf8')); } catch {
    return { error: `vitest wrote no report (exit ${res.code}): ${(res.stderr || res.stdout).slice(-1500)}` };
  }
  const cases = new Map();
  for (const file of report.testResults) {
    for (const a of file.assertionResults) {
      cases.set(a.fullName, { status: a.status, message: (a.failureMessages ?? []).join(' ').split('\n')[0] });
    }
    if (file.status === 'failed' && file.assertionResults.length === 0) cases.set(file.name, { status: 'failed', message: file.message });
  }
  return { cases };
}

function recordConformance(runtime, label, conf, reference) {
  if (conf.error) { record(runtime, `conformance (${label})`, false, conf.error); return; }
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  for (const [name, c] of conf.cases) {
    if (c.status === 'passed') { passed++; record(runtime, `conformance: ${name}`, true); }
    else if (c.status === 'failed') { failed++; record(runtime, `conformance: ${name}`, false, c.message); }
    else if (reference?.cases.get(name)?.status === 'passed') skipped++;
  }
  note(runtime, `conformance (server-side cases of test/conformance against ${label}): ${passed} passed, ${failed} failed` +
    (reference ? `, ${skipped} skipped (need server options or the server-side socket)` : ''));
  if (reference && !reference.error) {
    // The same cases as the Node server: whatever passed there passed here, unless skipped for an external target.
    const missing = [...reference.cases].filter(([n, c]) => c.status === 'passed' && !['passed', 'skipped', 'pending', 'known'].includes(conf.cases.get(n)?.status ?? 'absent'));
    record(runtime, `conformance: every case the Node server passes, the ${label} passes too (or skips for an external target)`,
      missing.length === 0, missing.map(([n]) => n).slice(0, 5).join('; '));
  }
}

async function clientsAgainst(runtime, label, server) {
  const { clientScenarios } = await import(pathToFileURL(join(ROOT, 'runtimes', 'node', 'clients.mjs')).href);
  const ours = (await import(pathToFileURL(join(tmp, 'bundle', 'node.js')).href)).WebSocket;
  const { WebSocket: Ws } = await import('ws');
  const [def, lim] = server.listeners;
  for (const [name, Impl] of [['wasmsocket client', ours], ['ws client', Ws]]) {
    const checks = await clientScenarios(Impl, `${name} -> ${label}`, def.port, lim.port, lim.maxPayload);
    for (const c of checks) record(runtime, c.name, c.ok, c.error);
    note(runtime, `${name} against the ${label}: ${checks.filter((c) => c.ok).length} of ${checks.length} scenarios passed`);
  }
}

/** The vectors, then the runtime's echo server (runtimes/<runtime>/echo-server.ts) run in a project with the packed package. */
async function echoServerRuntime(runtime, cmd, serverArgs, clientArgs, vectorArgs, nodeRef) {
  await vectorsIn(runtime, cmd, vectorArgs);
  let server;
  let project;
  try {
    project = await packedProject(runtime);
    copyFileSync(join(ROOT, 'runtimes', runtime, 'echo-server.ts'), join(project, 'echo-server.ts'));
    server = await startServer(cmd, [...serverArgs, 'echo-server.ts', String(DEFAULT_MAX), String(LIMITED_MAX), '--ttl=600'], 2, { cwd: project });
  } catch (e) {
    record(runtime, `${runtime} echo server starts`, false, e.message);
    return;
  }
  const label = `${runtime[0].toUpperCase()}${runtime.slice(1)} echo server (wasmsocket/web from the packed package)`;
  try {
    const [def, lim] = server.listeners;
    recordConformance(runtime, label, await conformance(runtime, `127.0.0.1:${def.port},maxPayload=${lim.maxPayload}@127.0.0.1:${lim.port}`), nodeRef);
    await clientsAgainst(runtime, label, server);
  } finally {
    await server.stop();
    const err = server.stderr().trim();
    if (err) note(runtime, `server stderr: ${err.slice(0, 500)}`);
  }
  await appServerIn(runtime, cmd, serverArgs, project, nodeRef);
  await streamClientIn(runtime, cmd, clientArgs, project);
}

// Where the App's upgrade handling differs from what test/conformance expects
// of a ws-style server (the same on Node, Deno and Bun: src/app/app.ts and
// http-connection.ts decide it). Each is a note, not a failure; one that
// starts passing is a failure until it is taken off this list.
const APP_KNOWN_DIFFERENCES = new Map([
  ['Sec-WebSocket-Version: 8 -> 101, as ws answers it', 'the App accepts version 13 only (426 with Sec-WebSocket-Version: 13)'],
  ['POST upgrade request -> 400/405', 'not an upgrade to the App: routed as HTTP, 404 from the catch-all route'],
  ['missing Upgrade header -> 400/426, never 101', 'not an upgrade to the App: routed as HTTP (404)'],
  ['Upgrade: h2c -> 400/426', 'not an upgrade to the App: routed as HTTP (404)'],
  ['missing Connection: Upgrade -> 400/426', 'not an upgrade to the App: routed as HTTP (404)'],
]);

/**
 * runtimes/app/server.ts in the project with the packed package: wasmsocket/app
 * (its "deno" / "bun" condition) as two echo servers, 100 MiB and 1000-byte
 * messages; the same conformance cases and Node clients as the runtime's echo server.
 */
async function appServerIn(runtime, cmd, serverArgs, project, nodeRef) {
  copyFileSync(join(ROOT, 'runtimes', 'app', 'server.ts'), join(project, 'app-server.ts'));
  let server;
  try {
    server = await startServer(cmd, [...serverArgs, 'app-server.ts', '--package'], 2, { cwd: project });
  } catch (e) {
    record(runtime, `${runtime} App echo server starts`, false, e.message);
    return;
  }
  const label = `${runtime[0].toUpperCase()}${runtime.slice(1)} App echo server (wasmsocket/app from the packed package)`;
  try {
    const [def, lim] = server.listeners;
    const conf = await conformance(`${runtime}-app`, `127.0.0.1:${def.port},maxPayload=${lim.maxPayload}@127.0.0.1:${lim.port}`);
    for (const [name, c] of conf.cases ?? []) {
      const known = [...APP_KNOWN_DIFFERENCES].find(([k]) => name.endsWith(k));
      if (!known) continue;
      if (c.status === 'failed') { c.status = 'known'; note(runtime, `App, known difference: ${known[0]}: ${known[1]}`); }
      else if (c.status === 'passed') record(runtime, `App: "${known[0]}" passes now: take it off APP_KNOWN_DIFFERENCES`, false);
    }
    recordConformance(runtime, label, conf, nodeRef);
    await clientsAgainst(runtime, label, server);
  } finally {
    await server.stop();
    const err = server.stderr().trim();
    if (err) note(runtime, `App server stderr: ${err.slice(0, 500)}`);
  }
}

/** Our Node server (the fresh bundle): echo, and 'close-me <code>' closes from the server side with 'server bye'. */
async function startNodeEchoServer() {
  const { WebSocketServer } = await import(pathToFileURL(join(tmp, 'bundle', 'node.js')).href);
  // permessage-deflate on: the WebSocketStream clients of wasmsocket/web offer it.
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: true });
  const closes = [];
  const errors = [];
  wss.on('connection', (ws, req) => {
    ws.on('error', (e) => errors.push(e.message));
    ws.on('close', (code) => closes.push({ code, path: req.url }));
    ws.on('message', (data, isBinary) => {
      const m = !isBinary && /^close-me (\d+)$/.exec(data.toString());
      if (m) ws.close(Number(m[1]), 'server bye');
      else ws.send(data, { binary: isBinary });
    });
  });
  await new Promise((r, j) => { wss.once('listening', r); wss.once('error', j); });
  return {
    port: wss.address().port,
    /** Records what the server saw of a client's connections: the close codes the scenarios send, and no errors. */
    async verify(runtime, who) {
      await new Promise((r) => setTimeout(r, 200));
      const codes = new Set(closes.map((c) => c.code));
      for (const code of [1000, 3000, 3001, 4000, 4999, 4002]) {
        record(runtime, `Node server received close ${code} from the ${who}`, codes.has(code), `saw ${[...codes].join(',')}`);
      }
      record(runtime, `Node server reported no errors from the ${who}`, errors.length === 0, errors.join('; '));
    },
    async close() {
      for (const c of wss.clients) c.terminate();
      await new Promise((r) => wss.close(() => r()));
    },
  };
}

/** runtimes/stream-client.mjs in a project with the packed package: WebSocketStream from wasmsocket/web against our Node server. */
async function streamClientIn(runtime, cmd, args, project) {
  copyFileSync(join(ROOT, 'runtimes', 'stream-client.mjs'), join(project, 'stream-client.mjs'));
  const node = await startNodeEchoServer();
  try {
    const out = await run(cmd, [...args, 'stream-client.mjs', String(node.port)], { cwd: project, timeoutMs: 90_000 });
    const line = out.stdout.split('\n').find((l) => l.startsWith('CHECKS '));
    if (!line) { record(runtime, 'WebSocketStream client scenarios', false, `no result (exit ${out.code}): ${(out.stderr || out.stdout).slice(-800)}`); return; }
    const checks = JSON.parse(line.slice('CHECKS '.length));
    for (const c of checks) record(runtime, `${runtime} WebSocketStream -> Node server: ${c.name}`, c.ok, c.error);
    note(runtime, `${runtime} client (WebSocketStream from wasmsocket/web of the packed package) against our Node server: ${checks.filter((c) => c.ok).length} of ${checks.length} scenarios passed`);
    await node.verify(runtime, `${runtime} client`);
  } finally {
    await node.close();
  }
}

async function workerdRuntime() {
  const node = await startNodeEchoServer();
  const nodePort = node.port;
  let w;
  try {
    await bundleWorker(await packedProject('workerd'));
    w = await startWorkerd();
    const base = `http://127.0.0.1:${w.port}`;
    const get = async (path) => {
      const res = await fetch(base + path, { signal: AbortSignal.timeout(60_000) });
      const body = await res.json();
      if (body.error) throw new Error(body.error);
      return body;
    };
    for (const [label, path] of [['build by feature detection', '/vectors'], ['scalar forced (forceScalar + the scalar wasm module)', '/vectors?scalar=1']]) {
      try { recordVectors('workerd', label, await get(path)); } catch (e) { record('workerd', `vectors (${label})`, false, e.message); }
    }
    try {
      const { checks } = await get(`/client?port=${nodePort}`);
      for (const c of checks) record('workerd', `workerd client -> Node server: ${c.name}`, c.ok, c.error);
      note('workerd', `workerd client (WebSocketStream from wasmsocket/web of the packed package, over connect() from cloudflare:sockets) against our Node server: ${checks.filter((c) => c.ok).length} of ${checks.length} scenarios passed`);
    } catch (e) {
      record('workerd', 'workerd client scenarios', false, e.message);
    }
    await node.verify('workerd', 'workerd client');
  } catch (e) {
    record('workerd', 'workerd serve', false, e.message);
  } finally {
    if (w) await w.stop();
    await node.close();
  }
}

/** `workerd serve` on the generated config; the port comes from --control-fd. */
function startWorkerd(timeoutMs = 30_000) {
  return new Promise((resolve, reject) => {
    const child = spawn(BIN('workerd'), ['serve', join(tmp, 'workerd', 'config.capnp'), '--control-fd=3'],
      { cwd: join(tmp, 'workerd'), env: childEnv(), stdio: ['pipe', 'pipe', 'pipe', 'pipe'] });
    children.add(child);
    let control = '';
    let err = '';
    const timer = setTimeout(() => { killTree(child); reject(new Error(`workerd did not listen within ${timeoutMs} ms: ${err}`)); }, timeoutMs);
    child.stderr.on('data', (d) => { err += d; });
    child.stdout.on('data', (d) => { err += d; });
    child.stdio[3].on('data', (d) => {
      control += d;
      const m = /"event":"listen","socket":"http","port":(\d+)/.exec(control);
      if (m) {
        clearTimeout(timer);
        resolve({ port: Number(m[1]), stop: () => stopServer(child) });
      }
    });
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('close', (code) => { children.delete(child); clearTimeout(timer); reject(new Error(`workerd exited (${code}): ${err}`)); });
  });
}

async function chromiumRuntime() {
  const { runChromium } = await import(pathToFileURL(join(ROOT, 'runtimes', 'chromium', 'driver.mjs')).href);
  const out = await runChromium({ root: ROOT, bundleDir: join(tmp, 'bundle') });
  recordVectors('chromium', 'build by feature detection', out.default);
  recordVectors('chromium', 'scalar forced by forceScalar()', out.scalar);
  note('chromium', out.default.userAgent);
}

// ---------------------------------------------------------------------------

async function main() {
  await bundles();
  const step = async (runtime, fn) => {
    if (!only.includes(runtime)) return;
    const t0 = Date.now();
    try { await fn(); } catch (e) { record(runtime, `${runtime} run`, false, e && e.stack ? e.stack : String(e)); }
    note(runtime, `took ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  };
  let nodeRef;
  await step('node', async () => {
    await vectorsIn('node', process.execPath, ['--no-warnings']);
    nodeRef = await conformance('node', undefined);
    recordConformance('node', 'our Node server', nodeRef);
  });
  if (!nodeRef && (only.includes('deno') || only.includes('bun'))) nodeRef = await conformance('node', undefined);
  await step('deno', async () => {
    // The codec must load in Deno with no permissions at all (src/codec/wasm.ts
    // asks Deno's permission state before reading WASMSOCKET_FORCE_SCALAR).
    const bare = parseVectors(await run(BIN('deno'), ['run', '--allow-read', 'runtimes/vectors-main.mjs', CODEC()]));
    record('deno', 'the codec loads and passes the vectors without --allow-env', bare.failed === 0 && bare.passed > 0,
      bare.failures[0] ? String(bare.failures[0]).slice(0, 300) : 'no vectors ran');
    const checked = await run(BIN('deno'), ['check', '--config', 'runtimes/deno/deno.json', 'runtimes/deno/echo-server.ts']);
    record('deno', 'deno check: the Deno echo server, wasmsocket/web and the codec type-check with Deno\'s own types', checked.code === 0,
      (checked.stderr + checked.stdout).slice(-800));
    await echoServerRuntime('deno', BIN('deno'),
      ['run', '--allow-net=127.0.0.1', '--allow-env=WASMSOCKET_FORCE_SCALAR'], ['run', '--allow-net=127.0.0.1'],
      ['run', '--allow-read', '--allow-env=WASMSOCKET_FORCE_SCALAR'], nodeRef);
  });
  await step('bun', () => echoServerRuntime('bun', BIN('bun'), [], [], [], nodeRef));
  await step('workerd', workerdRuntime);
  await step('chromium', chromiumRuntime);

  let passed = 0;
  let failed = 0;
  const lines = [];
  for (const rt of RUNTIMES.filter((r) => only.includes(r))) {
    const r = results[rt];
    for (const n of r.notes) console.log(`  [${rt}] ${n}`);
    for (const f of r.failures.slice(0, 25)) console.log(`  [${rt}] FAILED ${f}`);
    if (r.failures.length > 25) console.log(`  [${rt}] ... and ${r.failures.length - 25} more failures`);
    lines.push(`runtime ${rt}: ${r.passed} passed, ${r.failed} failed`);
    passed += r.passed;
    failed += r.failed;
  }
  console.log(`  (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  for (const l of lines) console.log(l);
  console.log(`runtimes: ${passed} passed, ${failed} failed`);
  const zero = RUNTIMES.filter((r) => only.includes(r) && results[r].passed === 0);
  return failed === 0 && zero.length === 0 ? 0 : 1;
}

function cleanupAll() {
  for (const c of children) killTree(c);
  children.clear();
  for (const dir of [tmp, ...projects]) {
    try { rmSync(dir, { recursive: true, force: true }); } catch { /* best effort */ }
  }
}

process.on('SIGINT', () => { cleanupAll(); process.exit(130); });
process.on('SIGTERM', () => { cleanupAll(); process.exit(143); });
// A hard bound on the whole run.
setTimeout(() => {
  console.log('runtimes: run-all.mjs gave up after 400 s');
  cleanupAll();
  process.exit(1);
}, 400_000).unref();

let code = 1;
try {
  code = await main();
} catch (e) {
  console.log(`runtimes: ${e && e.stack ? e.stack : e}`);
} finally {
  cleanupAll();
}
process.exit(code);
