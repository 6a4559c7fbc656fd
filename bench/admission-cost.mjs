// What the admission checks (src/node/ws/admission.ts) cost: CPU per handshake
// for admit() + release with each set of checks on, and the V8 heap a full
// token-bucket table holds (65,536 addresses, IPv4 and IPv6 /64 keys).
// The module is internal, so it is bundled from src with esbuild first.
//
//   node --expose-gc bench/admission-cost.mjs
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

if (typeof globalThis.gc !== 'function') {
  console.error('run with node --expose-gc');
  process.exit(1);
}
const dir = mkdtempSync(join(tmpdir(), 'admission-cost-'));
const entry = (name) => fileURLToPath(new URL(`../src/node/ws/${name}.ts`, import.meta.url));
await build({
  entryPoints: { admission: entry('admission'), 'rate-limit': entry('rate-limit') },
  bundle: true, platform: 'node', format: 'esm', outdir: dir, logLevel: 'error',
});
const { Admission } = await import(pathToFileURL(join(dir, 'admission.js')).href);
const { HandshakeRateLimit } = await import(pathToFileURL(join(dir, 'rate-limit.js')).href);
rmSync(dir, { recursive: true, force: true });

const CALLS = process.argv[2] === undefined ? 200_000 : 0, ROUNDS = 3, ADDRESSES = 1000;
const requests = Array.from({ length: ADDRESSES }, (_, i) => ({ headers: {}, socket: { remoteAddress: `10.0.${i >> 8}.${i & 255}` } }));
const limits = { maxConnections: 1e9, maxConnectionsPerAddress: 1e9, handshakeRate: { perSecond: 1e9, burst: 1e9 } };
for (const [name, opts] of CALLS === 0 ? [] : [
  ['limits only', limits],
  ['origins only', { allowedOrigins: ['https://*.example.com'] }],
  ['origins + limits', { allowedOrigins: ['https://*.example.com'], ...limits }],
]) {
  const admission = new Admission(opts);
  const best = [];
  for (let round = 0; round < ROUNDS; round++) {
    const start = process.cpuUsage();
    for (let i = 0; i < CALLS; i++) {
      const r = admission.admit(requests[i % ADDRESSES], 'https://chat.example.com');
      if (typeof r === 'function') r();
    }
    const used = process.cpuUsage(start);
    best.push((used.user + used.system) / CALLS);
  }
  console.log(`${name}: admit() + release ${Math.min(...best).toFixed(2)} µs CPU a handshake (best of ${ROUNDS} x ${CALLS} calls, ${ADDRESSES} addresses)`);
}

// Each table in a fresh process, so one measurement's leftovers (compiled
// code, feedback) do not land in the other's heap figure.
const family = process.argv[2];
if (family === undefined) {
  for (const f of ['IPv4', 'IPv6']) {
    process.stdout.write(execFileSync(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), f]).toString().split('\n').filter((l) => l.startsWith('token')).join('\n') + '\n');
  }
} else {
  gc(); gc();
  const before = process.memoryUsage().heapUsed;
  const table = new HandshakeRateLimit({ perSecond: 1, burst: 2 }, () => 0);
  for (let i = 0; i < 65_536; i++) {
    table.take(family === 'IPv4' ? `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}` : `2001:db8:${(i >> 8).toString(16)}:${(i & 255).toString(16)}::/64`);
  }
  gc(); gc();
  const bytes = process.memoryUsage().heapUsed - before;
  console.log(`token buckets, ${family === 'IPv4' ? 'IPv4 keys' : 'IPv6 /64 keys'}: ${table.size} held, ${(bytes / table.size).toFixed(0)} bytes each, ${(bytes / 2 ** 20).toFixed(1)} MiB`);
}
