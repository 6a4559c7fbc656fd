// Sans-I/O frame decoder: bytes in, messages / control frames / errors out.
// One wasm call per pushed read parses every complete frame in it (headers,
// unmasking, UTF-8 validation of text), then JS copies each finished message
// out of wasm memory into bytes the caller owns: users never see a live view of
// wasm memory.
import { getCodec, type WasmCodec } from './wasm.js';
import { errorFromWasm, invalidUtf8, type ProtocolError } from './errors.js';
import { decodeClosePayload } from './close.js';

// State words, descriptor layout and flags mirror assembly/frames.ts.
const S_FLAGS = 0, S_LEN = 1, S_MAX = 2, S_CONSUMED = 11, S_ERR = 13, S_ERR_WHY = 14, S_JS_UTF8 = 15;
const F_SERVER = 1, F_DEFLATE = 2, F_VALIDATE = 4;
const K_DATA = 1;
const D_MSG_START = 1, D_MSG_END = 2, D_COMPRESSED = 4, D_VALIDATE_JS = 8;
const OP_BINARY = 2, OP_CLOSE = 8, OP_PING = 9;

const SMALL_COPY = 64;

// Set while a decoder runs; pushes made meanwhile (from a handler) wait here.
let busy = false;

/** True while a decoder is dispatching: IN and the descriptor table are in use. */
export function decoding(): boolean { return busy; }
const deferred: Array<FrameDecoder | Uint8Array> = [];

export interface DecoderHandler {
  /** A whole message. `compressed`: raw deflate bytes with the 00 00 ff ff tail appended, not yet validated. */
  onMessage(data: Uint8Array, isBinary: boolean, compressed: boolean): void;
  onPing(data: Uint8Array): void;
  onPong(data: Uint8Array): void;
  /** A valid close frame; code 1005 when it had no payload. Input after it is ignored. */
  onClose(code: number, reason: string, payload: Uint8Array): void;
  /** A protocol violation; `error.closeCode` is the code to close with. Input after it is ignored. */
  onError(error: ProtocolError): void;
}

export interface DecoderOptions {
  /** true: we are the server, so the peer's frames must be masked. */
  isServer: boolean;
  /** Largest message accepted, in bytes (0: no limit, like ws). Checked from each header. */
  maxPayload?: number;
  /** permessage-deflate was negotiated: RSV1 is allowed on a message's first frame. */
  perMessageDeflate?: boolean;
  skipUTF8Validation?: boolean;
  /**
   * Allocates the bytes handed to the handler (Node passes Buffer.allocUnsafe).
   * A buffer of 64 KiB or more that owns its whole ArrayBuffer and that the
   * decoder lets go of unread (a message grown past, trimmed, or dropped) is
   * detached: an allocator must not recycle what it returned.
   */
  alloc?: (size: number) => Uint8Array;
  /**
   * Allocates a whole message (or control payload) copied out in one go and
   * handed to the handler at once; it may carve from a shared slab. A message
   * still arriving uses `alloc`, so what a decoder holds is what it counts.
   */
  allocWhole?: (size: number) => Uint8Array;
  /**
   * A whole-buffer UTF-8 validator faster than the wasm one on large input
   * (Node passes buffer.isUtf8, which is simdutf); used for text messages that
   * arrive whole and are at least `wholeMessageUtf8Min` bytes.
   */
  isUtf8?: (bytes: Uint8Array) => boolean;
  wholeMessageUtf8Min?: number;
}

// Where buffer.isUtf8 overtakes validating inside the parse call (which costs
// no extra crossing). `npm run bench:codec`, mixed text, GB/s wasm vs isUtf8:
// 125 B 2.45 vs 1.46, 1 KiB 6.5 vs 8.9, 64 KiB 12 vs 35; the lines cross
// between 125 B and 1 KiB.
export const WHOLE_MESSAGE_UTF8_MIN = 512;

