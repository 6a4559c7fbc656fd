// The codec's test vectors, run the same way in every runtime (Node, Deno, Bun,
// workerd, Chromium). Plain ECMAScript: no Node, Deno, Bun or DOM APIs, only
// Uint8Array, TextEncoder/TextDecoder and the codec module it is given.
//
//   const result = await runVectors(codec, load, { scalar: 'api' });
//
// codec: the module namespace of a wasmsocket codec entry (dist/codec.js,
//   dist/workerd.js, dist/browser.js, ...).
// load(name): resolves to the parsed JSON of DATA_FILES[name] (each runtime
//   reads files its own way).
// options.scalar: 'api'  -> forceScalar() + initCodec(options.scalarModule) first
//                 'env'  -> WASMSOCKET_FORCE_SCALAR=1 was set by the launcher
//                 absent -> the build must be the one feature detection picks
// Returns { passed, failed, failures, simd } where each check is one named case.

/** The data, by name; paths are relative to the repository root. */
import { prng } from './prng.mjs';

export const DATA_FILES = {
  rfc6455: 'runtimes/vectors/rfc6455.json',
  utf8: 'test/vectors/utf8.json',
  roundtrip: 'runtimes/vectors/roundtrip.json',
  deflate: 'runtimes/vectors/deflate.json',
};

const te = new TextEncoder();
const td = new TextDecoder();

// ---------------------------------------------------------------------------
// small utilities

export function hex(s) {
  const t = s.replace(/\s+/g, '');
  const out = new Uint8Array(t.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(t.slice(2 * i, 2 * i + 2), 16);
  return out;
}

const toHex = (b, max = 24) =>
  Array.from(b.subarray(0, max), (x) => x.toString(16).padStart(2, '0')).join(' ') + (b.length > max ? ` … (${b.length} bytes)` : '');

function seq(n) {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = i & 0xff;
  return out;
}

function concat(parts) {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

function sameBytes(a, b, what) {
  if (a.length !== b.length) throw new Error(`${what}: ${a.length} bytes, expected ${b.length} (got ${toHex(a)}, expected ${toHex(b)})`);
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) throw new Error(`${what}: byte ${i} is ${a[i]}, expected ${b[i]} (got ${toHex(a)}, expected ${toHex(b)})`);
  }
}

function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

/** mulberry32, the same seeded PRNG as the Node test suite (one copy, in prng.mjs). */
export { prng };

const keyToU32 = (k) => (k[0] | (k[1] << 8) | (k[2] << 16) | (k[3] << 24)) >>> 0;

// ---------------------------------------------------------------------------
// the JS reference: RFC 6455 framing and masking, RFC 3629 validity, written
// from the RFCs and sharing nothing with the codec

/** One frame (RFC 6455 5.2): minimal length encoding, masked when a 4-byte key is given. */
export function refFrame(opcode, payload, fin = true, key = null) {
  const len = payload.length;
  const ext = len < 126 ? 0 : len < 65536 ? 2 : 8;
  const out = new Uint8Array(2 + ext + (key ? 4 : 0) + len);
  out[0] = (fin ? 0x80 : 0) | opcode;
  out[1] = (key ? 0x80 : 0) | (ext === 0 ? len : ext === 2 ? 126 : 127);
  let o = 2;
  if (ext === 2) {
    out[2] = len >>> 8;
    out[3] = len & 0xff;
    o = 4;
  } else if (ext === 8) {
    let n = len;
    for (let i = 9; i >= 2; i--) { out[i] = n % 256; n = Math.floor(n / 256); }
    o = 10;
  }
  if (key) {
    out.set(key, o);
    o += 4;
    for (let i = 0; i < len; i++) out[o + i] = payload[i] ^ key[i & 3];
  } else {
    out.set(payload, o);
  }
  return out;
}

