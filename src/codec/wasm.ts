// Loads the wasm codec once per realm. Runtime-agnostic: only WebAssembly,
// Uint8Array and atob. The SIMD build is chosen by feature detection, never by
// runtime name; the scalar build serves engines without SIMD.
import { SIMD_WASM_BASE64, SCALAR_WASM_BASE64 } from './wasm-bytes.js';

export interface WasmExports {
  memory: WebAssembly.Memory;
  statePtr(): number; inPtr(): number; inCap(): number; descPtr(): number; maxDesc(): number;
  outPtr(): number; outCap(): number; batchPtr(): number; batchMax(): number; simd(): number;
  parse(): number;
  encodeBatch(count: number): number;
  mask(ptr: number, len: number, key: number, rot: number): void;
  maskTo(dst: number, src: number, len: number, key: number, rot: number): void;
  validateUtf8(ptr: number, len: number, state: number): number;
}

/** The instance plus views built once: memory never grows after start-up. */
export interface WasmCodec {
  readonly exports: WasmExports;
  readonly simd: boolean;
  readonly u8: Uint8Array;
  readonly state: Uint32Array;   // the 16 parser state words
  readonly desc: Uint32Array;    // the descriptor table
  readonly batch: Uint32Array;   // the encode batch table
  readonly inPtr: number; readonly inCap: number; readonly maxDesc: number;
  readonly outPtr: number; readonly outCap: number; readonly batchMax: number;
}

// (module (func (result v128) (v128.const i32x4 0 0 0 0)))
const SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 22, 1, 20, 0, 253, 12,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 11,
]);

export function simdSupported(): boolean {
  try { return WebAssembly.validate(SIMD_PROBE); } catch { return false; }
}

function decodeBase64(b64: string): Uint8Array<ArrayBuffer> {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

let current: WasmCodec | undefined;
let forcedScalar = false;

function wrap(instance: WebAssembly.Instance): WasmCodec {
  const ex = instance.exports as unknown as WasmExports;
  const buf = ex.memory.buffer;
  return {
    exports: ex,
    simd: ex.simd() !== 0,
    u8: new Uint8Array(buf),
    state: new Uint32Array(buf, ex.statePtr(), 16),
    desc: new Uint32Array(buf, ex.descPtr(), ex.maxDesc() * 4),
    batch: new Uint32Array(buf, ex.batchPtr(), ex.batchMax() * 4),
    inPtr: ex.inPtr(), inCap: ex.inCap(), maxDesc: ex.maxDesc(),
    outPtr: ex.outPtr(), outCap: ex.outCap(), batchMax: ex.batchMax(),
  };
}

// WASMSOCKET_FORCE_SCALAR=1 where an environment is readable. Deno 2 has a
// `process` global whose env throws (or prompts) without --allow-env, so ask
// Deno's permission state first and never let the lookup fail the load.
function envForcesScalar(): boolean {
  const g = globalThis as {
    Deno?: { permissions?: { querySync?: (d: { name: string; variable: string }) => { state: string } } };
    process?: { env?: Record<string, string | undefined> };
  };
  try {
    const q = g.Deno?.permissions?.querySync?.({ name: 'env', variable: 'WASMSOCKET_FORCE_SCALAR' });
    if (q && q.state !== 'granted') return false;
    return g.process?.env?.WASMSOCKET_FORCE_SCALAR === '1';
  } catch {
    return false;
  }
}

function useScalar(): boolean {
  return forcedScalar || envForcesScalar() || !simdSupported();
}

/** Selects the scalar build for this realm from now on (tests of the non-SIMD path). */
export function forceScalar(on = true): void {
  forcedScalar = on;
  current = undefined;
}

/** The codec, compiled synchronously from the embedded bytes on first use (Node, Deno, Bun). */
export function getCodec(): WasmCodec {
  if (current) return current;
  const bytes = decodeBase64(useScalar() ? SCALAR_WASM_BASE64 : SIMD_WASM_BASE64);
  current = wrap(new WebAssembly.Instance(new WebAssembly.Module(bytes)));
  return current;
}

/**
 * Asynchronous initialisation, for browsers (which limit synchronous compiles on
 * the main thread) and for Cloudflare workerd (which refuses compiling from bytes:
 * pass the imported `.wasm` module there). Call before creating decoders.
 */
export async function initCodec(source?: WebAssembly.Module | BufferSource): Promise<WasmCodec> {
  if (current && !source) return current;
  let module: WebAssembly.Module;
  if (source instanceof WebAssembly.Module) module = source;
  else module = await WebAssembly.compile(source ?? decodeBase64(useScalar() ? SCALAR_WASM_BASE64 : SIMD_WASM_BASE64));
  current = wrap(await WebAssembly.instantiate(module));
  return current;
}
