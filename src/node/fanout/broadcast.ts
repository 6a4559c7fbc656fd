// Frame-once fan-out: a message is framed once and the same bytes go to every
// recipient (server frames are unmasked, so one frame serves all), each
// recipient's backpressure checked first. With permessage-deflate it is also
// compressed once (per window size) for every deflate recipient. Also
// uWebSockets-style topics.
import { Buffer } from 'node:buffer';
import zlib from 'node:zlib';
import { headerLength, writeHeader } from '../../codec/encoder.js';
import { toBuffer } from '../transport/to-buffer.js';
import type { PerMessageDeflate } from '../deflate/permessage-deflate.js';

/**
 * What fan-out needs of a recipient: its state, its backlog, a way to write a
 * frame built once and to drop it. The ws door's WebSocket is one; anything
 * else with these members (another door's connection) can be one too.
 */
export interface FanoutMember {
  readonly readyState: number;
  /** Its negotiated permessage-deflate, or null: a compressed frame is built once per window size. */
  _pmd: Pick<PerMessageDeflate, 'threshold' | 'deflateWindowBits'> | null;
  /** Bytes its socket still holds (this tick's unflushed batch left out). */
  _backlog(): number;
  /** Writes a whole frame as it is; false when it could not be sent. */
  _sendRaw(frame: Buffer, compressed: boolean): boolean;
  close(code?: number, reason?: string): void;
  terminate(): void;
}

/** What to do with a recipient whose queued bytes pass maxBackpressure. */
export type BackpressurePolicy = 'close' | 'skip';

export interface BroadcastOptions<M extends FanoutMember = FanoutMember> {
  binary?: boolean;
  /** Compress for recipients that negotiated permessage-deflate (default true, as send()). */
  compress?: boolean;
  /** Only recipients for which this returns true. */
  filter?: (ws: M) => boolean;
  /** Leave this socket out (usually the sender). */
  except?: M;
}

// 1 MiB default: about 16 s of a busy chat (64 KB/s) or one large message;
// uWebSockets.js leaves it to the user, ws has no limit at all.
export const DEFAULT_MAX_BACKPRESSURE = 1024 * 1024;

const OPEN = 1;

export class Broadcaster<M extends FanoutMember = FanoutMember> {
  readonly maxBackpressure: number;
  readonly policy: BackpressurePolicy;
  private readonly topics = new Map<string, Set<M>>();
  /** Messages not sent to a recipient because it was over maxBackpressure (policy 'skip'). */
  skipped = 0;
  /** Recipients closed with 1008 because they were over maxBackpressure (policy 'close'). */
  dropped = 0;
  /** Told when a topic gets its first subscriber (true) or loses its last (false): the broker seam. */
  onTopic: ((topic: string, active: boolean) => void) | null = null;

  constructor(maxBackpressure = DEFAULT_MAX_BACKPRESSURE, policy: BackpressurePolicy = 'close') {
    this.maxBackpressure = maxBackpressure;
    this.policy = policy;
  }

  broadcast(recipients: Iterable<M>, data: string | Buffer | ArrayBuffer | ArrayBufferView, options: BroadcastOptions<M>): number {
    const payload = toPayload(data);
    const opcode = (options.binary ?? typeof data !== 'string') ? 2 : 1;
    let plain: Buffer | null = null;
    let compressed: Map<number, Buffer> | null = null;
    let sent = 0;
    for (const ws of recipients) {
      if (ws === options.except || (options.filter && !options.filter(ws))) continue;
      const pmd = ws._pmd;
      if (pmd !== null && options.compress !== false && payload.length >= pmd.threshold) {
        // One compression per window size (almost always just 15) serves every
        // deflate peer; each then restarts its own compressor (see deliver).
        const bits = pmd.deflateWindowBits;
        let frame = (compressed ??= new Map()).get(bits);
        if (frame === undefined) compressed.set(bits, (frame = compressOnce(payload, opcode, bits)));
        if (this.deliver(ws, frame, true)) sent++;
      } else if (this.deliver(ws, plain ??= frameShared(payload, opcode), false)) {
        sent++;
      }
    }
    return sent;
  }

