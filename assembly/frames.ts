// Frame parsing (RFC 6455 §5.2) of every complete frame in one read, in one call.
//
// The JS decoder keeps a connection's parser state as 16 i32 and writes them to
// STATE before the call; the call reads IN[0, LEN), unmasks payloads in place,
// validates text as it goes, writes one descriptor per payload piece and
// returns the state. Whatever it could not consume (a partial header, a control
// frame not yet whole) stays in IN[CONSUMED, LEN) for JS to carry to the next read.
import { STATE_PTR, IN_PTR, DESC_PTR, DESC_SIZE, MAX_DESC } from "./arena";
import { maskInPlace, maskInPlaceAscii } from "./mask";
import { utf8Validate, isAscii } from "./utf8";

// STATE fields (i32 index).
export const S_FLAGS = 0;      // in: F_* below
export const S_LEN = 1;        // in: bytes in IN
export const S_MAX = 2;        // in: maxPayload as u32 (0xffffffff: none)
export const S_REMAIN = 3;     // payload bytes still due for the current data frame
export const S_KEY = 4;        // masking key of the current frame
export const S_ROT = 5;        // payload bytes of the current frame already unmasked
export const S_FIN = 6;        // FIN bit of the current frame
export const S_MSG_OP = 7;     // opcode of the message in progress, 0 between messages
export const S_MSG_COMP = 8;   // 1 when the message in progress has RSV1 (compressed)
export const S_MSG_SIZE = 9;   // payload bytes of the message so far
export const S_UTF8 = 10;      // utf8Validate state of the message in progress
export const S_CONSUMED = 11;  // out: bytes of IN consumed
export const S_NDESC = 12;     // out: descriptors written
export const S_ERR = 13;       // out: close code of a protocol error, 0 if none
export const S_ERR_WHY = 14;   // out: E_* reason
export const S_JS_UTF8 = 15;   // in: a whole text message this long or longer is left to JS to validate (0: never)

export const F_SERVER = 1;     // frames from the peer must be masked
export const F_DEFLATE = 2;    // permessage-deflate negotiated: RSV1 allowed on a first frame
export const F_VALIDATE = 4;   // validate text payloads as they arrive

// Descriptor: w0 = kind | opcode << 8 | flags << 16, w1 = ptr, w2 = len,
// w3 = declared payload length of the frame (for preallocation).
export const K_DATA = 1;       // a piece of a data message's payload
export const K_CONTROL = 2;    // a whole control frame
export const D_MSG_START = 1;  // first piece of a message
export const D_MSG_END = 2;    // last piece of a message (frame complete with FIN)
export const D_COMPRESSED = 4; // the message has RSV1 set
export const D_VALIDATE_JS = 8; // a whole text message not validated here: JS validates it

// Error reasons, mirrored in src/codec/errors.ts.
export const E_RSV23 = 1;
export const E_RSV1 = 2;
export const E_OPCODE = 3;
export const E_CONTROL_FRAGMENTED = 4;
export const E_CONTROL_TOO_LONG = 5;
export const E_CONTROL_RSV1 = 6;
export const E_UNEXPECTED_CONT = 7;
export const E_EXPECTED_CONT = 8;
export const E_MASK_REQUIRED = 9;
export const E_MASK_FORBIDDEN = 10;
export const E_NON_MINIMAL = 11;
export const E_LEN_TOP_BIT = 12;
export const E_TOO_BIG = 13;
export const E_UTF8 = 14;
export const E_CONT_RSV1 = 15;

// @ts-ignore: decorator
@inline function st(i: i32): u32 { return load<u32>(STATE_PTR + (<usize>i << 2)); }
// @ts-ignore: decorator
@inline function set(i: i32, v: u32): void { store<u32>(STATE_PTR + (<usize>i << 2), v); }

let ndesc: i32 = 0;

// @ts-ignore: decorator
@inline function emit(kind: u32, opcode: u32, flags: u32, ptr: usize, len: u32, total: u32): void {
  const d = DESC_PTR + <usize>ndesc * DESC_SIZE;
  store<u32>(d, kind | (opcode << 8) | (flags << 16));
  store<u32>(d, <u32>ptr, 4);
  store<u32>(d, len, 8);
  store<u32>(d, total, 12);
  ndesc++;
}

function fail(code: u32, why: u32): void {
  set(S_ERR, code);
  set(S_ERR_WHY, why);
}

// Unmask and validate `n` payload bytes of the current data frame at p, then
// emit them. Returns false on invalid UTF-8.
function dataPiece(p: usize, n: u32, flags: u32, total: u32): bool {
  const key = st(S_KEY);
  // A whole message left to JS's validator needs none when it is all ASCII
  // (most text on the wire): the unmasking pass tells (buffer.isUtf8 was 8.8%
  // of a 1 KiB text echo's profile).
  let ascii = false;
  if (key != 0) {
    if ((flags & D_VALIDATE_JS) != 0) ascii = maskInPlaceAscii(p, n, key, st(S_ROT));
    else maskInPlace(p, n, key, st(S_ROT));
  } else if ((flags & D_VALIDATE_JS) != 0) ascii = isAscii(p, n);
  set(S_ROT, st(S_ROT) + n);
  const remain = st(S_REMAIN) - n;
  set(S_REMAIN, remain);
  const op = st(S_MSG_OP);
  const comp = st(S_MSG_COMP);
  const fin = remain == 0 && st(S_FIN) != 0;
  if (ascii) flags &= ~D_VALIDATE_JS;
  else if (op == 1 && comp == 0 && (st(S_FLAGS) & F_VALIDATE) != 0 && (flags & D_VALIDATE_JS) == 0) {
    let u = utf8Validate(p, n, <i32>st(S_UTF8));
    if (u == 0 || (u > 0 && !fin)) {
      set(S_UTF8, u);
    } else {
      fail(1007, E_UTF8);
      return false;
    }
  }
  if (comp) flags |= D_COMPRESSED;
  if (fin) {
    flags |= D_MSG_END;
    set(S_MSG_OP, 0);
    set(S_MSG_COMP, 0);
    set(S_MSG_SIZE, 0);
    set(S_UTF8, 0);
  }
  emit(K_DATA, op, flags, p, n, total);
  return true;
}