const defaultAlloc = (n: number): Uint8Array => new Uint8Array(n);
const EMPTY = new Uint8Array(0);

// Room kept in front of a direct read for the carried tail: a carry is a partial
// header (<= 14 bytes) or a control frame not yet whole (<= 131 bytes); a longer
// one (the rest of a read after a full descriptor table) takes the copying path.
const CARRY_ROOM = 256;
let targetCodec: WasmCodec | null = null;
let target: Uint8Array | null = null;
const DEFLATE_TAIL = [0x00, 0x00, 0xff, 0xff];

// A message buffer the decoder lets go of (grown past, trimmed to its length,
// or dropped when the connection ends) is freed at once where the runtime can
// detach an ArrayBuffer (ArrayBuffer.prototype.transfer: Node >= 22, Deno,
// Bun), not left to the GC: under 200 peers streaming unfinished messages at a
// 64 MiB budget, Node 24's RSS peaked 294-359 MiB above its start while the
// bytes held never passed 64 MiB (test/budget.test.ts). Only buffers that own
// their whole ArrayBuffer (never a slice of a pool) and of at least 64 KiB,
// where the GC's delay costs memory that matters.
const RELEASE_MIN = 64 * 1024;
const detach = (ArrayBuffer.prototype as { transfer?: (length: number) => ArrayBuffer }).transfer;
function release(buf: Uint8Array | null): void {
  if (buf === null || detach === undefined || buf.byteLength < RELEASE_MIN) return;
  const ab = buf.buffer;
  if (buf.byteOffset === 0 && ab.byteLength === buf.byteLength && ab instanceof ArrayBuffer) detach.call(ab, 0);
}

export class FrameDecoder {
  private readonly codec: WasmCodec;
  private readonly handler: DecoderHandler;
  private readonly alloc: (size: number) => Uint8Array;
  private readonly allocWhole: (size: number) => Uint8Array;
  private readonly maxPayload: number;
  private readonly isUtf8: ((bytes: Uint8Array) => boolean) | null;
  // A plain array, not a Uint32Array: a small typed array per connection costs
  // an off-heap backing store (~350 B external per idle connection, measured
  // with 3,000 idle connections); 16 numbers copy in and out just as fast.
  private readonly st: number[] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
  /** Unconsumed tail of the last read: a partial header or a control frame not yet whole. */
  private carry: Uint8Array | null = null;
  /** A message arriving in pieces: one contiguous buffer, so memory pinned tracks bytes received. */
  private msg: Uint8Array | null = null;
  private msgLen = 0;
  private done = false;

  constructor(handler: DecoderHandler, options: DecoderOptions) {
    this.codec = getCodec();
    this.handler = handler;
    this.alloc = options.alloc ?? defaultAlloc;
    this.allocWhole = options.allocWhole ?? this.alloc;
    const max = options.maxPayload ?? 0;
    this.maxPayload = max > 0 && max < 0xffffffff ? max : 0xffffffff;
    this.st[S_FLAGS] = (options.isServer ? F_SERVER : 0) | (options.perMessageDeflate ? F_DEFLATE : 0) |
      (options.skipUTF8Validation ? 0 : F_VALIDATE);
    this.st[S_MAX] = this.maxPayload;
    this.isUtf8 = options.isUtf8 ?? null;
    if (this.isUtf8 && !options.skipUTF8Validation) this.st[S_JS_UTF8] = options.wholeMessageUtf8Min ?? WHOLE_MESSAGE_UTF8_MIN;
  }

  /** True once a close frame or an error ended the input. */
  get closed(): boolean { return this.done; }

  /** Bytes held for a message still arriving plus the carried tail (what this decoder pins). */
  get bufferedBytes(): number { return (this.msg ? this.msg.length : 0) + (this.carry ? this.carry.length : 0); }

