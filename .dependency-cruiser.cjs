// The layers of src/ (README "Layout"), checked by test/layers.test.ts:
//   codec < core < node/transport, node/deflate < node/fanout < node/ws < src/index.ts
//   codec < core < web (wasmsocket/web), redis (wasmsocket/redis), app (the App door)
// with the runtime-neutral folders (codec, core, web) never importing src/node or a
// Node built-in, src/entries and src/index.* on top, and no import cycle, type
// imports included. A rule names what a folder may import; the rest of src/ is forbidden.
/** Everything in src/ outside the given folders (regex alternatives relative to src/). */
const outside = (...allowed) => `^src/(?!(?:${allowed.join('|')})/)`;

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'An import cycle (type imports count: tsPreCompilationDeps is on).',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'codec-is-the-bottom',
      severity: 'error',
      comment: 'src/codec knows bytes only: it imports nothing else of src/.',
      from: { path: '^src/codec/' },
      to: { path: outside('codec') },
    },
    {
      name: 'core-above-codec-only',
      severity: 'error',
      comment: 'src/core (sans-I/O connection core) imports only src/codec and itself.',
      from: { path: '^src/core/' },
      to: { path: outside('codec', 'core') },
    },
    {
      name: 'runtime-neutral-no-node-builtins',
      severity: 'error',
      comment: 'src/codec, src/core and src/web run in every runtime: no Node built-in modules.',
      from: { path: '^src/(codec|core|web)/' },
      to: { dependencyTypes: ['core'] },
    },
    {
      name: 'web-door-not-on-node',
      severity: 'error',
      comment: 'src/web (wasmsocket/web) sits on codec and core, never on src/node, src/redis, src/app.',
      from: { path: '^src/web/' },
      to: { path: outside('codec', 'core', 'web') },
    },
    {
      name: 'redis-on-core',
      severity: 'error',
      comment: 'src/redis (the Redis broker) implements the core Broker seam: codec, core and itself only.',
      from: { path: '^src/redis/' },
      to: { path: outside('codec', 'core', 'redis') },
    },
    {
      name: 'transport-and-deflate-below-fanout',
      severity: 'error',
      comment: 'src/node/transport and src/node/deflate are below fan-out and the ws door.',
      from: { path: '^src/node/(transport|deflate)/' },
      to: { path: outside('codec', 'core', 'node/transport', 'node/deflate') },
    },
    {
      name: 'fanout-below-ws',
      severity: 'error',
      comment: 'src/node/fanout knows members through a small interface, not the ws door.',
      from: { path: '^src/node/fanout/' },
      to: { path: outside('codec', 'core', 'node/transport', 'node/deflate', 'node/fanout') },
    },
    {
      name: 'ws-door-below-the-entries',
      severity: 'error',
      comment: 'src/node/ws builds on everything below it, never on the package entries or other doors.',
      from: { path: '^src/node/ws/' },
      to: { path: outside('codec', 'core', 'node/transport', 'node/deflate', 'node/fanout', 'node/ws', 'web') },
    },
    {
      name: 'app-door-on-codec-and-core',
      severity: 'error',
      comment: 'src/app (the uWebSockets.js-style App door) is its own layer above src/codec and src/core.',
      from: { path: '^src/app/', pathNot: '^src/app/node-[^/]*\\.ts$' },
      to: { path: outside('codec', 'core', 'app') },
    },
    {
      name: 'app-node-files-on-node-deflate',
      severity: 'error',
      comment: "The App's Node-only files (src/app/node-*.ts) may use Node's zlib the ws door uses (src/node/deflate) and nothing else of src/node.",
      from: { path: '^src/app/node-[^/]*\\.ts$' },
      to: { path: outside('codec', 'core', 'app', 'node/deflate') },
    },
    {
      name: 'entries-are-the-top',
      severity: 'error',
      comment: 'Only src/index.cts and src/entries import the package entry points.',
      from: { path: '^src/', pathNot: '^src/(index\\.cts|entries/)' },
      to: { path: '^src/(index\\.c?ts|entries/)' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '\\.d\\.ts$' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.cts', '.mts', '.js'] },
  },
};
