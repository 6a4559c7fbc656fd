// What the benchmark runners (run.mjs, edge.mjs, cores.mjs) share about the
// machine and their child processes: the CPUs this process may use (to pin the
// server and the load generator apart), taskset, the newest file under a
// folder (is dist/ older than src/?), and JSON lines from a child's stdout.
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** The CPUs this process may run on (its affinity list), else all of them. */
export function allowedCpus() {
  try {
    const line = readFileSync('/proc/self/status', 'utf8').split('\n').find((l) => l.startsWith('Cpus_allowed_list:'));
    const cpus = [];
    for (const part of line.split(':')[1].trim().split(',')) {
      const [a, b] = part.split('-').map(Number);
      for (let c = a; c <= (b ?? a); c++) cpus.push(c);
    }
    return cpus;
  } catch {
    return Array.from({ length: os.availableParallelism?.() ?? os.cpus().length }, (_, i) => i);
  }
}

/** taskset's path, or null when it is not installed. */
export const TASKSET = (() => {
  const r = spawnSync('sh', ['-c', 'command -v taskset'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
})();

/** The newest modification time of any file under `dir` (ms). */
export function newestMtime(dir) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return t;
}

/** Calls `take` with each JSON line of `stream`; a line it does not take (false), or that is not JSON, is echoed to stderr. */
export function onJsonLines(stream, label, take) {
  let buf = '';
  stream.setEncoding('utf8');
  stream.on('data', (d) => {
    buf += d;
    for (let nl; (nl = buf.indexOf('\n')) >= 0;) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      let msg = null;
      try { msg = JSON.parse(line); } catch { /* not JSON */ }
      if (!(msg && typeof msg === 'object' && take(msg)) && line.trim()) process.stderr.write(`[${label}] ${line}\n`);
    }
  });
}
