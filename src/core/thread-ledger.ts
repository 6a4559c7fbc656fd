// The ThreadBroker's byte limit: how far each other thread is behind this
// one's publishes. BroadcastChannel has no backpressure, so a thread slower
// than the publishers would queue without bound; instead every receiver
// acknowledges what it has delivered (every ACK_STEP bytes from a sender) and
// a sender drops a publish that would put any live peer more than
// maxPendingBytes behind. A peer says hello when it attaches and bye when it
// closes; one that went without a bye (a thread that exited or crashed) is
// forgotten once it is over the limit and silent for STALE_MS. No Node imports.

/** Bytes a receiver delivers between acknowledgements: one small ack per 256 KiB, 1/128 of the default limit (32 MiB). */
export const ACK_STEP = 256 * 1024;
/** A peer over the limit and silent this long is taken for gone (a live one acks every ACK_STEP bytes). */
export const STALE_MS = 5000;
/** What a message costs besides its payload (the clone's array, topic and flags): an estimate. */
export const MESSAGE_OVERHEAD = 128;

interface Peer { acked: number; heard: number }

export class ThreadLedger {
  /** Bytes this thread has published so far (the position acks refer to). */
  sent = 0;
  private readonly peers = new Map<number, Peer>();

  constructor(private readonly maxPendingBytes: number, private readonly now: () => number = Date.now) {}

  /** A peer spoke (hello, ack or data): it is alive and, if new, starts from here. */
  heard(id: number): void {
    const p = this.peers.get(id);
    if (p === undefined) this.peers.set(id, { acked: this.sent, heard: this.now() });
    else p.heard = this.now();
  }

  /** A peer acknowledged our publishes up to position `upTo`. */
  acked(id: number, upTo: number): void {
    this.heard(id);
    const p = this.peers.get(id)!;
    if (upTo > p.acked) p.acked = Math.min(upTo, this.sent);
  }

  /** A peer closed. */
  gone(id: number): void { this.peers.delete(id); }

  /** Whether `bytes` more may go out; if so they are counted and the new position returned, else -1. */
  take(bytes: number): number {
    for (const [id, p] of this.peers) {
      if (this.sent - p.acked + bytes <= this.maxPendingBytes) continue;
      if (this.now() - p.heard < STALE_MS) return -1;
      this.peers.delete(id);
    }
    this.sent += bytes;
    return this.sent;
  }

  /** How many peers are counted now (for tests and stats). */
  get size(): number { return this.peers.size; }
}

/** A receiver's side: bytes delivered from each sender since the last ack. */
export class AckCounter {
  private readonly unacked = new Map<number, number>();

  /** Counts `bytes` from `from` delivered; true when an ack of position `pos` is due. */
  delivered(from: number, bytes: number): boolean {
    const n = (this.unacked.get(from) ?? 0) + bytes;
    if (n < ACK_STEP) { this.unacked.set(from, n); return false; }
    this.unacked.set(from, 0);
    return true;
  }

  forget(from: number): void { this.unacked.delete(from); }
}