export function parse(): i32 {
  const flags = st(S_FLAGS);
  const isServer = (flags & F_SERVER) != 0;
  const deflate = (flags & F_DEFLATE) != 0;
  const maxPayload = st(S_MAX);
  let p = IN_PTR;
  const end = IN_PTR + <usize>st(S_LEN);
  ndesc = 0;
  set(S_ERR, 0);
  set(S_ERR_WHY, 0);

  // The rest of a data frame whose header came in an earlier read.
  const remain = st(S_REMAIN);
  if (remain != 0 && p < end) {
    const avail = <u32>(end - p);
    const n = remain < avail ? remain : avail;
    if (!dataPiece(p, n, 0, 0)) return finish(p);
    p += n;
  }

  while (p < end && ndesc < MAX_DESC && st(S_REMAIN) == 0) {
    const avail = end - p;
    if (avail < 2) break;
    const b0 = <u32>load<u8>(p);
    const b1 = <u32>load<u8>(p, 1);
    const fin = b0 >> 7;
    const rsv1 = (b0 >> 6) & 1;
    const opcode = b0 & 15;
    const masked = b1 >> 7;
    const len7 = b1 & 127;
    // Everything the first two bytes can tell is checked before waiting for more.
    if ((b0 & 0x30) != 0) { fail(1002, E_RSV23); break; }
    if (opcode >= 8) {
      if (opcode > 10) { fail(1002, E_OPCODE); break; }
      if (!fin) { fail(1002, E_CONTROL_FRAGMENTED); break; }
      if (len7 > 125) { fail(1002, E_CONTROL_TOO_LONG); break; }
      if (rsv1) { fail(1002, deflate ? E_CONTROL_RSV1 : E_RSV1); break; }
    } else {
      if (opcode > 2) { fail(1002, E_OPCODE); break; }
      const msgOp = st(S_MSG_OP);
      if (opcode == 0) {
        if (msgOp == 0) { fail(1002, E_UNEXPECTED_CONT); break; }
        if (rsv1) { fail(1002, deflate ? E_CONT_RSV1 : E_RSV1); break; }
      } else {
        if (msgOp != 0) { fail(1002, E_EXPECTED_CONT); break; }
        if (rsv1 && !deflate) { fail(1002, E_RSV1); break; }
      }
    }
    if (isServer && !masked) { fail(1002, E_MASK_REQUIRED); break; }
    if (!isServer && masked) { fail(1002, E_MASK_FORBIDDEN); break; }

    let hlen: usize = 2;
    let plen: u32 = len7;
    if (len7 == 126) {
      if (avail < 4) break;
      plen = (<u32>load<u8>(p, 2) << 8) | <u32>load<u8>(p, 3);
      if (plen < 126) { fail(1002, E_NON_MINIMAL); break; }
      hlen = 4;
    } else if (len7 == 127) {
      if (avail < 10) break;
      const len64 = bswap<u64>(load<u64>(p, 2));
      if ((len64 >> 63) != 0) { fail(1002, E_LEN_TOP_BIT); break; }
      if (len64 < 65536) { fail(1002, E_NON_MINIMAL); break; }
      if ((len64 >> 32) != 0) { fail(1009, E_TOO_BIG); break; } // past any Buffer
      plen = <u32>len64;
      hlen = 10;
    }
    let key: u32 = 0;
    if (masked) {
      if (avail < hlen + 4) break;
      key = load<u32>(p + hlen);
      hlen += 4;
    }

    if (opcode >= 8) {
      if (avail < hlen + <usize>plen) break; // carried until whole
      const q = p + hlen;
      if (key != 0) maskInPlace(q, plen, key, 0);
      emit(K_CONTROL, opcode, 0, q, plen, plen);
      p = q + plen;
      continue;
    }

    // Data frame: the size limit is checked from the header, before any payload is kept.
    const size = <u64>st(S_MSG_SIZE) + <u64>plen;
    if (size > <u64>maxPayload) { fail(1009, E_TOO_BIG); break; }
    let pieceFlags: u32 = 0;
    if (opcode != 0) {
      set(S_MSG_OP, opcode);
      set(S_MSG_COMP, rsv1);
      set(S_UTF8, 0);
      pieceFlags = D_MSG_START;
      // A whole text message already here can go to a faster whole-buffer
      // validator on the JS side (Node's buffer.isUtf8 is simdutf).
      const jsMin = st(S_JS_UTF8);
      if (opcode == 1 && fin && !rsv1 && jsMin != 0 && plen >= jsMin && <usize>plen <= end - p - hlen) {
        pieceFlags |= D_VALIDATE_JS;
      }
    }
    set(S_MSG_SIZE, <u32>size);
    set(S_REMAIN, plen);
    set(S_KEY, key);
    set(S_ROT, 0);
    set(S_FIN, fin);
    p += hlen;
    const left = <u32>(end - p);
    const n = plen < left ? plen : left;
    if (!dataPiece(p, n, pieceFlags, plen)) break;
    p += n;
  }
  return finish(p);
}

function finish(p: usize): i32 {
  set(S_CONSUMED, <u32>(p - IN_PTR));
  set(S_NDESC, <u32>ndesc);
  return ndesc;
}
