// UTF-8 validation (RFC 3629), incremental across calls.
//
// State (i32): 0 = at a character boundary; otherwise the pending sequence as
// (bytesStillNeeded << 16) | (lowestAllowedNextByte << 8) | highestAllowedNextByte.
// Negative = invalid. A fragment that ends inside a sequence returns the
// pending state; a byte that cannot continue any valid sequence fails at once,
// so a text message is rejected on the fragment that carries the first bad byte.
//
// Two paths:
// - Scalar DFA (below): the only path in the scalar build, and the path for
//   short inputs in the SIMD build (see SIMD_MIN).
// - SIMD (v128, SIMD build only): the "lookup4" algorithm of Keiser & Lemire,
//   "Validating UTF-8 In Less Than One Instruction Per Byte" (2021), as in
//   simdutf's utf8_lookup4_algorithm.h. Per 16-byte block, three nibble
//   lookups (i8x16.swizzle) ANDed give the errors that a 2-byte window can
//   see; a second check demands continuation bytes 2 and 3 after 3- and 4-byte
//   leads. Only whole 16-byte blocks inside [ptr, ptr+len) are loaded, so no
//   byte past the end (or before ptr) is ever read. The bytes after the last
//   whole block, plus the incomplete sequence the last block may end with, are
//   finished by the scalar DFA, which also yields the pending state.
//
// Flow of one call: finish a pending sequence with the DFA (at most 3 bytes);
// skip leading all-ASCII blocks (64 then 16 bytes at a time); if at least
// SIMD_MIN bytes remain, lookup4 over the remaining whole blocks (the byte
// before the first block is treated as ASCII, which is exactly "at a
// character boundary"); then the DFA from the start of the last (possibly
// incomplete) sequence to the end. Errors are ORed into one vector and tested
// once per call: on error only a negative result is needed, not a position.

// @ts-ignore: decorator
@inline const INVALID: i32 = -1;

// After a pending sequence is finished and leading ASCII is skipped, inputs
// with fewer than SIMD_MIN bytes left take the scalar DFA even in the SIMD
// build. 16 (one whole block) is also the smallest value simdFrom accepts.
// Measured with `node bench/utf8-probe.mjs threshold build/wasmsocket.wasm
// build/wasmsocket.scalar.wasm` (Node 20.20.2 / V8 11.3, AMD EPYC, 2 shared
// cores under load; ns per call minus an empty call, mean over 64 start
// offsets; mixed = English with ~21% non-ASCII bytes; "DFA" = the scalar
// build, which runs exactly scalarFrom):
//   len:          8    12    15    16    20    24    32    48    64   128   256
//   mixed SIMD: 4.8  15.7  17.3   3.5   9.6   9.7   6.4   7.8  11.6  21.1  38.9
//   mixed DFA:  4.7  10.3  14.0   9.3  14.8  15.2  18.2  26.9  37.5  72.7 139.9
//   ascii SIMD: 1.1   5.6  11.2  -0.5   5.0   0.5   0.6   0.8  -0.2   1.8   4.7
//   ascii DFA:  1.8   6.0  10.0   1.4   6.1   1.4   2.1   2.7   3.4   6.1  13.3
// (below 16 both builds run the DFA; differences there are noise and call
// overhead). From 16 bytes the SIMD path is at least as fast on both kinds of
// input, so the threshold is the smallest possible one.
// @ts-ignore: decorator
@inline const SIMD_MIN: usize = 16;

// @ts-ignore: decorator
@inline function pending(need: i32, lo: i32, hi: i32): i32 {
  return (need << 16) | (lo << 8) | hi;
}

// Continue a pending sequence (state != 0) with byte b.
// @ts-ignore: decorator
@inline function stepCont(state: i32, b: i32): i32 {
  const lo = (state >>> 8) & 0xff;
  const hi = state & 0xff;
  if (b < lo || b > hi) return INVALID;
  const need = (state >>> 16) - 1;
  return need == 0 ? 0 : pending(need, 0x80, 0xbf);
}

// Start a sequence at a non-ASCII lead byte b.
// @ts-ignore: decorator
@inline function stepLead(b: i32): i32 {
  if (b < 0xc2) return INVALID; // continuation byte or overlong 2-byte lead
  if (b <= 0xdf) return pending(1, 0x80, 0xbf);
  if (b == 0xe0) return pending(2, 0xa0, 0xbf); // no overlongs
  if (b == 0xed) return pending(2, 0x80, 0x9f); // no surrogates D800-DFFF
  if (b <= 0xef) return pending(2, 0x80, 0xbf);
  if (b == 0xf0) return pending(3, 0x90, 0xbf); // no overlongs
  if (b <= 0xf3) return pending(3, 0x80, 0xbf);
  if (b == 0xf4) return pending(3, 0x80, 0x8f); // nothing above U+10FFFF
  return INVALID; // F5-FF: 5- and 6-byte forms and beyond
}

