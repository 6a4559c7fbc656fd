// The differential fuzzer's parts: a seeded generator of frame streams (valid,
// mutated and hostile), a plain reference decoder that follows ws's Receiver
// (node_modules/ws/lib/receiver.js) rule for rule, and the comparison with the
// differences that are ours on purpose, named in DIFFERENCES below.
import { FrameDecoder, type ProtocolError } from '../../src/codec/index.ts';
import { prng } from './prng.ts';

export type Ev =
  | { t: 'message'; binary: boolean; data: Uint8Array }
  | { t: 'ping' | 'pong'; data: Uint8Array }
  | { t: 'close'; code: number; reason: Uint8Array }
  | { t: 'error'; code: number; why: string };

export interface Case { isServer: boolean; maxPayload: number; bytes: Uint8Array }

/**
 * The differences from ws that are ours on purpose. The comparison accepts
 * these and nothing else.
 */
export const DIFFERENCES = {
  /** RFC 6455 §5.2: a length must use the minimal number of bytes; we close 1002, ws accepts it. */
  nonMinimalLength: 'WS_ERR_INVALID_PAYLOAD_LENGTH',
  /**
   * Invalid UTF-8 in a text message is caught in the fragment (or the part of
   * a frame received so far) that carries it (RFC 6455 §8.1: fail as soon as
   * the bytes are known invalid); ws validates when the message ends, so it may
   * first deliver pings/pongs, a close, or another error, or nothing if the
   * stream stops first.
   */
  utf8AtFragment: 'WS_ERR_INVALID_UTF8',
  /**
   * A frame header's errors are reported once the whole header (mask key
   * included; for a close frame with a 1-byte payload, that byte too) has
   * arrived; ws reports some from the first bytes. They differ only on a
   * stream that stops inside that header: ws reports the error, we wait.
   */
  headerErrorWhenWhole: 'header incomplete',
  /**
   * RFC 6455 §5.2: a 64-bit length's most significant bit MUST be 0; we close
   * 1002 (a protocol error); ws closes 1009 (any length past 2^53 - 1).
   */
  lengthTopBit: 'WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH',
} as const;

// ---- reference decoder (ws's Receiver rules, whole stream at once) ----

const utf8Fatal = new TextDecoder('utf-8', { fatal: true });

function validUtf8(b: Uint8Array): boolean {
  try { utf8Fatal.decode(b); return true; } catch { return false; }
}

function validUtf8Prefix(b: Uint8Array): boolean {
  const d = new TextDecoder('utf-8', { fatal: true });
  try { d.decode(b, { stream: true }); return true; } catch { return false; }
}

function validCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999);
}

/**
 * Decodes a whole stream as ws's Receiver does (no extensions), and notes the
 * event index at which a fragmented text message first became invalid UTF-8.
 */
export interface RefResult { events: Ev[]; utf8BadAt: number; headerIncomplete: boolean }

