// The codec for browsers (package.json condition "browser").
//
// The wasm comes from the bytes embedded in the bundle, like in Node, Deno and
// Bun, but it is compiled asynchronously here (top-level await), because
// browsers limit synchronous WebAssembly compiles on the main thread. The build
// (SIMD or scalar) is chosen by feature detection. The API (and its .d.ts) is
// the same as every other entry's.
import { initCodec } from '../codec/index.js';

await initCodec();

export * from '../codec/index.js';
