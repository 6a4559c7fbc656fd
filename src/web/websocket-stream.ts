// WebSocketStream for Deno, Bun, workerd and anything with Web Streams: a client
// (`new WebSocketStream(url)`, over the runtime's TCP or options.connect) and
// the server side (`accept(pair)`), both a Connection on a byte stream pair.
import { Connection, type ConnectionOptions } from './connection.js';
import {
  StreamTransport, clientHandshake, serverHandshake, type AcceptOptions, type BytePair, type DeflateOption,
} from './byte-stream.js';
import { dial, type Dialer } from './dial.js';
import type { UpgradeRequest } from './handshake.js';
import {
  WebSocketError, WebSocketStreamCore, webSocketUrl, type MessageSink, type MessageSource, type SourceOpener, type WebSocketStreamOptions,
} from './stream-core.js';

export interface ClientStreamOptions extends WebSocketStreamOptions, Omit<ConnectionOptions, 'isServer' | 'deflate'> {
  /** permessage-deflate: offered by default (as ws's client and browsers); false: not offered. */
  perMessageDeflate?: DeflateOption;
  /** Opens the byte stream pair for a URL; default: the runtime's TCP (Deno.connect, Bun.connect, workerd's connect()). */
  connect?: Dialer;
  /** Time allowed for the opening handshake (ms). */
  handshakeTimeout?: number;
  /** Cap on the server's answer head (bytes). */
  maxHeaderBytes?: number;
}

export interface AcceptStreamOptions extends AcceptOptions, Omit<ConnectionOptions, 'isServer' | 'deflate'> {}

const text = new TextDecoder();

/** A MessageSource on a Connection whose transport is a pair being read by StreamTransport.run. */
function connectionSource(transport: StreamTransport, sink: MessageSink, protocol: string, extensions: string, rest: Uint8Array,
  options: ConnectionOptions): MessageSource {
  const conn = new Connection(transport, {
    onMessage: (data, isBinary) => sink.message(isBinary ? data : text.decode(data)),
    onClose: (code, reason, clean) => sink.closed(code, reason, clean),
    delivered: () => sink.drained(),
  }, options);
  void transport.run(conn, rest);
  return {
    protocol,
    extensions,
    send: (data) => conn.send(data),
    close: (code, reason) => conn.close(code, reason),
    abort: () => conn.abort(),
    pause: () => transport.pause(),
    resume: () => transport.resume(),
  };
}

const failure = (e: unknown) => {
  const err = new WebSocketError(`WebSocket connection failed: ${(e as Error)?.message ?? e}`);
  Object.assign(err as { closeCode: number | null }, { closeCode: 1006 });
  return err;
};

export class WebSocketStream extends WebSocketStreamCore {
  /** Server side (accept): the upgrade request it answered. */
  readonly request?: UpgradeRequest;

  constructor(url: string | URL, options: ClientStreamOptions = {}) {
    const u = webSocketUrl(url);
    const protocols = options.protocols === undefined ? [] : typeof options.protocols === 'string' ? [options.protocols] : [...options.protocols];
    if (new Set(protocols).size !== protocols.length) throw new DOMException('Duplicate subprotocols', 'SyntaxError');
    const opener: SourceOpener = async (sink, signal) => {
      const aborted = new Promise<never>((_, reject) => {
        if (signal.aborted) reject(signal.reason);
        signal.addEventListener('abort', () => reject(signal.reason), { once: true });
      });
      aborted.catch(() => {});
      let transport: StreamTransport | undefined;
      try {
        const pairP = Promise.resolve().then(() => (options.connect ?? dial)(u));
        pairP.then((p) => { if (signal.aborted) abortPair(p); }, () => {});
        const pair = await Promise.race([pairP, aborted]);
        transport = new StreamTransport(pair, options.closeTimeout);
        const hs = await Promise.race([clientHandshake(transport, u, protocols, options), aborted]);
        return connectionSource(transport, sink, hs.protocol, hs.extensions, hs.rest, { ...options, isServer: false, deflate: hs.deflate });
      } catch (e) {
        transport?.abort();
        throw signal.aborted ? signal.reason : failure(e);
      }
    };
    super(u.href, opener, options.signal);
  }
}

function abortPair(pair: BytePair): void {
  pair.readable.cancel().catch(() => {});
  pair.writable.abort().catch(() => {});
}

/**
 * Answers a WebSocket upgrade read from a byte stream pair (a TCP connection
 * just accepted): resolves with the open WebSocketStream, or rejects with a
 * HandshakeError once the HTTP error answer is on its way.
 */
export async function accept(pair: BytePair, options: AcceptStreamOptions = {}): Promise<WebSocketStream> {
  const transport = new StreamTransport(pair, options.closeTimeout);
  const { request, protocol, rest, extensions, deflate } = await serverHandshake(transport, options);
  const opener: SourceOpener = async (sink) => connectionSource(transport, sink, protocol, extensions, rest, { ...options, isServer: true, deflate });
  // The core's constructor with WebSocketStream's prototype: no URL to dial.
  const ws = Reflect.construct(WebSocketStreamCore, [request.path, opener], WebSocketStream) as WebSocketStream;
  Object.defineProperty(ws, 'request', { value: request, enumerable: true });
  return ws;
}
