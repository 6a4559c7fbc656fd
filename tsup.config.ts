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
]);