  publish(topic: string, data: string | Buffer | ArrayBuffer | ArrayBufferView, options: BroadcastOptions<M>): number {
    const subs = this.topics.get(topic);
    if (!subs || subs.size === 0) return 0;
    return this.broadcast(subs, data, options);
  }

  subscribe(ws: M, topic: string): void {
    let subs = this.topics.get(topic);
    if (!subs) {
      this.topics.set(topic, (subs = new Set()));
      this.onTopic?.(topic, true);
    }
    subs.add(ws);
  }

  unsubscribe(ws: M, topic: string): boolean {
    const subs = this.topics.get(topic);
    if (!subs || !subs.delete(ws)) return false;
    if (subs.size === 0) {
      this.topics.delete(topic);
      this.onTopic?.(topic, false);
    }
    return true;
  }

  subscribers(topic: string): number {
    return this.topics.get(topic)?.size ?? 0;
  }

  /** Topics with at least one subscriber. */
  topicNames(): IterableIterator<string> {
    return this.topics.keys();
  }

  private deliver(ws: M, frame: Buffer, compressed: boolean): boolean {
    if (ws.readyState !== OPEN) return false;
    // The backlog is what the socket holds: this tick's unflushed batch is left
    // out (the sender flushes it at 64 KiB), or a fast reader would be dropped
    // for a burst sent within one tick.
    if (ws._backlog() + frame.length > this.maxBackpressure) {
      if (this.policy === 'skip') {
        this.skipped++;
        return false;
      }
      this.dropped++;
      // The close frame would wait behind the backlog the peer is not reading,
      // so the socket goes at once; the peer sees the TCP close.
      ws.close(1008, 'Backpressure limit exceeded');
      ws.terminate();
      return false;
    }
    return ws._sendRaw(frame, compressed);
  }
}

export function toPayload(data: string | Buffer | ArrayBuffer | ArrayBufferView): Buffer {
  return typeof data === 'string' ? Buffer.from(data) : toBuffer(data);
}

/** A whole unmasked frame (FIN, no RSV bits). */
export function frameOnce(payload: Buffer, opcode: number, rsv1 = false): Buffer {
  const hl = headerLength(payload.length, false);
  const frame = Buffer.allocUnsafe(hl + payload.length);
  writeHeader(frame, 0, opcode, payload.length, true, rsv1, -1);
  payload.copy(frame, hl);
  return frame;
}

// Plain broadcast frames up to 4 KiB are framed back to back into one 16 KiB
// slab: a recipient's sender holds consecutive frames as one range of it (see
// Sender.raw), so a burst of broadcasts in one tick costs each recipient one
// write and no copy. A new slab starts when one is full; the old one lives on
// only in writes the kernel has not taken yet.
const SLAB_SIZE = 16 * 1024;
const SLAB_FRAME_MAX = 4 * 1024;
let slab: Buffer | null = null;
let slabUsed = 0;

function frameShared(payload: Buffer, opcode: number): Buffer {
  const n = headerLength(payload.length, false) + payload.length;
  if (n > SLAB_FRAME_MAX) return frameOnce(payload, opcode);
  if (slab === null || slabUsed + n > SLAB_SIZE) {
    slab = Buffer.allocUnsafe(SLAB_SIZE);
    slabUsed = 0;
  }
  const frame = slab.subarray(slabUsed, slabUsed + n);
  slabUsed += n;
  writeHeader(frame, 0, opcode, payload.length, true, false, -1);
  payload.copy(frame, n - payload.length);
  return frame;
}

// A fresh raw-deflate stream, sync-flushed, 00 00 ff ff removed (RFC 7692
// §7.2.1): valid for any peer whose window is at least `windowBits`, whatever
// its context takeover, because it refers back to nothing before it.
// `windowBits` is the recipient's deflateWindowBits (already 9 for a
// negotiated 8, which zlib refuses for raw deflate).
function compressOnce(payload: Buffer, opcode: number, windowBits: number): Buffer {
  const out = zlib.deflateRawSync(payload, { windowBits, finishFlush: zlib.constants.Z_SYNC_FLUSH });
  return frameOnce(out.subarray(0, out.length - 4), opcode, true);
}
