// An HTTP/2 stream carrying a WebSocket (RFC 8441). RFC 8441 §6: an orderly
// close is END_STREAM, an abrupt one RST_STREAM with CANCEL (0x8). Flow control
// needs nothing here: pausing the stream stops Node reading it, so no
// WINDOW_UPDATE goes out and the peer's sends stall (backpressure per stream).
import { constants, type Http2Session, type Http2Stream } from 'node:http2';
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

interface Closable { readyState: number; close(code?: number, reason?: string): void; once(event: 'close', listener: () => void): unknown }
const onSession = new WeakMap<object, Set<Closable>>();

/**
 * A GOAWAY on `session`, from the peer or from us (session.close() or
 * session.goaway() on our side), starts the close handshake of every WebSocket
 * on it with 1001: the streams it already carries stay usable until they end
 * (RFC 9113 §6.8), so the handshakes can finish before the session goes.
 * Node emits no event for a GOAWAY it sends, so the session's own goaway()
 * (which close() calls) is wrapped, once per session carrying a WebSocket.
 */
export function closeOnGoaway(session: Http2Session, ws: Closable): void {
  let sockets = onSession.get(session);
  if (sockets === undefined) {
    const set = sockets = new Set();
    onSession.set(session, set);
    const goingAway = (): void => {
      for (const s of set) if (s.readyState === 1) s.close(1001, 'Going away');
    };
    session.once('goaway', goingAway);
    const send = session.goaway;
    session.goaway = function (this: Http2Session, ...args: Parameters<Http2Session['goaway']>): void {
      send.apply(this, args);
      goingAway();
    };
  }
  sockets.add(ws);
  ws.once('close', () => sockets.delete(ws));
}