/** RFC 3629 section 4, Table 3-7 of Unicode: the well-formed byte sequences. */
export function refValidUtf8(b) {
  const n = b.length;
  let i = 0;
  while (i < n) {
    const c = b[i];
    if (c < 0x80) { i++; continue; }
    let need;
    let lo = 0x80;
    let hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) need = 1;
    else if (c === 0xe0) { need = 2; lo = 0xa0; }
    else if ((c >= 0xe1 && c <= 0xec) || c === 0xee || c === 0xef) need = 2;
    else if (c === 0xed) { need = 2; hi = 0x9f; }
    else if (c === 0xf0) { need = 3; lo = 0x90; }
    else if (c >= 0xf1 && c <= 0xf3) need = 3;
    else if (c === 0xf4) { need = 3; hi = 0x8f; }
    else return false;
    if (i + need >= n) return false;
    if (b[i + 1] < lo || b[i + 1] > hi) return false;
    for (let k = 2; k <= need; k++) if (b[i + k] < 0x80 || b[i + k] > 0xbf) return false;
    i += need + 1;
  }
  return true;
}

// ---------------------------------------------------------------------------
// driving the codec

function decodeEvents(codec, chunks, options) {
  const events = [];
  const d = new codec.FrameDecoder({
    onMessage: (data, isBinary, compressed) => events.push({ type: 'message', binary: isBinary, compressed, data }),
    onPing: (data) => events.push({ type: 'ping', data }),
    onPong: (data) => events.push({ type: 'pong', data }),
    onClose: (code, reason) => events.push({ type: 'close', code, reason }),
    onError: (e) => events.push({ type: 'error', closeCode: e.closeCode, message: e.message }),
  }, { maxPayload: 0, ...options });
  for (const c of chunks) d.push(c);
  return events;
}

function payloadOf(spec) {
  if (spec.text !== undefined) return te.encode(spec.text);
  if (spec.seq !== undefined) return seq(spec.seq);
  return hex(spec.hex ?? '');
}

function describeEvent(e) {
  if (!e) return 'nothing';
  if (e.type === 'error') return `error ${e.closeCode} (${e.message})`;
  if (e.type === 'close') return `close ${e.code} '${e.reason}'`;
  return `${e.type}${e.type === 'message' ? (e.binary ? ' binary' : ' text') : ''} ${toHex(e.data)}`;
}

function sameEvents(got, want, what) {
  const n = Math.max(got.length, want.length);
  for (let i = 0; i < n; i++) {
    const g = got[i];
    const w = want[i];
    const where = `${what}, event ${i}`;
    if (!g || !w || g.type !== w.type) throw new Error(`${where}: got ${describeEvent(g)}, expected ${w ? w.type : 'nothing'}`);
    if (w.type === 'message') {
      assert(g.binary === w.binary, `${where}: binary=${g.binary}, expected ${w.binary}`);
      assert(!g.compressed, `${where}: reported compressed`);
    }
    if (w.type === 'close') {
      assert(g.code === w.code && g.reason === w.reason, `${where}: close ${g.code} '${g.reason}', expected ${w.code} '${w.reason}'`);
    } else if (w.type === 'error') {
      assert(g.closeCode === w.closeCode, `${where}: got ${describeEvent(g)}, expected error ${w.closeCode}`);
    } else {
      sameBytes(g.data, w.data, `${where} payload`);
    }
  }
}

function expectedEvents(list) {
  return list.map((e) => (e.type === 'close' ? { type: 'close', code: e.code, reason: e.reason }
    : { type: e.type, binary: e.binary === true, data: payloadOf(e) }));
}

/** Splits of `bytes`: whole, and in two at every position (or a few positions for large input). */
function splits(bytes, all) {
  const out = [[bytes]];
  const points = all ? Array.from({ length: Math.max(0, bytes.length - 1) }, (_, i) => i + 1)
    : [1, 2, 5, 11, bytes.length >> 1, bytes.length - 1].filter((p) => p > 0 && p < bytes.length);
  for (const p of points) out.push([bytes.subarray(0, p), bytes.subarray(p)]);
  return out;
}

function fixedKeyEncoder(codec, keys) {
  let i = 0;
  return new codec.FrameEncoder({ mask: true, maskKey: () => keys[i++] });
}

// ---------------------------------------------------------------------------
// the groups