export function referenceDecode(c: Case): RefResult {
  const b = c.bytes, n = b.length, events: Ev[] = [];
  let pos = 0, fragmented = 0, parts: Uint8Array[] = [], total = 0, utf8BadAt = -1;
  // Whether the bytes of the current frame's header (and a 1-byte close payload) are all there.
  const headerWhole = (): boolean => {
    const l7 = b[pos + 1] & 0x7f;
    const h = 2 + (l7 === 126 ? 2 : l7 === 127 ? 8 : 0) + ((b[pos + 1] & 0x80) !== 0 ? 4 : 0);
    return n - pos >= h + ((b[pos] & 0x0f) === 8 && l7 === 1 ? 1 : 0);
  };
  let headerIncomplete = false;
  const err = (code: number, why: string): RefResult => {
    headerIncomplete = !headerWhole();
    events.push({ t: 'error', code, why });
    return { events, utf8BadAt, headerIncomplete };
  };
  const payloadErr = (code: number, why: string): RefResult => {
    events.push({ t: 'error', code, why });
    return { events, utf8BadAt, headerIncomplete: false };
  };
  for (;;) {
    if (n - pos < 2) return { events, utf8BadAt, headerIncomplete };
    const b0 = b[pos], b1 = b[pos + 1];
    const fin = (b0 & 0x80) !== 0, op = b0 & 0x0f, masked = (b1 & 0x80) !== 0;
    let len = b1 & 0x7f;
    if ((b0 & 0x30) !== 0) return err(1002, 'rsv23');
    if ((b0 & 0x40) !== 0) return err(1002, 'rsv1');
    if (op === 0) {
      if (!fragmented) return err(1002, 'opcode 0');
    } else if (op === 1 || op === 2) {
      if (fragmented) return err(1002, 'opcode in fragment');
    } else if (op >= 8 && op <= 10) {
      if (!fin) return err(1002, 'fin');
      if (len > 125 || (op === 8 && len === 1)) return err(1002, 'control length');
    } else return err(1002, 'opcode');
    if (c.isServer !== masked) return err(1002, 'mask');
    let p = pos + 2;
    if (len === 126) {
      if (n - p < 2) return { events, utf8BadAt, headerIncomplete };
      len = (b[p] << 8) | b[p + 1];
      p += 2;
    } else if (len === 127) {
      if (n - p < 8) return { events, utf8BadAt, headerIncomplete };
      const hi = ((b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]) >>> 0;
      if (hi > 2 ** 21 - 1) return err(1009, 'length > 2^53-1');
      len = hi * 2 ** 32 + (((b[p + 4] << 24) | (b[p + 5] << 16) | (b[p + 6] << 8) | b[p + 7]) >>> 0);
      p += 8;
    }
    if (len > 0 && op < 8) {
      if (total + len > c.maxPayload) return err(1009, 'max payload');
    }
    let key: Uint8Array | null = null;
    if (masked) {
      if (n - p < 4) return { events, utf8BadAt, headerIncomplete };
      key = b.subarray(p, p + 4);
      p += 4;
    }
    if (n - p < len) {
      // The stream stops inside this frame: text bytes that already cannot be
      // UTF-8 are what we fail on early (DIFFERENCES.utf8AtFragment).
      const textOp = op === 1 || (op === 0 && fragmented === 1);
      if (textOp && utf8BadAt < 0) {
        const part = b.slice(p, n);
        if (key) for (let i = 0; i < part.length; i++) part[i] ^= key[i & 3];
        if (!validUtf8Prefix(concat([...parts, part], total + part.length))) utf8BadAt = events.length;
      }
      return { events, utf8BadAt, headerIncomplete };
    }
    const data = b.slice(p, p + len);
    if (key) for (let i = 0; i < len; i++) data[i] ^= key[i & 3];
    pos = p + len;
    if (op >= 8) {
      if (op === 8) {
        if (len === 0) { events.push({ t: 'close', code: 1005, reason: new Uint8Array(0) }); return { events, utf8BadAt, headerIncomplete }; }
        const code = (data[0] << 8) | data[1];
        if (!validCloseCode(code)) return payloadErr(1002, 'close code');
        const reason = data.subarray(2);
        if (!validUtf8(reason)) return payloadErr(1007, 'close reason utf8');
        events.push({ t: 'close', code, reason });
        return { events, utf8BadAt, headerIncomplete };
      }
      events.push({ t: op === 9 ? 'ping' : 'pong', data });
      continue;
    }
    if (!fin && !fragmented) fragmented = op;
    const opcode = op === 0 ? fragmented : op;
    if (len > 0) { total += len; parts.push(data); }
    if (opcode === 1 && utf8BadAt < 0 && !validUtf8Prefix(concat(parts, total))) utf8BadAt = events.length;
    if (!fin) continue;
    const msg = concat(parts, total);
    parts = []; total = 0; fragmented = 0;
    if (opcode === 1 && !validUtf8(msg)) return payloadErr(1007, 'utf8');
    if (opcode === 1) utf8BadAt = -1;
    events.push({ t: 'message', binary: opcode === 2, data: msg });
  }
}

