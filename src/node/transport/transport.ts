// The seam between a connection and the bytes under it. The connection
// (websocket.ts) reads and writes any Duplex with stream methods only: 'data',
// write/cork, pause/resume, writableLength. What differs per transport — how the
// duplex is readied, ended after the close handshake, and torn down — is this
// small object, one file per transport beside it:
//   transport-net.ts     net.Socket / tls.TLSSocket (TCP FIN, destroy)
//   transport-h2.ts      an HTTP/2 stream, RFC 8441 (END_STREAM, RST_STREAM CANCEL)
//   transport-duplex.ts  any other Duplex (end, destroy)
// Most of these run once per connection (readDirect sets up a read path, once);
// writeDirect is the exception: a sender calls it for each batch it flushes.
import type { Duplex } from 'node:stream';

export interface Transport {
  /** Readies the duplex for a long-lived connection (once, when the connection opens). */
  open(stream: Duplex): void;
  /** Ends our side cleanly once the close handshake is done. */
  end(stream: Duplex): void;
  /** Ends the connection after our close frame for a protocol error went out. */
  fail(stream: Duplex): void;
  /** Tears the connection down now: terminate(), close timeout, transport error. */
  abort(stream: Duplex): void;
  /**
   * Optional: from now on, reads land in `target` and `onRead` is called with
   * the stream as `this` and the byte count, instead of 'data' events (no Buffer
   * per read, no stream machinery). `target` is reused for every read, so
   * `onRead` consumes the bytes before it returns. False when this stream
   * cannot: the caller listens for 'data' as usual.
   */
  readDirect?(stream: Duplex, target: Uint8Array, onRead: (this: Duplex, n: number) => void): boolean;
  /**
   * Optional: hands `bytes` to the kernel with no stream machinery, when
   * nothing else of this stream is queued anywhere. Returns -1 when it did not
   * (the caller uses stream.write), 0 when the kernel took every byte (the
   * buffer is free again), or the bytes still queued below the stream (the
   * buffer stays referenced until written; `owner.directQueued` is set back
   * to 0 when it is).
   */
  writeDirect?(stream: Duplex, bytes: Uint8Array, owner: { directQueued: number }): number;
}
