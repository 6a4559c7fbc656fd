// The codec for Cloudflare workerd (package.json condition "workerd").
//
// workerd refuses to compile wasm from bytes at run time ("Wasm code generation
// disallowed by embedder"), so the two builds come in as wasm modules, which
// workerd (and wrangler) compile when the Worker is loaded: `wasmsocket/wasm`
// and `wasmsocket/wasm/scalar` are the package's own exports of
// build/wasmsocket.wasm and build/wasmsocket.scalar.wasm. The build is still
// chosen by feature detection (simdSupported()), never by runtime name.
//
// The codec is instantiated here, with top-level await, so everything below is
// ready to use as soon as the import resolves. The API (and its .d.ts) is the
// same as every other entry's. To run the scalar build in workerd:
//   forceScalar(); await initCodec(scalarModule)   (scalarModule: import from 'wasmsocket/wasm/scalar')
import simdModule from 'wasmsocket/wasm';
import scalarModule from 'wasmsocket/wasm/scalar';
import { initCodec, simdSupported } from '../codec/index.js';

await initCodec(simdSupported() ? simdModule : scalarModule);

export * from '../codec/index.js';
