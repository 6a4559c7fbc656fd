import { defineConfig } from 'tsup';

// ESM and CommonJS builds of the Node entry and of the runtime-agnostic codec.
// CommonJS gets its own entry so that `require('wasmsocket')` is the WebSocket
// class itself, as with ws.
export default defineConfig([
  {
    entry: { index: 'src/index.ts', codec: 'src/codec/index.ts' },
    format: ['esm'],
    dts: true,
    target: 'node20',
    clean: true,
    sourcemap: true,
  },
  {
    entry: { index: 'src/index.cts', codec: 'src/codec/index.ts' },
    format: ['cjs'],
    dts: true,
    target: 'node20',
    sourcemap: true,
  },
  {
    // Per-runtime codec entries (package.json conditions "workerd" and "browser";
    // Deno, Bun and Node use dist/codec.js). Their types are dist/codec.d.ts: the
    // same API, so no .d.ts of their own. The wasm modules stay imports, resolved
    // through the package's own exports by workerd's config or wrangler.
    entry: { workerd: 'src/entries/workerd.ts', browser: 'src/entries/browser.ts' },
    format: ['esm'],
    dts: false,
    target: 'es2022',
    platform: 'neutral',
    external: ['wasmsocket/wasm', 'wasmsocket/wasm/scalar'],
    sourcemap: true,
  },
]);