  /** Feeds the next bytes read from the peer. */
  push(chunk: Uint8Array): void {
    // IN and the descriptor table are shared by every decoder of the realm: a
    // push from inside a handler waits until the running one has finished.
    if (busy) {
      deferred.push(this, chunk.slice());
      return;
    }
    busy = true;
    try {
      this.pushNow(chunk);
      FrameDecoder.runDeferred();
    } finally {
      busy = false;
      deferred.length = 0;
    }
  }

  /**
   * Where a transport may read the next bytes straight into (then it calls
   * pushRead): the start of the decoder's input area in wasm memory, so a read
   * is parsed where the kernel put it, with no copy in. The same view for every
   * decoder of the realm: only valid until pushRead returns, so a transport
   * hands it to one read at a time (Node's socket `onread` does).
   */
  readTarget(): Uint8Array {
    const c = this.codec;
    if (targetCodec !== c) {
      targetCodec = c;
      target = c.u8.subarray(c.inPtr, c.inPtr + c.inCap - CARRY_ROOM);
    }
    return target!;
  }

  /** The first `n` bytes of readTarget() are the next bytes read from the peer. */
  pushRead(n: number): void {
    const c = this.codec;
    const carry = this.carry;
    // Rare paths take the copying one: a push from inside a handler (IN is in
    // use) or a carry too long to go in front of the read (a full table's rest).
    if (busy || (carry !== null && carry.length > CARRY_ROOM)) {
      this.push(c.u8.slice(c.inPtr, c.inPtr + n));
      return;
    }
    busy = true;
    try {
      let len = n;
      if (carry !== null) {
        // A partial header or control frame goes in front of the read.
        c.u8.copyWithin(c.inPtr + carry.length, c.inPtr, c.inPtr + n);
        c.u8.set(carry, c.inPtr);
        len += carry.length;
        this.carry = null;
      }
      if (len > 0 && !this.done && this.round(len)) this.pushNow(EMPTY);
      FrameDecoder.runDeferred();
    } finally {
      busy = false;
      deferred.length = 0;
    }
  }

  // The pushes handlers made while IN was in use, in the order they came.
  private static runDeferred(): void {
    while (deferred.length > 0) {
      const [d, chunk] = deferred.splice(0, 2) as [FrameDecoder, Uint8Array];
      d.pushNow(chunk);
    }
  }

  private pushNow(chunk: Uint8Array): void {
    const c = this.codec;
    let off = 0;
    while (!this.done) {
      let len = 0;
      const carry = this.carry;
      if (carry !== null) {
        c.u8.set(carry, c.inPtr);
        len = carry.length;
        this.carry = null;
      }
      const n = Math.min(chunk.length - off, c.inCap - len);
      if (n > 0) {
        c.u8.set(off === 0 && n === chunk.length ? chunk : chunk.subarray(off, off + n), c.inPtr + len);
        off += n;
        len += n;
      }
      if (len === 0) return;
      const tableFull = this.round(len);
      if (off >= chunk.length && !tableFull) return;
    }
  }

  /** Drops partial state (after the connection ended). */
  reset(): void {
    this.carry = null;
    release(this.msg);
    this.msg = null;
    this.msgLen = 0;
    this.done = true;
  }

  // One wasm call over IN[0, len); returns true when the descriptor table filled up
  // and the rest (now in carry) needs another call.
  private round(len: number): boolean {
    const c = this.codec;
    const st = this.st;
    st[S_LEN] = len;
    c.state.set(st);
    const ndesc = c.exports.parse();
    const out = c.state;
    for (let i = 0; i < 16; i++) st[i] = out[i];
    const consumed = st[S_CONSUMED];
    // The tail is saved first: handlers run during dispatch.
    if (consumed < len && st[S_ERR] === 0) this.carry = c.u8.slice(c.inPtr + consumed, c.inPtr + len);
    // A header error stops at the offending frame: its first two bytes name it in the message.
    const b0 = c.u8[c.inPtr + consumed], b1 = c.u8[c.inPtr + consumed + 1];
    this.dispatch(ndesc);
    const err = st[S_ERR];
    if (err !== 0 && !this.done) this.fail(errorFromWasm(err, st[S_ERR_WHY], b0, b1));
    return ndesc === c.maxDesc && !this.done && consumed < len;
  }