function concat(parts: Uint8Array[], total: number): Uint8Array {
  if (parts.length === 1 && parts[0].length === total) return parts[0];
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

// ---- our decoder ----

/** Runs our decoder over the stream cut at `cuts`; an exception escaping push() is reported as a thrown Error. */
export function ourDecode(c: Case, cuts: number[]): Ev[] {
  const events: Ev[] = [];
  const d = new FrameDecoder({
    onMessage: (data, isBinary) => events.push({ t: 'message', binary: isBinary, data }),
    onPing: (data) => events.push({ t: 'ping', data }),
    onPong: (data) => events.push({ t: 'pong', data }),
    onClose: (code, _r, payload) => events.push({ t: 'close', code, reason: payload.subarray(2) }),
    onError: (e: ProtocolError) => events.push({ t: 'error', code: e.closeCode, why: e.code }),
  }, { isServer: c.isServer, maxPayload: c.maxPayload });
  let prev = 0;
  for (const cut of cuts) {
    d.push(c.bytes.subarray(prev, cut));
    prev = cut;
  }
  d.push(c.bytes.subarray(prev));
  return events;
}

// ---- comparison ----

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function sameEvent(a: Ev, b: Ev): boolean {
  if (a.t !== b.t) return false;
  switch (a.t) {
    case 'message': return a.binary === (b as typeof a).binary && sameBytes(a.data, (b as typeof a).data);
    case 'ping': case 'pong': return sameBytes(a.data, (b as typeof a).data);
    case 'close': return a.code === (b as typeof a).code && sameBytes(a.reason, (b as typeof a).reason);
    case 'error': return a.code === (b as typeof a).code;
  }
}

function samePrefix(a: Ev[], b: Ev[], n: number): boolean {
  for (let i = 0; i < n; i++) if (!sameEvent(a[i], b[i])) return false;
  return true;
}

export function sameEvents(a: Ev[], b: Ev[]): boolean {
  return a.length === b.length && samePrefix(a, b, a.length);
}

/** Which named difference explains ours vs the reference; null if none does (a failure). */
export function explain(ours: Ev[], ref: RefResult): keyof typeof DIFFERENCES | 'same' | null {
  if (sameEvents(ours, ref.events)) return 'same';
  if (ref.headerIncomplete && ours.length === ref.events.length - 1 && samePrefix(ours, ref.events, ours.length)) return 'headerErrorWhenWhole';
  const last = ours[ours.length - 1];
  if (last === undefined || last.t !== 'error') return null;
  const k = ours.length - 1;
  if (last.why === DIFFERENCES.lengthTopBit && last.code === 1002 && ref.events.length === ours.length) {
    const theirs = ref.events[k];
    if (theirs.t === 'error' && theirs.code === 1009 && samePrefix(ours, ref.events, k)) return 'lengthTopBit';
  }
  if (last.why === DIFFERENCES.nonMinimalLength && last.code === 1002 && ref.events.length >= k && samePrefix(ours, ref.events, k)) {
    return 'nonMinimalLength';
  }
  if (last.why === DIFFERENCES.utf8AtFragment && last.code === 1007 && ref.utf8BadAt === k && samePrefix(ours, ref.events, k)) {
    const rest = ref.events.slice(k);
    const ok = rest.every((e, i) => e.t === 'ping' || e.t === 'pong' || (i === rest.length - 1 && (e.t === 'error' || e.t === 'close')));
    if (ok) return 'utf8AtFragment';
  }
  return null;
}

// ---- generator ----

export type Rand = () => number;

const enc = new TextEncoder();
const SAMPLE_TEXT = ['hello', 'κόσμε', '€uro', '日本語テキスト', '🎉 party', 'a'.repeat(40), 'ﬁ ligature', '\u0000nul', 'Ünïcödé'];
const BAD_UTF8 = [[0xc0, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xff], [0xe2, 0x82], [0x80], [0xf0, 0x9f, 0x98]];

function int(r: Rand, n: number): number { return Math.floor(r() * n); }

function randomBytes(r: Rand, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 4) {
    const v = (r() * 4294967296) >>> 0; // four bytes per draw
    out[i] = v; if (i + 1 < n) out[i + 1] = v >>> 8; if (i + 2 < n) out[i + 2] = v >>> 16; if (i + 3 < n) out[i + 3] = v >>> 24;
  }
  return out;
}

function randomText(r: Rand, bad: boolean): Uint8Array {
  let s = '';
  const parts = 1 + int(r, 4);
  for (let i = 0; i < parts; i++) s += SAMPLE_TEXT[int(r, SAMPLE_TEXT.length)];
  const bytes = enc.encode(s);
  if (!bad) return bytes;
  const at = int(r, bytes.length + 1);
  const b = BAD_UTF8[int(r, BAD_UTF8.length)];
  return Uint8Array.from([...bytes.subarray(0, at), ...b, ...bytes.subarray(at)]);
}

function payloadSize(r: Rand): number {
  const x = r();
  if (x < 0.7) return int(r, 126);
  if (x < 0.993) return 126 + int(r, 400);
  if (x < 0.998) return 65530 + int(r, 12); // around the 16/64-bit length boundary
  return int(r, 200_000);
}

