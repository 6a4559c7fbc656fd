// Frame encoding for a batch: one call frames many payloads into OUT.
// Batch entry (4 x i32): w0 = first header byte (FIN|RSV1|opcode) | 0x100 when
// the frame is masked, w1 = payload address, w2 = payload length, w3 = masking key.
import { OUT_PTR, BATCH_PTR, BATCH_SIZE } from "./arena";
import { maskCopy } from "./mask";

// Writes a header at dst; returns its length (2 to 14 bytes).
export function writeHeader(dst: usize, b0: u32, len: u32, masked: bool, key: u32): usize {
  store<u8>(dst, <u8>b0);
  const m: u32 = masked ? 0x80 : 0;
  let h: usize;
  if (len < 126) {
    store<u8>(dst, <u8>(m | len), 1);
    h = 2;
  } else if (len < 65536) {
    store<u8>(dst, <u8>(m | 126), 1);
    store<u16>(dst, bswap<u16>(<u16>len), 2);
    h = 4;
  } else {
    store<u8>(dst, <u8>(m | 127), 1);
    store<u64>(dst, bswap<u64>(<u64>len), 2);
    h = 10;
  }
  if (masked) {
    store<u32>(dst + h, key);
    h += 4;
  }
  return h;
}

// Frames `count` batch entries back to back into OUT; returns the bytes written.
// The caller keeps the total within OUT_CAP (payloads + 14 bytes each).
export function encodeBatch(count: i32): u32 {
  let o = OUT_PTR;
  for (let i = 0; i < count; i++) {
    const e = BATCH_PTR + <usize>i * BATCH_SIZE;
    const w0 = load<u32>(e);
    const src = <usize>load<u32>(e, 4);
    const len = load<u32>(e, 8);
    const key = load<u32>(e, 12);
    const masked = (w0 & 0x100) != 0;
    o += writeHeader(o, w0 & 0xff, len, masked, key);
    if (masked) maskCopy(o, src, len, key, 0);
    else memory.copy(o, src, len);
    o += len;
  }
  return <u32>(o - OUT_PTR);
}
