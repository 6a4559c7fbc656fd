// Node only: the App's permessage-deflate on Node's zlib, run in this thread
// (src/node/deflate/zlib-sync.ts, as the ws door does), in place of the
// codec's portable JavaScript deflate that Deno and Bun keep. The codec's
// MessageDeflate still negotiates; this only compresses and inflates.
//
// Why: a 1 KiB chat message compresses ~5x faster in native zlib than in the
// portable engine (bench/deflate-engines.mjs: 302,931 vs 57,540 per second),
// and SHARED_COMPRESSOR means every reply compressed from scratch.
//
// Streams: without context takeover (SHARED_COMPRESSOR; the peer's side when it
// agreed to client_no_context_takeover, the App's default) one stream per window
// size serves every connection, reset after each message, so an idle connection
// holds no zlib state; with takeover a connection has its own.
import zlib from 'node:zlib';
import type { MessageDeflate } from '../codec/permessage-deflate.js';
import { ProtocolError } from '../codec/errors.js';
import { runSync, syncCapable } from '../node/deflate/zlib-sync.js';
import type { MessageCompressor } from './websocket.js';

type Stream = zlib.DeflateRaw | zlib.InflateRaw;

// Process-wide streams for messages that keep no context, by kind and window bits.
const sharedStreams = new Map<string, Stream>();

function sharedStream(kind: 'deflate' | 'inflate', bits: number): Stream {
  const key = `${kind}/${bits}`;
  let s = sharedStreams.get(key);
  if (s === undefined || !syncCapable(s)) {
    s = make(kind, bits);
    sharedStreams.set(key, s);
  }
  return s;
}

function make(kind: 'deflate' | 'inflate', bits: number): Stream {
  // zlib has no 8-bit raw window (RFC 7692 §7.1.2.1 allows one): a 9-bit inflater reads the peer's
  // 8-bit output; our own 8-bit compressor stays the codec's (nodeCompressor()).
  const windowBits = Math.max(bits, 9);
  return kind === 'deflate' ? zlib.createDeflateRaw({ windowBits }) : zlib.createInflateRaw({ windowBits });
}

/**
 * The zlib compressor for a negotiated `pmd`, or null where this Node's zlib
 * cannot be driven in this thread (the codec's engine is kept then).
 */
export function nodeCompressor(pmd: MessageDeflate, sharedCompressor: boolean, maxPayload: number): MessageCompressor | null {
  const p = pmd.params;
  if (p === null) return null;
  const probe = sharedStream('deflate', 15);
  if (!syncCapable(probe)) return null;
  const ourBits = typeof p.server_max_window_bits === 'number' ? p.server_max_window_bits : 15;
  const peerBits = typeof p.client_max_window_bits === 'number' ? p.client_max_window_bits : 15;
  if (ourBits < 9) return null;
  return new NodeCompressor(ourBits, sharedCompressor || p.server_no_context_takeover === true,
    peerBits, p.client_no_context_takeover === true, maxPayload);
}

class NodeCompressor implements MessageCompressor {
  private deflater: Stream | null = null;
  private inflater: Stream | null = null;

  constructor(private readonly ourBits: number, private readonly ourNoTakeover: boolean,
    private readonly peerBits: number, private readonly peerNoTakeover: boolean, private readonly maxPayload: number) {}

  compress(data: Uint8Array): Uint8Array {
    const s = this.ourNoTakeover ? sharedStream('deflate', this.ourBits) : (this.deflater ??= make('deflate', this.ourBits));
    let out: Uint8Array;
    try {
      out = runSync(s, data, null, 0).out!;
    } catch (e) {
      this.drop(s);
      throw e;
    }
    if (this.ourNoTakeover) (s as zlib.DeflateRaw).reset();
    // No input right after a flush: zlib writes nothing; an empty stored block's first byte is the message (RFC 7692 §7.2.3.6).
    if (out.length === 0) return new Uint8Array(1);
    // A sync flush ends with an empty stored block, 00 00 ff ff, which the frame leaves out (RFC 7692 §7.2.1).
    return out.subarray(0, out.length - 4);
  }

  decompress(dataWithTail: Uint8Array): Uint8Array {
    const s = this.peerNoTakeover ? sharedStream('inflate', this.peerBits) : (this.inflater ??= make('inflate', this.peerBits));
    let r: ReturnType<typeof runSync>;
    try {
      r = runSync(s, dataWithTail, null, this.maxPayload);
    } catch (e) {
      this.drop(s);
      throw new ProtocolError(`Invalid compressed data: ${(e as Error).message}`, 1007, 'WS_ERR_INVALID_COMPRESSED_DATA');
    }
    if (r.out === null) {
      this.drop(s);
      throw new ProtocolError('Max payload size exceeded', 1009, 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH');
    }
    // A final block (BFINAL) ended the stream: it takes no more input, the next message starts a new one.
    if (r.leftover > 0) this.drop(s);
    else if (this.peerNoTakeover) (s as zlib.InflateRaw).reset();
    return r.out;
  }

  // A stream zlib failed on (or that ended) is not used again.
  private drop(s: Stream): void {
    s.close();
    if (s === this.deflater) this.deflater = null;
    else if (s === this.inflater) this.inflater = null;
    else for (const [k, v] of sharedStreams) if (v === s) sharedStreams.delete(k);
  }
}
