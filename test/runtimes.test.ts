// The codec as a deliverable in every runtime (issue 8): runs `npm run
// test:runtimes` (runtimes/run-all.mjs) and fails unless every runtime line
// shows 0 failed and a non-zero count. Also: the per-runtime package entries
// resolve, every entry has the same types, those types need no Node types, and
// the embedded wasm is the built wasm.
import { spawn } from 'node:child_process';
import { readFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { SIMD_WASM_BASE64, SCALAR_WASM_BASE64 } from '../src/codec/wasm-bytes.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RUNTIMES = ['node', 'deno', 'bun', 'workerd', 'chromium'] as const;

function run(cmd: string, args: string[], timeoutMs: number): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const env = { ...process.env };
    for (const k of Object.keys(env)) if (k.startsWith('VITEST') || k === 'WASMSOCKET_JSON_REPORT') delete env[k];
    const child = spawn(cmd, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    const timer = setTimeout(() => { out += `\n[killed after ${timeoutMs} ms]`; child.kill('SIGTERM'); }, timeoutMs);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, out }); });
  });
}

describe('runtimes (npm run test:runtimes)', () => {
  let result: { code: number | null; out: string };
  const line = (name: string) => new RegExp(`^runtime ${name}: (\\d+) passed, (\\d+) failed$`, 'm').exec(result.out);

  beforeAll(async () => {
    result = await run(process.execPath, ['runtimes/run-all.mjs'], 420_000);
    // The per-runtime lines, for the log (CI shows them with the rest of the run).
    console.log(result.out.split('\n').filter((l) => /^runtimes?\b.*passed, \d+ failed$/.test(l)).join('\n'));
  }, 440_000);

  it.each(RUNTIMES)('runtime %s: a non-zero count and 0 failed', (name) => {
    const m = line(name);
    expect(m, result.out.slice(-3000)).not.toBeNull();
    expect(Number(m![1]), `${name} ran nothing\n${result.out.slice(-3000)}`).toBeGreaterThan(0);
    expect(Number(m![2]), result.out).toBe(0);
  });

  it('prints the overall line and exits 0', () => {
    expect(result.out).toMatch(/^runtimes: \d+ passed, 0 failed$/m);
    expect(result.code, result.out.slice(-3000)).toBe(0);
  });

  it('the forced-scalar runs passed the vectors in every runtime', () => {
    for (const name of RUNTIMES) {
      expect(result.out, name).toMatch(new RegExp(`\\[${name}\\] vectors, scalar forced[^:]*: [1-9]\\d* passed, 0 failed \\(scalar build ran\\)`));
    }
  });

  it('Deno, Bun and workerd ran wasmsocket/web from the packed package (npm pack, installed into a fresh project)', () => {
    for (const name of ['deno', 'bun', 'workerd']) {
      expect(result.out).toMatch(new RegExp(`\\[${name}\\] the package: wasmsocket-[\\d.]+\\.tgz \\(npm pack\\) installed into a fresh project`));
    }
    for (const name of ['deno', 'bun', 'workerd']) {
      // WebSocketStream clients on the runtime's own TCP (Deno.connect, Bun.connect, connect()) against our Node server
      expect(result.out).toMatch(new RegExp(`\\[${name}\\] ${name} client \\(WebSocketStream from wasmsocket/web of the packed package.*\\) against our Node server: ([1-9]\\d*) of \\1 scenarios passed`));
    }
  });

  it('the Deno and Bun servers pass the server-side conformance cases the Node server passes', () => {
    for (const name of ['deno', 'bun']) {
      expect(result.out).toMatch(new RegExp(`\\[${name}\\] conformance \\(server-side cases[^:]*\\(wasmsocket/web from the packed package\\)\\): [1-9]\\d* passed, 0 failed`));
    }
  });

  it('wasmsocket/app on Deno.listen and Bun.listen (the package\'s deno / bun entries) passes them too, but for the App\'s listed differences', () => {
    for (const name of ['deno', 'bun']) {
      expect(result.out).toMatch(new RegExp(`\\[${name}\\] conformance \\(server-side cases[^:]*App echo server \\(wasmsocket/app from the packed package\\)\\): [1-9]\\d* passed, 0 failed`));
      expect(result.out).toMatch(new RegExp(`\\[${name}\\] ws client against the ${name[0].toUpperCase()}${name.slice(1)} App echo server[^:]*: ([1-9]\\d*) of \\1 scenarios passed`));
    }
  });
});

