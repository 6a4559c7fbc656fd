// Runs the vectors in Node, Deno or Bun (the same file in all three):
//   node vectors-main.mjs <codec module path> [--scalar=api|env]
//   deno run --allow-read --allow-env=WASMSOCKET_FORCE_SCALAR vectors-main.mjs <codec module path> [...]
//   bun vectors-main.mjs <codec module path> [...]
// Prints one line `VECTORS <json result>`. The data is read with JSON module
// imports, which all three runtimes support.
import { DATA_FILES, runVectors } from './vectors-runner.mjs';

const args = globalThis.Deno ? globalThis.Deno.args : globalThis.process.argv.slice(2);
const codecPath = args.find((a) => !a.startsWith('--'));
const scalarArg = args.find((a) => a.startsWith('--scalar='));
if (!codecPath) throw new Error('usage: vectors-main.mjs <codec module path> [--scalar=api|env]');

const root = new URL('../', import.meta.url);
const codecUrl = codecPath.startsWith('file:') ? codecPath : new URL(codecPath, `file://${globalThis.Deno ? globalThis.Deno.cwd() : globalThis.process.cwd()}/`).href;
const codec = await import(codecUrl);
const load = async (name) => (await import(new URL(DATA_FILES[name], root).href, { with: { type: 'json' } })).default;

const result = await runVectors(codec, load, { scalar: scalarArg ? scalarArg.slice('--scalar='.length) : undefined });
console.log('VECTORS ' + JSON.stringify(result));
