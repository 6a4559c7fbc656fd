// What the client handshake (client.ts over HTTP/1.1, client-h2.ts over HTTP/2)
// reads and sets on the connection it opens, as an interface: the handshake sits
// below websocket.ts, which implements it and calls connectClient().
import type { Buffer } from 'node:buffer';
import type { ClientRequest } from 'node:http';
import type { Duplex } from 'node:stream';
import process from 'node:process';
import type { PerMessageDeflate } from '../deflate/permessage-deflate.js';
import type { Transport } from '../transport/transport.js';
import { transportFor } from '../transport/net.js';
import { CLOSING } from '../../core/protocol.js';
import type { ConnectionOptions } from './connection-options.js';

/** A connection in CONNECTING, as the client handshake sees it (WebSocket is one). */
export interface Dialing {
  readonly readyState: number;
  /** The core's state: set to CLOSING when the handshake fails. */
  _readyState: number;
  _url: string;
  /** The request in flight (an HTTP/2 stream or a stand-in while waiting for the session). */
  _req: ClientRequest | null;
  _protocol: string;
  _extensions: string;
  _socket: Duplex | null;
  _transport: Transport | null;
  /** Takes over the upgraded socket: from here on the connection is OPEN. */
  _setSocket(socket: Duplex, head: Buffer, opts: ConnectionOptions, pmd: PerMessageDeflate | null, transport?: Transport): void;
  _emitError(err: Error): void;
  /** Ends a connection that never opened. */
  _emitClose(): void;
  /** Over HTTP/2, a GOAWAY on the session starts the closing handshake. */
  close(code?: number, reason?: string): void;
  emit(event: string | symbol, ...args: any[]): boolean;
  once(event: string | symbol, listener: (...args: any[]) => void): unknown;
}

/** Fails a connection still in CONNECTING: error, then close (as the browser does). */
export function abortHandshake(ws: Dialing, message: string, ErrorType: ErrorConstructor = Error): void {
  ws._readyState = CLOSING;
  const err = new ErrorType(message);
  const req = ws._req;
  if (req) {
    ws._req = null;
    req.destroy();
    // After a complete response (unexpected-response) the socket may be kept
    // alive for the agent: as ws, it is closed with the request.
    if (req.socket && !req.socket.destroyed) req.socket.destroy();
  }
  if (ws._socket) (ws._transport ?? transportFor(ws._socket)).abort(ws._socket);
  process.nextTick(() => {
    ws._emitError(err);
    ws._emitClose();
  });
}
