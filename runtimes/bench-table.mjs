#!/usr/bin/env node
// Runs `bench/codec.mjs --json` in Node, Deno and Bun, one after the other, and
// prints the masking and UTF-8 validation figures side by side (GB/s) as a
// Markdown table, plus frames/s for parsing. `--quick` passes through.
//   node runtimes/bench-table.mjs [--quick]
// Needs dist/ (npm run build). Each run is bounded (5 minutes).
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const bin = (n) => join(ROOT, 'node_modules', '.bin', n);
const extra = process.argv.includes('--quick') ? ['--quick'] : [];
const RUNS = [
  ['Node', process.execPath, ['bench/codec.mjs', '--json', ...extra]],
  ['Deno', bin('deno'), ['run', '--allow-read', '--allow-env', '--allow-sys', '--allow-ffi', 'bench/codec.mjs', '--json', ...extra]],
  ['Bun', bin('bun'), ['bench/codec.mjs', '--json', ...extra]],
];

const results = [];
for (const [name, cmd, args] of RUNS) {
  const r = spawnSync(cmd, args, { cwd: ROOT, encoding: 'utf8', timeout: 300_000, maxBuffer: 64 << 20, env: { ...process.env, NO_COLOR: '1' } });
  const start = r.stdout ? r.stdout.indexOf('{') : -1;
  if (r.status !== 0 || start < 0) {
    console.error(`${name}: bench failed (${r.status ?? r.signal}): ${(r.stderr || '').slice(-1000)}`);
    results.push({ name, rows: [] });
    continue;
  }
  const json = JSON.parse(r.stdout.slice(start));
  results.push({ name, label: `${json.runtime ?? name} (${json.simd ? 'SIMD' : 'scalar'})`, rows: json.rows });
}

const fmt = (v) => (v === undefined ? '–' : v >= 10 ? v.toFixed(1) : v >= 1 ? v.toFixed(2) : v.toFixed(3));
const find = (res, group, task) => res.rows.find((r) => r.group === group && r.task === task);
const header = (first) => `| ${first} | ${results.map((r) => r.label ?? r.name).join(' | ')} |\n|---|${results.map(() => '---:').join('|')}|`;

const SIZES = [['16 B', 16], ['125 B', 125], ['1 KiB', 1024], ['64 KiB', 65536], ['1 MiB', 1048576]];
console.log('Masking, GB/s (higher is better)\n');
console.log(header('size / implementation'));
for (const [label, size] of SIZES) {
  for (const task of ['wasm kernel (in wasm memory)', 'wasm maskBytes (copy in + out)', 'JS loop', 'bufferutil unmask (in place)']) {
    const cells = results.map((res) => fmt(find(res, `mask ${size} B`, task)?.gbPerSec));
    if (cells.some((c) => c !== '–')) console.log(`| ${label}: ${task} | ${cells.join(' | ')} |`);
  }
}
console.log('\nUTF-8 validation of mixed text, GB/s (higher is better)\n');
console.log(header('size / implementation'));
for (const [label, size] of SIZES) {
  for (const task of ['wasm (in wasm memory)', 'wasm isValidUtf8 (copy in)', 'TextDecoder fatal', 'buffer.isUtf8', 'utf-8-validate']) {
    const cells = results.map((res) => fmt(find(res, `utf8 ${size} B mixed`, task)?.gbPerSec));
    if (cells.some((c) => c !== '–')) console.log(`| ${label}: ${task} | ${cells.join(' | ')} |`);
  }
}
console.log('\nParsing a buffer of 1,000 small masked frames, M frames/s\n');
console.log(header('implementation'));
const tasks = new Set(results.flatMap((r) => r.rows.filter((x) => x.group === 'parse 1,000 frames').map((x) => x.task)));
for (const task of tasks) {
  console.log(`| ${task} | ${results.map((res) => fmt(find(res, 'parse 1,000 frames', task) ? find(res, 'parse 1,000 frames', task).framesPerSec / 1e6 : undefined)).join(' | ')} |`);
}
