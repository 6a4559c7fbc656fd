// ws 8 drop-in for TypeScript users (issue 11, group 11): programs written
// against @types/ws (test/types/program.mts, ESM; program.cts, CommonJS) must
// type-check with `tsc` (nodenext, strict) both against @types/ws and, with only
// the module name swapped, against this package's built declarations.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureDist } from './helpers/dist.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');
const PROGRAMS = new URL('./types/', import.meta.url).pathname;

// Inside the package directory, so `'wasmsocket'` resolves to this package
// (self-reference through package.json "exports": dist/index.d.ts and .d.cts).
let dir = '';

function tsc(file: string): Promise<{ code: number; out: string }> {
  const config = {
    compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', strict: true, noEmit: true, types: ['node'] },
    files: [file],
  };
  const configPath = join(dir, `${file}.tsconfig.json`);
  writeFileSync(configPath, JSON.stringify(config));
  return new Promise((resolve) => {
    execFile(process.execPath, [TSC, '-p', configPath], { cwd: dir, timeout: 180_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, out: `${stdout}${stderr}` });
    });
  });
}

beforeAll(() => {
  ensureDist();
  dir = mkdtempSync(join(ROOT, '.types-check-'));
  for (const name of ['program.mts', 'program.cts']) {
    const src = readFileSync(join(PROGRAMS, name), 'utf8');
    writeFileSync(join(dir, `ws-${name}`), src);
    writeFileSync(join(dir, `ours-${name}`), src.replace(/from 'ws'/g, "from 'wasmsocket'").replace(/require\('ws'\)/g, "require('wasmsocket')"));
  }
});

afterAll(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

describe('programs written against @types/ws', () => {
  for (const kind of ['mts', 'cts'] as const) {
    const label = kind === 'mts' ? 'ESM (nodenext, strict)' : 'CommonJS (import = require, strict)';
    it(`${label}: the program is valid against @types/ws itself`, async () => {
      const { code, out } = await tsc(`ws-program.${kind}`);
      expect(out).toBe('');
      expect(code).toBe(0);
    }, 200_000);
    it(`${label}: with the import swapped, it type-checks against wasmsocket`, async () => {
      const file = `ours-program.${kind}`;
      expect(readFileSync(join(dir, file), 'utf8')).toContain('wasmsocket');
      const { code, out } = await tsc(file);
      expect(out).toBe('');
      expect(code).toBe(0);
    }, 200_000);
  }
});