function rfcFrames(codec, data, check) {
  for (const v of data.frames) {
    const bytes = concat([hex(v.hex), v.payloadSeq ? seq(v.payloadSeq) : new Uint8Array(0)]);
    const want = expectedEvents(v.events);
    check(`rfc6455 decode: ${v.name}`, () => {
      for (const parts of splits(bytes, v.splitAll)) {
        sameEvents(decodeEvents(codec, parts, { isServer: v.isServer }), want, `split ${parts[0].length}`);
      }
    });
    if (!v.encode) continue;
    check(`rfc6455 encode (frame): ${v.name}`, () => {
      const parts = v.encode.map((e) => {
        const enc = e.maskKey ? fixedKeyEncoder(codec, [keyToU32(hex(e.maskKey))]) : new codec.FrameEncoder({ mask: false });
        return enc.frame(e.opcode, payloadOf(e), { fin: e.fin !== false });
      });
      sameBytes(concat(parts), bytes, 'frame() output');
      sameBytes(concat(v.encode.map((e) => refFrame(e.opcode, payloadOf(e), e.fin !== false, e.maskKey ? hex(e.maskKey) : null))),
        bytes, 'JS reference output');
    });
    const masked = v.encode.map((e) => !!e.maskKey);
    if (masked.every((m) => m === masked[0])) {
      check(`rfc6455 encode (frames batch): ${v.name}`, () => {
        const enc = masked[0] ? fixedKeyEncoder(codec, v.encode.map((e) => keyToU32(hex(e.maskKey)))) : new codec.FrameEncoder({ mask: false });
        sameBytes(enc.frames(v.encode.map((e) => ({ opcode: e.opcode, payload: payloadOf(e), fin: e.fin !== false }))), bytes, 'frames() output');
      });
    }
  }
}

function rfcErrors(codec, data, check) {
  for (const v of data.errors) {
    check(`rfc6455 error ${v.closeCode}: ${v.name}`, () => {
      const bytes = concat([hex(v.hex), v.payloadSeq ? seq(v.payloadSeq) : new Uint8Array(0), v.then ? hex(v.then) : new Uint8Array(0)]);
      for (const parts of splits(bytes, bytes.length < 64)) {
        const events = decodeEvents(codec, parts, { isServer: v.isServer, maxPayload: v.maxPayload ?? 0 });
        const last = events[events.length - 1];
        assert(last && last.type === 'error' && last.closeCode === v.closeCode,
          `split ${parts[0].length}: expected error ${v.closeCode}, got ${events.map(describeEvent).join('; ') || 'no event'}`);
        assert(events.every((e, i) => i === events.length - 1 || e.type !== 'error'), 'more than one error');
      }
    });
  }
}

function rfcClose(codec, data, check) {
  for (const v of data.close) {
    check(`close payload: ${v.name}`, () => {
      const bytes = hex(v.hex);
      sameBytes(codec.encodeClosePayload(v.code, v.reason), bytes, 'encodeClosePayload');
      const parsed = codec.decodeClosePayload(bytes);
      assert(!('closeCode' in parsed), `decodeClosePayload failed: ${parsed.message}`);
      assert(parsed.code === (v.code ?? 1005) && parsed.reason === (v.reason ?? ''),
        `decodeClosePayload: ${parsed.code} '${parsed.reason}'`);
    });
  }
  for (const v of data.closeInvalid) {
    check(`close payload rejected: ${v.name}`, () => {
      const reason = v.reasonRepeat ? 'r'.repeat(v.reasonRepeat) : v.reason;
      let threw = false;
      try { codec.encodeClosePayload(v.code, reason); } catch { threw = true; }
      assert(threw, 'encodeClosePayload accepted it');
    });
  }
}

