// Static regions of the one linear memory the TypeScript side reads and writes.
// Memory never grows after init(), so JS views built once stay valid.
//
// Sizes:
// - IN_CAP 256 KiB: Node hands a socket read of at most 64 KiB; 256 KiB lets the
//   decoder take a whole read plus a carried partial frame in one call, and stays
//   in L2 (picows measured multi-MB read buffers losing to cache misses).
// - MAX_DESC 4096: a 256 KiB read can hold at most 256 KiB / 2 = 131072 empty
//   frames; the parser stops at a full table and reports how far it got, so the
//   table bounds memory, not the protocol.
// - OUT_CAP 256 KiB: batch encoding area, same reasoning as IN_CAP.

export const PAD: usize = 64; // SIMD loops may read up to 15 bytes past the end

export const STATE_SIZE: usize = 64; // 16 x i32, see frames.ts for the fields
export const IN_CAP: usize = 256 * 1024;
export const MAX_DESC: i32 = 4096;
export const DESC_SIZE: usize = 16; // 4 x i32 per descriptor
export const OUT_CAP: usize = 256 * 1024 + 14 * 64;
export const BATCH_MAX: i32 = 1024;
export const BATCH_SIZE: usize = 16; // 4 x i32 per batch entry

// Region addresses, laid out from __heap_base on init().
export let STATE_PTR: usize = 0;
export let IN_PTR: usize = 0;
export let DESC_PTR: usize = 0;
export let OUT_PTR: usize = 0;
export let BATCH_PTR: usize = 0;

function align(p: usize): usize { return (p + 63) & ~<usize>63; }

export function layout(): void {
  let p = align(__heap_base);
  STATE_PTR = p; p = align(p + STATE_SIZE);
  IN_PTR = p + PAD; p = align(IN_PTR + IN_CAP + PAD);
  DESC_PTR = p; p = align(p + <usize>MAX_DESC * DESC_SIZE);
  OUT_PTR = p; p = align(p + OUT_CAP + PAD);
  BATCH_PTR = p; p = align(p + <usize>BATCH_MAX * BATCH_SIZE);
  const need = <i32>((p + 0xffff) >>> 16);
  const have = memory.size();
  if (need > have) memory.grow(need - have);
}