interface FrameOpts { fin: boolean; op: number; payload: Uint8Array; mask: boolean; rsv?: number; nonMinimal?: boolean }

function frame(r: Rand, f: FrameOpts): Uint8Array {
  const len = f.payload.length;
  let lenBytes: number[];
  const form = f.nonMinimal ? (len < 126 ? (r() < 0.5 ? 126 : 127) : 127) : len < 126 ? 0 : len < 65536 ? 126 : 127;
  if (form === 0) lenBytes = [len];
  else if (form === 126) lenBytes = [126, len >>> 8, len & 255];
  else lenBytes = [127, 0, 0, 0, 0, len >>> 24, (len >>> 16) & 255, (len >>> 8) & 255, len & 255];
  const head = [(f.fin ? 0x80 : 0) | (f.rsv ?? 0) | f.op, ...lenBytes];
  if (f.mask) head[1] |= 0x80;
  const key = f.mask ? randomBytes(r, 4) : null;
  const out = new Uint8Array(head.length + (key ? 4 : 0) + len);
  out.set(head, 0);
  let o = head.length;
  if (key) { out.set(key, o); o += 4; }
  for (let i = 0; i < len; i++) out[o + i] = key ? f.payload[i] ^ key[i & 3] : f.payload[i];
  return out;
}

/** One random case: a stream of 1-8 messages/control frames, then maybe mutated. */
export function generate(r: Rand): Case {
  const isServer = r() < 0.7;
  const maxPayload = [125, 1000, 65536, 1 << 20][int(r, 4)];
  const hostile = r() < 0.15;
  const mask = (): boolean => (hostile && r() < 0.05 ? !isServer : isServer);
  const nm = (): boolean => hostile && r() < 0.1;
  const frames: Uint8Array[] = [];
  const controlFrame = (): Uint8Array => {
    const k = int(r, 3);
    if (k < 2) {
      const size = hostile && r() < 0.1 ? 126 + int(r, 10) : int(r, 126);
      return frame(r, { fin: !(hostile && r() < 0.05), op: k === 0 ? 9 : 10, payload: randomBytes(r, size), mask: mask(), nonMinimal: nm() });
    }
    return closeFrame();
  };
  const closeFrame = (): Uint8Array => {
    const x = r();
    let payload: Uint8Array;
    if (x < 0.2) payload = new Uint8Array(0);
    else if (x < 0.25) payload = Uint8Array.of(3);
    else {
      const codes = [1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007, 1011, 1014, 1015, 1016, 2000, 2999, 3000, 4999, 5000, 0];
      const code = r() < 0.8 ? codes[int(r, 5)] : codes[int(r, codes.length)];
      const reason = randomText(r, r() < 0.1).subarray(0, 100);
      payload = Uint8Array.from([code >>> 8, code & 255, ...reason]);
    }
    return frame(r, { fin: true, op: 8, payload, mask: mask(), nonMinimal: nm() });
  };
  const count = 1 + int(r, 8);
  for (let m = 0; m < count; m++) {
    const x = r();
    if (x < 0.15) { frames.push(controlFrame()); if (frames[frames.length - 1][0] === 0x88 && r() < 0.7) break; continue; }
    const text = r() < 0.5;
    const payload = text ? randomText(r, hostile && r() < 0.3) : randomBytes(r, payloadSize(r));
    const pieces = r() < 0.4 ? 1 + int(r, 5) : 1;
    let at = 0;
    for (let i = 0; i < pieces; i++) {
      const end = i === pieces - 1 ? payload.length : at + int(r, payload.length - at + 1);
      frames.push(frame(r, {
        fin: i === pieces - 1, op: i === 0 ? (text ? 1 : 2) : 0, payload: payload.subarray(at, end), mask: mask(),
        nonMinimal: nm(), rsv: hostile && r() < 0.03 ? [0x40, 0x20, 0x10][int(r, 3)] : 0,
      }));
      at = end;
      if (pieces > 1 && i < pieces - 1 && r() < 0.2) frames.push(controlFrame());
    }
    if (hostile && r() < 0.05) frames.push(frame(r, { fin: true, op: [3, 7, 11, 15, 0][int(r, 5)], payload: randomBytes(r, 4), mask: mask() }));
  }
  let bytes = concat(frames, frames.reduce((s, f) => s + f.length, 0));
  if (r() < 0.25) bytes = mutate(r, bytes);
  return { isServer, maxPayload, bytes };
}

