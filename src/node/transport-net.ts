// A TCP or TLS socket (tls.TLSSocket is a net.Socket): no idle timeout, no Nagle
// delay for small frames; a close ends with FIN, a protocol error too (as ws:
// the peer reads our close frame before the FIN), terminate() destroys.
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Transport } from './transport.js';
import { duplexTransport } from './transport-duplex.js';

export const netTransport: Transport = {
  open(stream: Duplex): void {
    const socket = stream as Socket;
    socket.setTimeout(0);
    socket.setNoDelay(true);
  },
  end: duplexTransport.end,
  fail: duplexTransport.end,
  abort: duplexTransport.abort,
};

/** The transport for a duplex handed to the connection without one. */
export function transportFor(stream: Duplex): Transport {
  return stream instanceof Socket ? netTransport : duplexTransport;
}