function utf8Table(codec, data, check) {
  for (const v of data.cases) {
    check(`utf8 table: ${v.name}`, () => {
      const b = hex(v.hex);
      assert(refValidUtf8(b) === v.valid, `the JS reference says ${!v.valid}`);
      assert(codec.isValidUtf8(b) === v.valid, `isValidUtf8 says ${!v.valid}`);
      for (let p = 0; p <= b.length; p++) {
        const val = new codec.Utf8Validator();
        const ok = val.push(b.subarray(0, p)) && val.push(b.subarray(p)) && val.end();
        assert(ok === v.valid, `Utf8Validator split at ${p} says ${ok}`);
      }
      // as a text message, whole and as two fragments
      const want = v.valid ? [{ type: 'message', binary: false, data: b }] : [{ type: 'error', closeCode: 1007 }];
      sameEvents(decodeEvents(codec, [refFrame(1, b)], { isServer: false }), want, 'text frame');
      const p = b.length >> 1;
      sameEvents(decodeEvents(codec, [refFrame(1, b.subarray(0, p), false), refFrame(0, b.subarray(p))], { isServer: false }), want, 'two fragments');
    });
  }
}

/** Random text: code points of every UTF-8 length (no surrogates), about `n` bytes. */
function randomText(rand, n) {
  let s = '';
  let len = 0;
  while (len < n) {
    const r = rand();
    let cp;
    if (r < 0.7) cp = 0x20 + Math.floor(rand() * 0x5f);
    else if (r < 0.8) cp = 0x80 + Math.floor(rand() * 0x780);
    else if (r < 0.93) { cp = 0x800 + Math.floor(rand() * 0xf800); if (cp >= 0xd800 && cp <= 0xdfff) cp = 0x4e2d; }
    else cp = 0x10000 + Math.floor(rand() * 0x100000);
    s += String.fromCodePoint(cp);
    len += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
  }
  return te.encode(s);
}

function randomBytes(rand, n) {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (rand() * 256) | 0;
  return out;
}

function randomKey(rand) {
  return randomBytes(rand, 4);
}

