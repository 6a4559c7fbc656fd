// WebSocketStream on our Node WebSocket: a client (`new WebSocketStream(url)`)
// and the server side (`WebSocketStream.from(ws)` on a 'connection'). Reading
// pauses the socket (ws.pause) while the readable's queue is full; a write
// resolves when send()'s callback says the frame went to the kernel.
import { WebSocket, type ClientOptions, type Data } from './websocket.js';
import {
  WebSocketError, WebSocketStreamCore, webSocketUrl, type MessageSink, type MessageSource, type SourceOpener, type WebSocketStreamOptions,
} from '../../web/stream-core.js';

export interface NodeStreamOptions extends WebSocketStreamOptions, Omit<ClientOptions, 'signal'> {}

/** Binary data as a Uint8Array that owns its whole buffer (a pooled Buffer's neighbours stay hidden). */
function ownBytes(data: Buffer): Uint8Array {
  if (data.byteOffset === 0 && data.buffer.byteLength === data.length) return new Uint8Array(data.buffer, 0, data.length);
  return new Uint8Array(data);
}

function failure(e: unknown): WebSocketError {
  const err = new WebSocketError(`WebSocket connection failed: ${(e as Error)?.message ?? e}`);
  Object.assign(err as { closeCode: number | null }, { closeCode: 1006 });
  return err;
}

/** Wires a WebSocket (open or connecting) to a sink; resolves once it is open. */
function wsSource(ws: WebSocket, sink: MessageSink, signal: AbortSignal): Promise<MessageSource> {
  ws.binaryType = 'nodebuffer';
  let error: Error | undefined;
  ws.on('error', (e: Error) => { error ??= e; });
  ws.on('message', (data: Data, isBinary: boolean) => {
    const buf = data as Buffer;
    sink.message(isBinary ? ownBytes(buf) : buf.toString('utf8'));
  });
  const source: MessageSource = {
    get protocol() { return ws.protocol; },
    get extensions() { return ws.extensions; },
    send: (data) => new Promise<void>((resolve, reject) => {
      ws.send(data, { binary: typeof data !== 'string' }, (err) => (err ? reject(err) : resolve()));
    }),
    close: (code, reason) => ws.close(code, reason),
    abort: () => ws.terminate(),
    pause: () => ws.pause(),
    resume: () => ws.resume(),
  };
  return new Promise((resolve, reject) => {
    let open = ws.readyState === WebSocket.OPEN;
    ws.on('close', (code: number, reason: Buffer) => {
      if (!open) { reject(signal.aborted ? signal.reason : failure(error ?? new Error(`closed with ${code}`))); return; }
      // 1006: no close frame came (ws's code for an abnormal closure).
      sink.closed(code, reason.toString('utf8'), code !== 1006);
    });
    if (open) { resolve(source); return; }
    if (ws.readyState !== WebSocket.CONNECTING) { reject(failure(new Error('The WebSocket is already closed'))); return; }
    const onAbort = () => ws.terminate();
    signal.addEventListener('abort', onAbort, { once: true });
    ws.once('open', () => {
      signal.removeEventListener('abort', onAbort);
      open = true;
      resolve(source);
    });
  });
}

export class WebSocketStream extends WebSocketStreamCore {
  /**
   * `options`: protocols and signal as in the WHATWG WebSocketStream, plus our
   * WebSocket's client options (maxPayload, headers, handshakeTimeout, ...).
   */
  constructor(url: string | URL, options: NodeStreamOptions = {}) {
    const { protocols, signal, ...clientOptions } = options;
    const list = protocols === undefined ? [] : typeof protocols === 'string' ? [protocols] : protocols;
    const u = webSocketUrl(url);
    if (new Set(list).size !== list.length) throw new DOMException('Duplicate subprotocols', 'SyntaxError');
    super(u.href, (sink, sig) => wsSource(new WebSocket(u, list, clientOptions), sink, sig), signal);
  }

  /**
   * Takes a WebSocket as a WebSocketStream, typically the server side of a
   * connection: `wss.on('connection', (ws) => { const s = WebSocketStream.from(ws); ... })`.
   * Call it before the first message is due (in the 'connection' handler): it
   * listens from then on.
   */
  static from(ws: WebSocket): WebSocketStream {
    const opener: SourceOpener = (sink, signal) => wsSource(ws, sink, signal);
    return Reflect.construct(WebSocketStreamCore, [ws.url, opener], WebSocketStream) as WebSocketStream;
  }
}
