// Frame-once fan-out: a message is framed once and the same bytes go to every
// recipient (server frames are unmasked, so one frame serves all), each
// recipient's backpressure checked first. Also uWebSockets-style topics.
import { headerLength, writeHeader } from '../codec/encoder.js';
import type { WebSocket } from './websocket.js';

/** What to do with a recipient whose queued bytes pass maxBackpressure. */
export type BackpressurePolicy = 'close' | 'skip';

export interface BroadcastOptions {
  binary?: boolean;
  /** Only recipients for which this returns true. */
  filter?: (ws: WebSocket) => boolean;
  /** Leave this socket out (usually the sender). */
  except?: WebSocket;
}

// 1 MiB default: about 16 s of a busy chat (64 KB/s) or one large message;
// uWebSockets.js leaves it to the user, ws has no limit at all.
export const DEFAULT_MAX_BACKPRESSURE = 1024 * 1024;

const OPEN = 1;

export class Broadcaster {
  readonly maxBackpressure: number;
  readonly policy: BackpressurePolicy;
  private readonly topics = new Map<string, Set<WebSocket>>();
  /** Messages not sent to a recipient because it was over maxBackpressure (policy 'skip'). */
  skipped = 0;
  /** Recipients closed with 1008 because they were over maxBackpressure (policy 'close'). */
  dropped = 0;

  constructor(maxBackpressure = DEFAULT_MAX_BACKPRESSURE, policy: BackpressurePolicy = 'close') {
    this.maxBackpressure = maxBackpressure;
    this.policy = policy;
  }

  broadcast(recipients: Iterable<WebSocket>, data: string | Buffer | ArrayBuffer | ArrayBufferView, options: BroadcastOptions): number {
    const frame = frameOnce(data, options.binary);
    let sent = 0;
    for (const ws of recipients) {
      if (ws === options.except || (options.filter && !options.filter(ws))) continue;
      if (this.deliver(ws, frame)) sent++;
    }
    return sent;
  }

  publish(topic: string, data: string | Buffer | ArrayBuffer | ArrayBufferView, options: BroadcastOptions): number {
    const subs = this.topics.get(topic);
    if (!subs || subs.size === 0) return 0;
    return this.broadcast(subs, data, options);
  }

  subscribe(ws: WebSocket, topic: string): void {
    let subs = this.topics.get(topic);
    if (!subs) this.topics.set(topic, (subs = new Set()));
    subs.add(ws);
  }

  unsubscribe(ws: WebSocket, topic: string): boolean {
    const subs = this.topics.get(topic);
    if (!subs || !subs.delete(ws)) return false;
    if (subs.size === 0) this.topics.delete(topic);
    return true;
  }

  subscribers(topic: string): number {
    return this.topics.get(topic)?.size ?? 0;
  }

  private deliver(ws: WebSocket, frame: Buffer): boolean {
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
    return ws._sendRaw(frame);
  }
}

/** A whole unmasked frame for `data`: text unless `binary` (default: binary for bytes). */
export function frameOnce(data: string | Buffer | ArrayBuffer | ArrayBufferView, binary?: boolean): Buffer {
  const isString = typeof data === 'string';
  const payload = isString ? Buffer.from(data) : Buffer.isBuffer(data) ? data
    : data instanceof ArrayBuffer ? Buffer.from(data) : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const opcode = (binary ?? !isString) ? 2 : 1;
  const hl = headerLength(payload.length, false);
  const frame = Buffer.allocUnsafe(hl + payload.length);
  writeHeader(frame, 0, opcode, payload.length, true, false, -1);
  payload.copy(frame, hl);
  return frame;
}
