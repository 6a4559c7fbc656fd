// XOR masking, RFC 6455 §5.3. `key` is the 4 masking-key bytes read as a
// little-endian u32 straight from the frame header; `rot` is how many payload
// bytes before `ptr` were already masked (only rot & 3 matters), so a payload
// that spans reads keeps the right key byte at every position.

@inline function rotate(key: u32, rot: u32): u32 {
  const s = (rot & 3) << 3;
  return s == 0 ? key : (key >>> s) | (key << (32 - s));
}

export function maskInPlace(ptr: usize, len: usize, key: u32, rot: u32): void {
  maskLoop(ptr, ptr, len, key, rot, false);
}

// dst may equal src (in place); otherwise the regions must not overlap.
export function maskCopy(dst: usize, src: usize, len: usize, key: u32, rot: u32): void {
  maskLoop(dst, src, len, key, rot, false);
}

// maskInPlace that also tells whether every unmasked byte is ASCII (< 0x80):
// a whole text message left to JS's validator needs no validation then, and
// this way the check rides on the unmasking pass instead of a second one.
export function maskInPlaceAscii(ptr: usize, len: usize, key: u32, rot: u32): bool {
  return maskLoop(ptr, ptr, len, key, rot, true);
}

// The one masking loop. `track` is a constant at every call site, so the
// inlined copies without it carry no OR accumulator (the optimizer drops it);
// with it, the result is whether no unmasked byte had its top bit set.
// @ts-ignore: decorator
@inline function maskLoop(dst: usize, src: usize, len: usize, key: u32, rot: u32, track: bool): bool {
  const k = rotate(key, rot);
  let i: usize = 0;
  let high: u64 = 0;
  if (ASC_FEATURE_SIMD) {
    const kv = i32x4.splat(<i32>k);
    let acc = i32x4.splat(0);
    const end16 = len & ~<usize>15;
    // 4 vectors per step keeps both load ports busy on 64 KiB payloads.
    const end64 = len & ~<usize>63;
    while (i < end64) {
      const a = v128.xor(v128.load(src + i), kv);
      v128.store(dst + i, a);
      const b = v128.xor(v128.load(src + i + 16), kv);
      v128.store(dst + i + 16, b);
      const c = v128.xor(v128.load(src + i + 32), kv);
      v128.store(dst + i + 32, c);
      const d = v128.xor(v128.load(src + i + 48), kv);
      v128.store(dst + i + 48, d);
      if (track) acc = v128.or(acc, v128.or(v128.or(a, b), v128.or(c, d)));
      i += 64;
    }
    while (i < end16) {
      const a = v128.xor(v128.load(src + i), kv);
      v128.store(dst + i, a);
      if (track) acc = v128.or(acc, a);
      i += 16;
    }
    if (track) high = <u64>i8x16.bitmask(acc);
  } else {
    const k64 = (<u64>k) | ((<u64>k) << 32);
    const end8 = len & ~<usize>7;
    while (i < end8) {
      const v = load<u64>(src + i) ^ k64;
      store<u64>(dst + i, v);
      if (track) high |= v & 0x8080808080808080;
      i += 8;
    }
  }
  // i is a multiple of 4 here, so the tail starts at key byte 0 of k.
  let kt = k;
  let tail: u32 = 0;
  while (i < len) {
    const v = load<u8>(src + i) ^ <u8>kt;
    store<u8>(dst + i, v);
    if (track) tail |= v;
    kt = (kt >>> 8) | (kt << 24);
    i++;
  }
  return high == 0 && (tail & 0x80) == 0;
}