  private fail(err: ProtocolError): void {
    this.done = true;
    this.carry = null;
    release(this.msg);
    this.msg = null;
    this.handler.onError(err);
  }

  // Hands each descriptor's payload to the handler, copied out of wasm memory.
  private dispatch(ndesc: number): void {
    const c = this.codec;
    const d = c.desc;
    const u8 = c.u8;
    const h = this.handler;
    for (let i = 0, j = 0; i < ndesc && !this.done; i++, j += 4) {
      const w0 = d[j];
      const op = (w0 >>> 8) & 0xff;
      const flags = w0 >>> 16;
      const ptr = d[j + 1];
      const len = d[j + 2];
      if ((w0 & 0xff) === K_DATA) {
        const compressed = (flags & D_COMPRESSED) !== 0;
        if ((flags & (D_MSG_START | D_MSG_END)) === (D_MSG_START | D_MSG_END) && !compressed) {
          const data = this.copyOut(u8, ptr, len);
          if ((flags & D_VALIDATE_JS) !== 0 && !this.isUtf8!(data)) { this.fail(invalidUtf8()); return; }
          h.onMessage(data, op === OP_BINARY, false);
          continue;
        }
        if (flags & D_MSG_START) this.startMessage(d[j + 3]);
        if (len > 0) this.append(u8.subarray(ptr, ptr + len));
        if (flags & D_MSG_END) {
          if (compressed) this.append(DEFLATE_TAIL);
          const msg = this.msg!;
          const out = msg.length === this.msgLen ? msg : this.exact(msg, this.msgLen);
          this.msg = null;
          this.msgLen = 0;
          h.onMessage(out, op === OP_BINARY, compressed);
        }
        continue;
      }
      const payload = this.copyOut(u8, ptr, len);
      if (op === OP_CLOSE) {
        const parsed = decodeClosePayload(payload);
        if ('closeCode' in parsed) { this.fail(parsed); return; }
        this.done = true;
        this.carry = null;
        release(this.msg);
        this.msg = null;
        h.onClose(parsed.code, parsed.reason, payload);
        return;
      }
      if (op === OP_PING) h.onPing(payload); else h.onPong(payload);
    }
  }

  private copyOut(u8: Uint8Array, ptr: number, len: number): Uint8Array {
    const out = this.allocWhole(len);
    // Up to SMALL_COPY bytes a loop beats creating a subarray view to set()
    // from (a view is an object allocation): 1,000 masked 30-byte frames per
    // push decode at 7.7-8.4 M msgs/s with the loop, 6.3-7.5 M without.
    if (len <= SMALL_COPY) for (let k = 0; k < len; k++) out[k] = u8[ptr + k];
    else out.set(u8.subarray(ptr, ptr + len));
    return out;
  }

  private startMessage(firstFrameLength: number): void {
    // The first frame's declared length (already checked against maxPayload)
    // sizes the buffer; a fragmented message grows it by doubling.
    this.msg = this.alloc(Math.max(firstFrameLength, 64));
    this.msgLen = 0;
  }

  private append(bytes: ArrayLike<number> & { length: number }): void {
    let msg = this.msg!;
    const need = this.msgLen + bytes.length;
    if (need > msg.length) {
      const grown = this.alloc(Math.min(Math.max(need, msg.length * 2), Math.max(need, this.maxPayload)));
      grown.set(msg.subarray(0, this.msgLen));
      release(msg);
      this.msg = msg = grown;
    }
    msg.set(bytes as Uint8Array, this.msgLen);
    this.msgLen = need;
  }

  private exact(buf: Uint8Array, len: number): Uint8Array {
    const out = this.alloc(len);
    out.set(buf.subarray(0, len));
    release(buf);
    return out;
  }
}
