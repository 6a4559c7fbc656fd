// The wasm module's exports: one linear memory, static regions, no allocation.
import { layout, STATE_PTR, IN_PTR, DESC_PTR, OUT_PTR, BATCH_PTR, IN_CAP, OUT_CAP, MAX_DESC, BATCH_MAX } from "./arena";
import { maskInPlace, maskCopy } from "./mask";
import { utf8Validate } from "./utf8";
export { parse } from "./frames";
export { encodeBatch } from "./encode";

layout();

export function statePtr(): usize { return STATE_PTR; }
export function inPtr(): usize { return IN_PTR; }
export function inCap(): usize { return IN_CAP; }
export function descPtr(): usize { return DESC_PTR; }
export function maxDesc(): i32 { return MAX_DESC; }
export function outPtr(): usize { return OUT_PTR; }
export function outCap(): usize { return OUT_CAP; }
export function batchPtr(): usize { return BATCH_PTR; }
export function batchMax(): i32 { return BATCH_MAX; }
export function simd(): bool { return ASC_FEATURE_SIMD; }

export function mask(ptr: usize, len: usize, key: u32, rot: u32): void { maskInPlace(ptr, len, key, rot); }
export function maskTo(dst: usize, src: usize, len: usize, key: u32, rot: u32): void { maskCopy(dst, src, len, key, rot); }
export function validateUtf8(ptr: usize, len: usize, state: i32): i32 { return utf8Validate(ptr, len, state); }
