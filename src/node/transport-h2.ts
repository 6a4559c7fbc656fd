// An HTTP/2 stream carrying a WebSocket (RFC 8441). RFC 8441 §6: an orderly
// close is END_STREAM, an abrupt one RST_STREAM with CANCEL (0x8). Flow control
// needs nothing here: pausing the stream stops Node reading it, so no
// WINDOW_UPDATE goes out and the peer's sends stall (backpressure per stream).
import { constants, type Http2Stream } from 'node:http2';
import type { Duplex } from 'node:stream';
import type { Transport } from './transport.js';

function reset(stream: Duplex): void {
  const s = stream as unknown as Http2Stream;
  if (!s.destroyed && !s.closed) s.close(constants.NGHTTP2_CANCEL);
}

export const h2StreamTransport: Transport = {
  open(): void {},
  end(stream: Duplex): void { if (!stream.writableEnded) stream.end(); },
  // Our close frame is on the wire (its write callback ran after the session
  // wrote it to the socket), so the reset cannot overtake it.
  fail: reset,
  abort: reset,
};
