// The C load generator (bench/loadgen.c): built with the system's C compiler into
// node_modules/.cache (ignored by git), once per version of the source and flags,
// and the Sec-WebSocket-Key / Accept pairs it takes on its command line (so it
// needs no SHA-1). Used by run.mjs, profile.mjs and loadgen-check.mjs.
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const BENCH = path.dirname(fileURLToPath(import.meta.url));
const SOURCE = path.join(BENCH, 'loadgen.c');
const FLAGS = ['-O2', '-std=c11', '-Wall'];
const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** Sec-WebSocket-Accept for a key. */
export const acceptFor = (key) => createHash('sha1').update(key + GUID).digest('base64');

/** { bin } of the built load generator, or { why } it could not be built. */
export function buildCLoadgen() {
  const hash = createHash('sha256').update(readFileSync(SOURCE)).update(FLAGS.join(' ')).digest('hex').slice(0, 16);
  const dir = path.join(path.dirname(BENCH), 'node_modules', '.cache', 'wasmsocket-bench');
  const bin = path.join(dir, `loadgen-${hash}`);
  if (existsSync(bin)) return { bin };
  let why = 'no C compiler (cc or gcc) found';
  try {
    mkdirSync(dir, { recursive: true });
  } catch (err) {
    return { why: `cannot create ${dir}: ${err.message}` };
  }
  const tmp = `${bin}.${process.pid}.tmp`;
  for (const cc of ['cc', 'gcc']) {
    const r = spawnSync(cc, [...FLAGS, '-o', tmp, SOURCE, '-lm'], { encoding: 'utf8' });
    if (r.error) continue; // not installed
    if (r.status === 0) {
      renameSync(tmp, bin);
      return { bin };
    }
    rmSync(tmp, { force: true });
    why = `${cc} failed: ${(r.stderr || '').trim().split('\n').find((l) => /error/.test(l)) ?? `exit ${r.status}`}`;
    break;
  }
  return { why };
}

/** The command-line arguments after the config: `n` key / accept pairs. */
export function keyArgs(n = 64) {
  const args = [];
  for (let i = 0; i < n; i++) {
    const key = randomBytes(16).toString('base64');
    args.push(key, acceptFor(key));
  }
  return args;
}
