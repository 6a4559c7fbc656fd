// The package's wasm exports, imported as modules by the workerd entry (workerd
// and wrangler turn a `.wasm` import into a compiled WebAssembly.Module).
declare module 'wasmsocket/wasm' {
  const module: WebAssembly.Module;
  export default module;
}
declare module 'wasmsocket/wasm/scalar' {
  const module: WebAssembly.Module;
  export default module;
}
