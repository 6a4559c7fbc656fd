// wasmsocket/app as users load it: the built package through its own name
// (package.json "exports", ESM and CommonJS), in a child process running a
// uWebSockets.js-style program whose only change is the module it requires.
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ensureDist } from './helpers/dist.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

const PROGRAM = (load: string): string => `
${load}
uWS.App().get('/*', (res, req) => {
  res.writeHeader('Content-Type', 'text/plain').end('Hello from ' + req.getUrl());
}).listen('127.0.0.1', 0, (token) => {
  if (!token) { console.log('FAILED'); process.exit(1); }
  console.log('PORT ' + uWS.us_socket_local_port(token));
  process.stdin.on('end', () => { uWS.us_listen_socket_close(token); process.exit(0); });
  process.stdin.resume();
});`;

function run(kind: 'esm' | 'cjs'): Promise<string> {
  ensureDist();
  const code = kind === 'esm' ? PROGRAM("import * as uWS from 'wasmsocket/app';") : PROGRAM("const uWS = require('wasmsocket/app');");
  const child = spawn(process.execPath, ['--input-type=' + (kind === 'esm' ? 'module' : 'commonjs'), '-e', code], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '', err = '';
    child.stderr.on('data', (d) => { err += d; });
    child.stdout.on('data', async (d) => {
      out += d;
      const m = /PORT (\d+)/.exec(out);
      if (!m) return;
      try {
        resolve(await (await fetch(`http://127.0.0.1:${m[1]}/from-${kind}`)).text());
      } catch (e) { reject(e); } finally { child.stdin.end(); }
    });
    child.on('exit', (c) => { if (!/PORT/.test(out)) reject(new Error(`exited ${c}: ${err}`)); });
  });
}

describe('wasmsocket/app from the built package', () => {
  it('import * as uWS from "wasmsocket/app"', async () => { expect(await run('esm')).toBe('Hello from /from-esm'); }, 60_000);
  it('require("wasmsocket/app")', async () => { expect(await run('cjs')).toBe('Hello from /from-cjs'); }, 60_000);
});
