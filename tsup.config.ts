import { defineConfig } from 'tsup';

// ESM and CommonJS builds of the Node entry, of the runtime-agnostic codec and
// of wasmsocket/web (WebSocket on Web Streams, no Node imports) and of
// wasmsocket/app (uWebSockets.js's API on raw TCP handles).
// CommonJS gets its own entry so that `require('wasmsocket')` is the WebSocket
// class itself, as with ws.
export default defineConfig([
  {
    entry: { index: 'src/index.ts', codec: 'src/codec/index.ts', web: 'src/web/index.ts', redis: 'src/redis/index.ts', app: 'src/app/index.ts' },
    format: ['esm'],
    dts: true,
    target: 'node20',
    clean: true,
    sourcemap: true,
  },
  {
    entry: { index: 'src/index.cts', codec: 'src/codec/index.ts', web: 'src/web/index.ts', redis: 'src/redis/index.ts', app: 'src/app/index.ts' },
    format: ['cjs'],
    dts: true,
    target: 'node20',
    sourcemap: true,
  },
  {
    // Per-runtime codec entries (package.json conditions "workerd" and "browser";
    // web-workerd is wasmsocket/web's "workerd" entry, with types dist/web.d.ts;
    // Deno, Bun and Node use dist/codec.js). Their types are dist/codec.d.ts: the
    // same API, so no .d.ts of their own. The wasm modules stay imports, resolved
    // through the package's own exports by workerd's config or wrangler.
    entry: { workerd: 'src/entries/workerd.ts', browser: 'src/entries/browser.ts', 'web-workerd': 'src/entries/web-workerd.ts',
      // wasmsocket/app's "deno" and "bun" entries (types: dist/app.d.ts, the same API)
      'app-deno': 'src/entries/app-deno.ts', 'app-bun': 'src/entries/app-bun.ts' },
    format: ['esm'],
    dts: false,
    target: 'es2022',
    platform: 'neutral',
    external: ['wasmsocket/wasm', 'wasmsocket/wasm/scalar', 'cloudflare:sockets'],
    sourcemap: true,
  },
]);