describe('package entries', () => {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));

  it('./codec has an entry per runtime, all with the same .d.ts', () => {
    const codec = pkg.exports['./codec'];
    expect(Object.keys(codec)).toEqual(expect.arrayContaining(['workerd', 'deno', 'bun', 'browser', 'node', 'default']));
    // the conditions a runtime matches first come before the generic ones
    const keys = Object.keys(codec);
    for (const c of ['workerd', 'deno', 'bun', 'browser']) expect(keys.indexOf(c)).toBeLessThan(keys.indexOf('node'));
    expect(keys.indexOf('workerd')).toBeLessThan(keys.indexOf('browser')); // wrangler matches both
    const types = new Set<string>();
    const walk = (v: unknown): void => {
      if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) { if (k === 'types') types.add(String(x)); else walk(x); }
    };
    walk(codec);
    expect([...types].sort()).toEqual(['./dist/codec.d.cts', './dist/codec.d.ts']); // the CommonJS flavour of the same file for require
    expect(pkg.exports['./wasm']).toBe('./build/wasmsocket.wasm');
    expect(pkg.exports['./wasm/scalar']).toBe('./build/wasmsocket.scalar.wasm');
  });

  it.each([
    ['workerd', 'dist/workerd.js'],
    ['deno', 'dist/codec.js'],
    ['bun', 'dist/codec.js'],
    ['browser', 'dist/browser.js'],
    ['', 'dist/codec.js'],
  ])('condition "%s" resolves wasmsocket/codec to %s', async (condition, file) => {
    const args = [...(condition ? [`--conditions=${condition}`] : []), '--input-type=module', '-e',
      "console.log(import.meta.resolve('wasmsocket/codec'))"];
    const r = await run(process.execPath, args, 20_000);
    expect(r.out.trim()).toBe(new URL(file, new URL('../', import.meta.url)).href);
  });

  it.each([
    ['workerd', 'dist/web-workerd.js'],
    ['deno', 'dist/web.js'],
    ['bun', 'dist/web.js'],
    ['', 'dist/web.js'],
  ])('condition "%s" resolves wasmsocket/web to %s', async (condition, file) => {
    const args = [...(condition ? [`--conditions=${condition}`] : []), '--input-type=module', '-e',
      "console.log(import.meta.resolve('wasmsocket/web'))"];
    const r = await run(process.execPath, args, 20_000);
    expect(r.out.trim()).toBe(new URL(file, new URL('../', import.meta.url)).href);
  });

  it.skipIf(!existsSync(new URL('../dist/web.js', import.meta.url)))('wasmsocket/web (dist/web.js, its .d.ts) has no Node imports or types', () => {
    const js = readFileSync(new URL('../dist/web.js', import.meta.url), 'utf8');
    expect(js).not.toMatch(/from ['"](node:|fs|net|http|stream|crypto)['"]|require\(/);
    const dts = readFileSync(new URL('../dist/web.d.ts', import.meta.url), 'utf8').replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '');
    expect(dts).not.toMatch(/\bBuffer\b|\bNodeJS\b|['"]node:|reference types=/);
  });

  it('the runtime-agnostic API type-checks with no Node types (tsc -p runtimes/tsconfig.json)', async () => {
    const r = await run(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'runtimes/tsconfig.json'], 120_000);
    expect(r.out).toBe('');
    expect(r.code).toBe(0);
  }, 120_000);

  it.skipIf(!existsSync(new URL('../dist/codec.d.ts', import.meta.url)))('dist/codec.d.ts mentions no Node types', () => {
    const dts = readFileSync(new URL('../dist/codec.d.ts', import.meta.url), 'utf8').replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '');
    expect(dts).not.toMatch(/\bBuffer\b|\bNodeJS\b|['"]node:|reference types=/);
  });

  it('the embedded wasm bytes are build/wasmsocket.wasm and build/wasmsocket.scalar.wasm', () => {
    expect(Buffer.from(SIMD_WASM_BASE64, 'base64').equals(readFileSync(new URL('../build/wasmsocket.wasm', import.meta.url)))).toBe(true);
    expect(Buffer.from(SCALAR_WASM_BASE64, 'base64').equals(readFileSync(new URL('../build/wasmsocket.scalar.wasm', import.meta.url)))).toBe(true);
  });
});
