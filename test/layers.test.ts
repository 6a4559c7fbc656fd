// The layers of src/ (README "Layout"): dependency-cruiser with the project's
// .dependency-cruiser.cjs finds no import cycle (type imports included) and no
// upward import in src/; and the same check, on a small tree written here with
// a deliberate cycle and upward imports, does report each of them.
import { afterAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

const ROOT = new URL('..', import.meta.url).pathname;
const CLI = join(ROOT, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs');
const CONFIG = join(ROOT, '.dependency-cruiser.cjs');

interface Violation { rule: { name: string }; from: string; to: string; cycle?: Array<{ name: string }> }
interface Result { summary: { violations: Violation[]; totalCruised: number } }

/** Cruises `src` under `cwd` with the project's rules. */
function cruise(cwd: string): Promise<Result> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [CLI, 'src', '--config', CONFIG, '--output-type', 'json'],
      { cwd, timeout: 120_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
        // The CLI exits non-zero when it finds violations; its JSON is on stdout either way.
        try { resolve(JSON.parse(stdout) as Result); } catch { reject(err ?? new Error(stderr)); }
      });
  });
}

const describeViolation = (v: Violation): string =>
  `${v.rule.name}: ${v.from} -> ${v.to}${v.cycle ? ` (cycle ${v.cycle.map((c) => c.name).join(' -> ')})` : ''}`;

const fixtures: string[] = [];
afterAll(() => { for (const dir of fixtures) rmSync(dir, { recursive: true, force: true }); });

function tree(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'wasmsocket-layers-'));
  fixtures.push(dir);
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true },
    include: ['src'],
  }));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

describe('the import graph of src/', () => {
  it('has no cycle and no upward import', async () => {
    const { summary } = await cruise(ROOT);
    // The check cannot pass by seeing nothing: every folder of src/ is cruised.
    expect(summary.totalCruised).toBeGreaterThan(80);
    expect(summary.violations.map(describeViolation)).toEqual([]);
  }, 150_000);

  it('the same check fails on a tree with a cycle and upward imports', async () => {
    const dir = tree({
      // A cycle of type imports only, one of them an import('...') type expression.
      'src/node/ws/a.ts': "import type { B } from './b.js';\nexport interface A { b: B }\n",
      'src/node/ws/b.ts': "export interface B { a: import('./a.js').A }\n",
      // The codec reaching up into the core, the core into a Node door.
      'src/codec/bytes.ts': "import { LIMIT } from '../core/limit.js';\nexport const SIZE = LIMIT;\n",
      'src/core/limit.ts': "import type { A } from '../node/ws/a.js';\nexport const LIMIT = 1;\nexport type Held = A;\n",
      // A runtime-neutral folder importing a Node built-in.
      'src/web/door.ts': "import { Buffer } from 'node:buffer';\nexport const empty = Buffer.alloc(0);\n",
      // Fan-out importing the ws door above it.
      'src/node/fanout/fan.ts': "import type { A } from '../ws/a.js';\nexport type Member = A;\n",
      // A well-placed import: nothing to report for it.
      'src/node/ws/ok.ts': "import { SIZE } from '../../codec/bytes.js';\nexport const n = SIZE;\n",
    });
    const { summary } = await cruise(dir);
    const found = summary.violations.map(describeViolation);
    const rules = new Set(summary.violations.map((v) => v.rule.name));
    expect([...rules].sort(), found.join('\n')).toEqual([
      'codec-is-the-bottom', 'core-above-codec-only', 'fanout-below-ws', 'no-circular', 'runtime-neutral-no-node-builtins',
    ]);
    expect(found).toContain('no-circular: src/node/ws/a.ts -> src/node/ws/b.ts (cycle src/node/ws/b.ts -> src/node/ws/a.ts)');
    expect(found).toContain('codec-is-the-bottom: src/codec/bytes.ts -> src/core/limit.ts');
    expect(found).toContain('core-above-codec-only: src/core/limit.ts -> src/node/ws/a.ts');
    expect(found).toContain('runtime-neutral-no-node-builtins: src/web/door.ts -> buffer');
    expect(found).toContain('fanout-below-ws: src/node/fanout/fan.ts -> src/node/ws/a.ts');
    expect(found.some((v) => v.includes('ok.ts'))).toBe(false);
  }, 150_000);
});