function roundTrips(codec, data, check) {
  for (const c of data.frames) {
    check(`round trip seed ${c.seed}: ${c.messages} messages up to ${c.maxLen} B, ${c.mask ? 'masked' : 'unmasked'}`, () => {
      const rand = prng(c.seed);
      const wire = [];   // JS reference frames
      const calls = [];  // the same frames as FrameEncoder calls
      const keys = [];
      const want = [];
      for (let m = 0; m < c.messages; m++) {
        const binary = rand() < 0.5;
        const len = Math.floor(Math.pow(rand(), 3) * c.maxLen);
        const payload = binary ? randomBytes(rand, len) : randomText(rand, len);
        const k = 1 + Math.floor(rand() * c.maxFragments);
        const cuts = [0];
        for (let i = 1; i < k; i++) cuts.push(Math.floor(rand() * (payload.length + 1)));
        cuts.push(payload.length);
        cuts.sort((a, b) => a - b);
        for (let i = 0; i < k; i++) {
          const piece = payload.subarray(cuts[i], cuts[i + 1]);
          const op = i === 0 ? (binary ? 2 : 1) : 0;
          const key = c.mask ? randomKey(rand) : null;
          wire.push(refFrame(op, piece, i === k - 1, key));
          calls.push({ op, piece, fin: i === k - 1 });
          if (key) keys.push(keyToU32(key));
          if (i === k - 1) want.push({ type: 'message', binary, data: payload });
          if (rand() < 0.15) {
            const ping = randomBytes(rand, Math.floor(rand() * 20));
            const pk = c.mask ? randomKey(rand) : null;
            wire.push(refFrame(9, ping, true, pk));
            calls.push({ op: 9, piece: ping, fin: true });
            if (pk) keys.push(keyToU32(pk));
            want.push({ type: 'ping', data: ping });
          }
        }
      }
      const stream = concat(wire);
      // encode: same keys, same bytes as the reference
      const enc = c.mask ? fixedKeyEncoder(codec, keys) : new codec.FrameEncoder({ mask: false });
      sameBytes(concat(calls.map((x) => enc.frame(x.op, x.piece, { fin: x.fin }))), stream, 'FrameEncoder output');
      // decode: the reference bytes in random reads
      const chunks = [];
      for (let o = 0; o < stream.length;) {
        const n = 1 + Math.floor(Math.pow(rand(), 2) * Math.min(stream.length - o, 70000));
        chunks.push(stream.subarray(o, o + n));
        o += n;
      }
      sameEvents(decodeEvents(codec, chunks, { isServer: c.mask }), want, `decode in ${chunks.length} reads`);
    });
  }
  for (const c of data.batch) {
    check(`batch encode seed ${c.seed}: ${c.batches} batches, ${c.mask ? 'masked' : 'unmasked'}`, () => {
      const rand = prng(c.seed);
      for (let b = 0; b < c.batches; b++) {
        const n = 1 + Math.floor(rand() * c.maxFrames);
        const specs = [];
        const keys = [];
        const ref = [];
        for (let i = 0; i < n; i++) {
          const payload = randomBytes(rand, Math.floor(rand() * c.maxLen));
          const opcode = [1, 2, 9, 10][Math.floor(rand() * 4)];
          const p = opcode >= 8 ? payload.subarray(0, 125) : payload;
          const key = c.mask ? randomKey(rand) : null;
          specs.push({ opcode, payload: p });
          if (key) keys.push(keyToU32(key));
          ref.push(refFrame(opcode, p, true, key));
        }
        const enc = c.mask ? fixedKeyEncoder(codec, keys) : new codec.FrameEncoder({ mask: false });
        sameBytes(enc.frames(specs), concat(ref), `batch ${b}`);
      }
    });
  }
  for (const c of data.mask) {
    check(`maskBytes seed ${c.seed}: ${c.count} buffers up to ${c.maxLen} B`, () => {
      const rand = prng(c.seed);
      for (let t = 0; t < c.count; t++) {
        const len = Math.floor(Math.pow(rand(), 2) * c.maxLen);
        const src = randomBytes(rand, len);
        const keyBytes = randomKey(rand);
        const rot = Math.floor(rand() * 4);
        const got = src.slice();
        codec.maskBytes(got, keyToU32(keyBytes), rot);
        const want = src.slice();
        for (let i = 0; i < len; i++) want[i] ^= keyBytes[(i + rot) & 3];
        sameBytes(got, want, `buffer ${t} (${len} B, rot ${rot})`);
        codec.maskBytes(got, keyToU32(keyBytes), rot);
        sameBytes(got, src, `buffer ${t} unmasked again`);
      }
    });
  }
  for (const c of data.utf8) {
    check(`utf8 seed ${c.seed}: ${c.count} near-UTF-8 strings up to ${c.maxLen} B`, () => {
      const rand = prng(c.seed);
      const fatal = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
      const bad = [[0xff], [0x80], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82], [0xf0, 0x9f, 0x98]];
      for (let t = 0; t < c.count; t++) {
        let b = randomText(rand, Math.floor(rand() * c.maxLen));
        const r = rand();
        if (r < 0.25) { b = b.slice(); if (b.length) b[Math.floor(rand() * b.length)] ^= 1 << Math.floor(rand() * 8); }
        else if (r < 0.4) b = b.subarray(0, Math.floor(rand() * (b.length + 1)));
        else if (r < 0.6) {
          const at = Math.floor(rand() * (b.length + 1));
          b = concat([b.subarray(0, at), Uint8Array.from(bad[Math.floor(rand() * bad.length)]), b.subarray(at)]);
        }
        const ref = refValidUtf8(b);
        let platform = true;
        try { fatal.decode(b); } catch { platform = false; }
        assert(platform === ref, `string ${t}: the JS reference (${ref}) and TextDecoder (${platform}) disagree on ${toHex(b)}`);
        assert(codec.isValidUtf8(b) === ref, `string ${t}: isValidUtf8 says ${!ref} for ${toHex(b)}`);
        const p = Math.floor(rand() * (b.length + 1));
        const v = new codec.Utf8Validator();
        const ok = v.push(b.subarray(0, p)) && v.push(b.subarray(p)) && v.end();
        assert(ok === ref, `string ${t}: Utf8Validator split at ${p} says ${ok} for ${toHex(b)}`);
      }
    });
  }
}