// Scalar DFA over [ptr+i, ptr+len) starting in `state` (>= 0).
function scalarFrom(ptr: usize, i: usize, len: usize, state: i32): i32 {
  while (i < len) {
    if (state == 0) {
      // ASCII fast path: 8 bytes at a time.
      while (i + 8 <= len && (load<u64>(ptr + i) & 0x8080808080808080) == 0) i += 8;
      if (i >= len) break;
      const b = <i32>load<u8>(ptr + i++);
      if (b < 0x80) continue;
      state = stepLead(b);
    } else {
      state = stepCont(state, <i32>load<u8>(ptr + i++));
    }
    if (state < 0) return INVALID;
  }
  return state;
}

// ---- SIMD (lookup4) -------------------------------------------------------

// Error bits. A pair (previous byte, current byte) is an error when some bit is
// set in all three lookups: previous byte's high nibble, its low nibble, and
// the current byte's high nibble.
// TOO_SHORT   = 0x01  11______ 0_______ / 11______ 11______ (lead not followed by continuation)
// TOO_LONG    = 0x02  0_______ 10______ (continuation after ASCII)
// OVERLONG_3  = 0x04  11100000 100_____
// TOO_LARGE   = 0x08  11110100 1001____, 11110100 101_____, 11110101.. 1001____/101_____
// SURROGATE   = 0x10  11101101 101_____
// OVERLONG_2  = 0x20  1100000_ 10______
// TOO_LARGE_1000 = OVERLONG_4 = 0x40  (11110101.. 1000____) / 11110000 1000____
// TWO_CONTS   = 0x80  10______ 10______ (cleared again where 2-3 continuations are required)
//
// byte_1_high (prev >> 4):
//   0-7: TOO_LONG; 8-B: TWO_CONTS; C: TOO_SHORT|OVERLONG_2; D: TOO_SHORT;
//   E: TOO_SHORT|OVERLONG_3|SURROGATE; F: TOO_SHORT|TOO_LARGE|TOO_LARGE_1000|OVERLONG_4
// byte_1_low (prev & 15), CARRY = TOO_SHORT|TOO_LONG|TWO_CONTS:
//   0: CARRY|OVERLONG_3|OVERLONG_2|OVERLONG_4; 1: CARRY|OVERLONG_2; 2,3: CARRY;
//   4: CARRY|TOO_LARGE; 5-F: CARRY|TOO_LARGE|TOO_LARGE_1000, D also |SURROGATE
// byte_2_high (cur >> 4):
//   0-7: TOO_SHORT; 8: TOO_LONG|OVERLONG_2|TWO_CONTS|OVERLONG_3|TOO_LARGE_1000|OVERLONG_4;
//   9: TOO_LONG|OVERLONG_2|TWO_CONTS|OVERLONG_3|TOO_LARGE;
//   A,B: TOO_LONG|OVERLONG_2|TWO_CONTS|SURROGATE|TOO_LARGE; C-F: TOO_SHORT
// (Tables are written as i8 because the v128 literal takes i8 lanes.)

// @ts-ignore: decorator
@inline function checkBlock(cur: v128, prev: v128): v128 {
  const lowNib = i8x16.splat(0x0f);
  const prev1 = i8x16.shuffle(prev, cur, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30);
  const b1h = i8x16.swizzle(
    i8x16(2, 2, 2, 2, 2, 2, 2, 2, -128, -128, -128, -128, 33, 1, 21, 73),
    i8x16.shr_u(prev1, 4));
  const b1l = i8x16.swizzle(
    i8x16(-25, -93, -125, -125, -117, -53, -53, -53, -53, -53, -53, -53, -53, -37, -53, -53),
    v128.and(prev1, lowNib));
  const b2h = i8x16.swizzle(
    i8x16(1, 1, 1, 1, 1, 1, 1, 1, -26, -82, -70, -70, 1, 1, 1, 1),
    i8x16.shr_u(cur, 4));
  const sc = v128.and(v128.and(b1h, b1l), b2h);
  // Continuations required as byte 3 of 3-/4-byte sequences and byte 4 of
  // 4-byte ones: prev2 >= 0xE0 or prev3 >= 0xF0 (saturating subtract leaves
  // the high bit set exactly then). Those positions must carry TWO_CONTS,
  // every other position must not.
  const prev2 = i8x16.shuffle(prev, cur, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29);
  const prev3 = i8x16.shuffle(prev, cur, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28);
  const is3 = i8x16.sub_sat_u(prev2, i8x16.splat(<i8>(0xe0 - 0x80)));
  const is4 = i8x16.sub_sat_u(prev3, i8x16.splat(<i8>(0xf0 - 0x80)));
  const must23 = v128.and(v128.or(is3, is4), i8x16.splat(-128));
  return v128.xor(must23, sc);
}