/** Flips bits, overwrites, inserts, deletes or truncates a few bytes. */
export function mutate(r: Rand, bytes: Uint8Array): Uint8Array {
  let out = bytes;
  const edits = 1 + int(r, 3);
  for (let e = 0; e < edits && out.length > 0; e++) {
    const at = int(r, out.length);
    switch (int(r, 5)) {
      case 0: out[at] ^= 1 << int(r, 8); break;
      case 1: out[at] = int(r, 256); break;
      case 2: { const ins = randomBytes(r, 1 + int(r, 8)); out = concat([out.subarray(0, at), ins, out.subarray(at)], out.length + ins.length); break; }
      case 3: { const end = Math.min(out.length, at + 1 + int(r, 4)); out = concat([out.subarray(0, at), out.subarray(end)], out.length - (end - at)); break; }
      case 4: out = out.subarray(0, at); break;
    }
  }
  return out;
}

/** Cut points: none, a few random ones, or every byte (one byte at a time). */
export function randomCuts(r: Rand, n: number): number[] {
  const x = r();
  if (n < 2 || x < 0.1) return [];
  if (x < 0.25 && n <= 2048) return Array.from({ length: n - 1 }, (_, i) => i + 1);
  const k = 1 + int(r, Math.min(16, n - 1));
  const cuts = new Set<number>();
  for (let i = 0; i < k; i++) cuts.add(1 + int(r, n - 1));
  return [...cuts].sort((a, b) => a - b);
}

export interface FuzzTotals { cases: number; bytes: number; same: number; nonMinimalLength: number; utf8AtFragment: number; headerErrorWhenWhole: number; lengthTopBit: number; byteByByte: number; errors: number; messages: number }

export interface FuzzFailure { seed: number; index: number; why: string; caseHex: string; isServer: boolean; maxPayload: number; cuts: number[] }

const hexOf = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex');

/** Runs cases from `seed` until `count` cases or `until` (ms timestamp); stops at the first failure. */
export function runFuzz(seed: number, count: number, until = Infinity): { totals: FuzzTotals; failure: FuzzFailure | null } {
  const r = prng(seed);
  const totals: FuzzTotals = { cases: 0, bytes: 0, same: 0, nonMinimalLength: 0, utf8AtFragment: 0, headerErrorWhenWhole: 0, lengthTopBit: 0, byteByByte: 0, errors: 0, messages: 0 };
  for (let i = 0; i < count; i++) {
    if ((i & 255) === 0 && Date.now() > until) break;
    const c = generate(r);
    const cuts = randomCuts(r, c.bytes.length);
    const fail = (why: string): { totals: FuzzTotals; failure: FuzzFailure } => ({
      totals, failure: { seed, index: i, why, caseHex: hexOf(c.bytes).slice(0, 4000), isServer: c.isServer, maxPayload: c.maxPayload, cuts: cuts.slice(0, 200) },
    });
    let whole: Ev[], split: Ev[];
    try {
      whole = ourDecode(c, []);
      split = ourDecode(c, cuts);
    } catch (e) {
      return fail(`exception escaped push(): ${(e as Error).stack}`);
    }
    if (!sameEvents(whole, split)) return fail(`split-dependent: whole ${summary(whole)} vs split ${summary(split)}`);
    const ref = referenceDecode(c);
    const verdict = explain(whole, ref);
    if (verdict === null) return fail(`differs from the reference: ours ${summary(whole)} vs ref ${summary(ref.events)} (utf8BadAt ${ref.utf8BadAt})`);
    totals.cases++;
    totals.bytes += c.bytes.length;
    totals[verdict]++;
    if (cuts.length === c.bytes.length - 1 && cuts.length > 0) totals.byteByByte++;
    for (const e of whole) { if (e.t === 'error') totals.errors++; else if (e.t === 'message') totals.messages++; }
  }
  return { totals, failure: null };
}

export function summary(evs: Ev[]): string {
  return '[' + evs.map((e) => e.t === 'message' ? `msg(${e.binary ? 'bin' : 'text'},${e.data.length})`
    : e.t === 'error' ? `error(${e.code},${e.why})` : e.t === 'close' ? `close(${e.code},${e.reason.length})` : `${e.t}(${e.data.length})`).join(' ') + ']';
}