// ---------------------------------------------------------------------------
// permessage-deflate (RFC 7692) with the codec's MessageDeflate

/** Client and server MessageDeflate negotiated through header strings. */
function deflatePair(codec, clientOpts, serverOpts) {
  const client = new codec.MessageDeflate({ isServer: false, threshold: 0, ...clientOpts });
  const server = new codec.MessageDeflate({ isServer: true, threshold: 0, ...serverOpts });
  const response = server.acceptOffers(client.offer());
  assert(response !== null, `server declined the offer ${client.offer()}`);
  assert(client.acceptResponse(response) === true, `client did not accept ${response}`);
  return { client, server, response };
}

/** Decodes frames (split as given) with RSV1 allowed, inflating compressed messages; returns text/bytes per message. */
function decodeDeflated(codec, pmd, chunks, isServer) {
  const out = [];
  const d = new codec.FrameDecoder({
    onMessage: (data, isBinary, compressed) => {
      try {
        out.push({ binary: isBinary, data: compressed ? pmd.decompress(data) : data });
      } catch (e) {
        out.push({ error: e.closeCode ?? 0, message: e.message });
      }
    },
    onPing: () => {},
    onPong: () => {},
    onClose: () => {},
    onError: (e) => out.push({ error: e.closeCode, message: e.message }),
  }, { isServer, maxPayload: 0, perMessageDeflate: true });
  for (const c of chunks) d.push(c);
  return out;
}

function deflateVectors(codec, data, check) {
  for (const v of data.rfc) {
    check(`deflate ${v.name}`, () => {
      const client = new codec.MessageDeflate({ isServer: false });
      assert(client.acceptResponse(v.offer), 'not negotiated');
      const bytes = hex(v.hex);
      for (const split of splits(bytes, true)) {
        const c = new codec.MessageDeflate({ isServer: false });
        c.acceptResponse(v.offer);
        const got = decodeDeflated(codec, c, split, false);
        assert(got.length === v.messages.length, `${got.length} messages, expected ${v.messages.length}: ${JSON.stringify(got[0])}`);
        got.forEach((g, i) => {
          assert(g.error === undefined, `message ${i}: error ${g.error} ${g.message}`);
          sameBytes(g.data, te.encode(v.messages[i]), `message ${i} (reads of ${split.map((x) => x.length).join('+')} bytes)`);
        });
      }
      if (v.encode) {
        const server = new codec.MessageDeflate({ isServer: true, threshold: 0 });
        assert(server.acceptOffers(v.offer) !== null, 'server declined');
        v.encode.forEach((e, i) => sameBytes(server.compress(te.encode(e.text)), hex(e.hex), `compressed message ${i}`));
      }
    });
  }

  for (const c of data.roundtrip) {
    for (const bits of c.windowBits) {
      for (const noTakeover of c.noContextTakeover) {
        const what = `window bits ${bits}, context takeover ${noTakeover ? 'off' : 'on'}${c.sharedCompressor ? ', shared compressor' : ''}`;
        check(`deflate round trip seed ${c.seed}: ${c.messages} messages up to ${c.maxLen} B, ${what}`, () => {
          const rand = prng(c.seed * 100 + bits * 2 + (noTakeover ? 1 : 0));
          const opts = { serverMaxWindowBits: bits, clientMaxWindowBits: bits, serverNoContextTakeover: noTakeover, clientNoContextTakeover: noTakeover, sharedCompressor: c.sharedCompressor };
          const { client, server, response } = deflatePair(codec, opts, opts);
          assert(response.includes(`server_max_window_bits=${bits}`), `response ${response}`);
          for (const [from, to, mask] of [[client, server, true], [server, client, false]]) {
            const msgs = [];
            const frames = [];
            for (let m = 0; m < c.messages; m++) {
              const binary = rand() < 0.3;
              const len = Math.floor(Math.pow(rand(), 3) * c.maxLen);
              // Repeat an earlier message now and then: context takeover has something to find.
              const payload = m > 0 && rand() < 0.3 ? msgs[Math.floor(rand() * m)].data : binary ? randomBytes(rand, len) : randomText(rand, len);
              msgs.push({ binary, data: payload });
              frames.push(refFrame(binary ? 2 : 1, from.compress(payload), true, mask ? randomKey(rand) : null));
            }
            const stream = concat(frames.map((f) => { const g = f.slice(); g[0] |= 0x40; return g; }));
            const chunks = [];
            for (let o = 0; o < stream.length;) {
              const n = 1 + Math.floor(Math.pow(rand(), 2) * Math.min(stream.length - o, 70000));
              chunks.push(stream.subarray(o, o + n));
              o += n;
            }
            const got = decodeDeflated(codec, to, chunks, mask);
            assert(got.length === msgs.length, `${got.length} messages, expected ${msgs.length}`);
            got.forEach((g, i) => {
              assert(g.error === undefined, `message ${i}: error ${g.error} ${g.message}`);
              sameBytes(g.data, msgs[i].data, `${mask ? 'client->server' : 'server->client'} message ${i}`);
            });
          }
        });
      }
    }
  }

  for (const b of data.bomb) {
    check(`deflate bomb: ${b.name}`, () => {
      const d = new codec.RawDeflater(15);
      const zeros = new Uint8Array(1 << 20);
      const parts = [];
      for (let i = 0; i < b.mib; i++) parts.push(d.compress(zeros, i === b.mib - 1));
      const bomb = concat([...parts, hex('00 00 ff ff')]);
      assert(bomb.length < b.mib * 2048, `bomb is ${bomb.length} bytes`);
      const server = new codec.MessageDeflate({ isServer: true, maxPayload: b.maxPayload });
      server.acceptOffers('permessage-deflate');
      let err = null;
      try { server.decompress(bomb); } catch (e) { err = e; }
      assert(err !== null && err.closeCode === 1009, `expected 1009, got ${err ? err.closeCode : 'no error'}`);
      // The inflater was dropped: the next message is read on a fresh stream.
      sameBytes(server.decompress(hex('f2 48 cd c9 c9 07 00 00 00 ff ff')), te.encode('Hello'), 'message after the bomb');
    });
  }

  for (const v of data.corrupt) {
    check(`deflate corrupt: ${v.name}`, () => {
      const server = new codec.MessageDeflate({ isServer: true });
      server.acceptOffers('permessage-deflate');
      let err = null;
      try { server.decompress(concat([hex(v.hex), hex('00 00 ff ff')])); } catch (e) { err = e; }
      assert(err !== null && err.closeCode === 1007, `expected 1007, got ${err ? err.closeCode : 'no error'}`);
    });
  }
}

