// Builds dist/ for the tests that load the built package (the chat demo, the CommonJS checks).
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Builds dist/ when it is missing (a fresh clone before `npm install`). The
 * browser and Node chat tests may run at once: one builds, the other waits.
 */
export function ensureDist(): void {
  const dist = new URL('../../dist/index.js', import.meta.url);
  if (existsSync(dist)) return;
  const lock = join(tmpdir(), `wasmsocket-build-${createHash('sha1').update(ROOT).digest('hex').slice(0, 12)}.lock`);
  const deadline = Date.now() + 240_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      // Someone else builds; a lock older than the build's timeout is stale.
      if (existsSync(dist) || Date.now() > deadline) return;
      try { if (Date.now() - statSync(lock).mtimeMs > 240_000) rmSync(lock, { recursive: true, force: true }); } catch { /* gone */ }
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
    }
  }
  try {
    if (existsSync(dist)) return;
    // tsup needs the embedded wasm (src/codec/wasm-bytes.ts), which the full build makes.
    const full = !existsSync(new URL('../../src/codec/wasm-bytes.ts', import.meta.url));
    execFileSync('npm', full ? ['run', 'build'] : ['exec', '--', 'tsup'], { cwd: ROOT, stdio: 'inherit', timeout: 240_000 });
    if (!full) execFileSync(process.execPath, ['scripts/cjs-types.mjs'], { cwd: ROOT, stdio: 'inherit' });
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/** Runs tsup when dist/index.cjs is missing, for the tests that require() the built package. */
export async function buildCjsIfMissing(): Promise<void> {
  if (existsSync(join(ROOT, 'dist/index.cjs'))) return;
  await new Promise<void>((resolve, reject) => {
    execFile('npx', ['tsup'], { cwd: ROOT, timeout: 120_000 }, (err, _o, stderr) => {
      if (err) { reject(new Error(`tsup failed: ${stderr}`)); return; }
      execFile(process.execPath, ['scripts/cjs-types.mjs'], { cwd: ROOT }, (e) => (e ? reject(e) : resolve()));
    });
  });
}