// Non-zero lanes where a block's last bytes start a sequence that the block
// cannot finish (lane 15 >= C0, lane 14 >= E0, lane 13 >= F0).
// @ts-ignore: decorator
@inline function incomplete(cur: v128): v128 {
  return i8x16.sub_sat_u(cur,
    i8x16(-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, <i8>(0xf0 - 1), <i8>(0xe0 - 1), <i8>(0xc0 - 1)));
}

// SIMD over whole 16-byte blocks of [ptr+i, ptr+len), i at a character
// boundary and len - i >= 16. Returns INVALID, or the result of the DFA over
// the rest.
function simdFrom(ptr: usize, i: usize, len: usize): i32 {
  const hi = i8x16.splat(-128);
  let prev = i8x16.splat(0);
  let err = i8x16.splat(0);
  let prevInc = i8x16.splat(0);
  // 64 bytes per step: one ASCII test for the whole step.
  while (i + 64 <= len) {
    const p = ptr + i;
    const a = v128.load(p);
    const b = v128.load(p, 16);
    const c = v128.load(p, 32);
    const d = v128.load(p, 48);
    if (!v128.any_true(v128.and(v128.or(v128.or(a, b), v128.or(c, d)), hi))) {
      // All ASCII: only an unfinished sequence from before can be wrong.
      err = v128.or(err, prevInc);
      prevInc = i8x16.splat(0);
      prev = d;
    } else {
      err = v128.or(err, checkBlock(a, prev));
      err = v128.or(err, checkBlock(b, a));
      err = v128.or(err, checkBlock(c, b));
      err = v128.or(err, checkBlock(d, c));
      prevInc = incomplete(d);
      prev = d;
    }
    i += 64;
  }
  while (i + 16 <= len) {
    const a = v128.load(ptr + i);
    if (!v128.any_true(v128.and(a, hi))) {
      err = v128.or(err, prevInc);
      prevInc = i8x16.splat(0);
    } else {
      err = v128.or(err, checkBlock(a, prev));
      prevInc = incomplete(a);
    }
    prev = a;
    i += 16;
  }
  if (v128.any_true(err)) return INVALID;
  // Everything before i is valid except possibly a sequence the last block
  // could not finish. Back up to its lead byte (the SIMD check has already
  // vetted the bytes after it that lie before i) and let the DFA finish.
  // At least 16 bytes were processed, so i - 3 is inside this call's bytes.
  let k = i;
  for (let d: usize = 1; d <= 3; d++) {
    const b = <i32>load<u8>(ptr + i - d);
    if (b < 0x80) break;              // ASCII: boundary at i
    if (b >= 0xc0) {                  // lead: does it end before i?
      const n: usize = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : 2;
      if (n > d) k = i - d;
      break;
    }
  }
  return scalarFrom(ptr, k, len, 0);
}

export function utf8Validate(ptr: usize, len: usize, state: i32): i32 {
  if (state < 0) return INVALID;
  let i: usize = 0;
  // Finish a sequence left pending by the previous fragment.
  while (state != 0 && i < len) {
    state = stepCont(state, <i32>load<u8>(ptr + i++));
    if (state < 0) return INVALID;
  }
  if (ASC_FEATURE_SIMD) {
    if (state == 0) {
      // Leading ASCII: skip it without setting up the lookup tables, so short
      // ASCII messages cost about what the DFA costs.
      i += asciiBlocks(ptr + i, len - i);
      if (len - i >= SIMD_MIN) return simdFrom(ptr, i, len);
    }
  }
  return scalarFrom(ptr, i, len, state);
}

// How many leading bytes are ASCII, counted in whole 16-byte blocks (SIMD
// build; 0 in the scalar one, whose DFA has its own 8-byte ASCII path).
// @ts-ignore: decorator
@inline function asciiBlocks(ptr: usize, len: usize): usize {
  let i: usize = 0;
  if (ASC_FEATURE_SIMD) {
    const hi = i8x16.splat(-128);
    while (i + 64 <= len) {
      const p = ptr + i;
      const x = v128.or(v128.or(v128.load(p), v128.load(p, 16)), v128.or(v128.load(p, 32), v128.load(p, 48)));
      if (v128.any_true(v128.and(x, hi))) break;
      i += 64;
    }
    while (i + 16 <= len && !v128.any_true(v128.and(v128.load(ptr + i), hi))) i += 16;
  }
  return i;
}

// True when every byte is below 0x80: valid UTF-8 with nothing more to check.
export function isAscii(ptr: usize, len: usize): bool {
  let i = asciiBlocks(ptr, len);
  const end8 = i + ((len - i) & ~<usize>7);
  while (i < end8) {
    if ((load<u64>(ptr + i) & 0x8080808080808080) != 0) return false;
    i += 8;
  }
  while (i < len) {
    if (load<u8>(ptr + i) >= 0x80) return false;
    i++;
  }
  return true;
}