// ---------------------------------------------------------------------------

export async function runVectors(codec, load, options = {}) {
  const result = { passed: 0, failed: 0, failures: [], simd: null };
  const check = (name, fn) => {
    try {
      fn();
      result.passed++;
    } catch (e) {
      result.failed++;
      result.failures.push(`${name}: ${e && e.message ? e.message : e}`);
    }
  };

  // Which build runs: chosen by feature detection, or forced to scalar.
  if (options.scalar === 'api') {
    codec.forceScalar(true);
    await codec.initCodec(options.scalarModule);
  }
  check(`wasm build selection (${options.scalar ? `forced scalar via ${options.scalar}` : 'feature detection'})`, () => {
    const detected = codec.simdSupported();
    assert(typeof detected === 'boolean', 'simdSupported() is not a boolean');
    const simd = codec.getCodec().simd;
    result.simd = simd;
    if (options.scalar) assert(simd === false, 'the SIMD build runs although scalar was forced');
    else assert(simd === detected, `simd=${simd} but simdSupported()=${detected}`);
  });

  const [rfc, utf8, roundtrip, deflate] = await Promise.all([load('rfc6455'), load('utf8'), load('roundtrip'), load('deflate')]);
  rfcFrames(codec, rfc, check);
  rfcErrors(codec, rfc, check);
  rfcClose(codec, rfc, check);
  utf8Table(codec, utf8, check);
  roundTrips(codec, roundtrip, check);
  deflateVectors(codec, deflate, check);
  return result;
}
