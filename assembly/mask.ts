// XOR masking, RFC 6455 §5.3. `key` is the 4 masking-key bytes read as a
// little-endian u32 straight from the frame header; `rot` is how many payload
// bytes before `ptr` were already masked (only rot & 3 matters), so a payload
// that spans reads keeps the right key byte at every position.

@inline function rotate(key: u32, rot: u32): u32 {
  const s = (rot & 3) << 3;
  return s == 0 ? key : (key >>> s) | (key << (32 - s));
}

export function maskInPlace(ptr: usize, len: usize, key: u32, rot: u32): void {
  maskCopy(ptr, ptr, len, key, rot);
}

// dst may equal src (in place); otherwise the regions must not overlap.
export function maskCopy(dst: usize, src: usize, len: usize, key: u32, rot: u32): void {
  const k = rotate(key, rot);
  let i: usize = 0;
  if (ASC_FEATURE_SIMD) {
    const kv = i32x4.splat(<i32>k);
    const end16 = len & ~<usize>15;
    // 4 vectors per step keeps both load ports busy on 64 KiB payloads.
    const end64 = len & ~<usize>63;
    while (i < end64) {
      v128.store(dst + i, v128.xor(v128.load(src + i), kv));
      v128.store(dst + i + 16, v128.xor(v128.load(src + i + 16), kv));
      v128.store(dst + i + 32, v128.xor(v128.load(src + i + 32), kv));
      v128.store(dst + i + 48, v128.xor(v128.load(src + i + 48), kv));
      i += 64;
    }
    while (i < end16) {
      v128.store(dst + i, v128.xor(v128.load(src + i), kv));
      i += 16;
    }
  } else {
    const k64 = (<u64>k) | ((<u64>k) << 32);
    const end8 = len & ~<usize>7;
    while (i < end8) {
      store<u64>(dst + i, load<u64>(src + i) ^ k64);
      i += 8;
    }
  }
  // i is a multiple of 4 here, so the tail starts at key byte 0 of k.
  let kt = k;
  while (i < len) {
    store<u8>(dst + i, load<u8>(src + i) ^ <u8>kt);
    kt = (kt >>> 8) | (kt << 24);
    i++;
  }
}
