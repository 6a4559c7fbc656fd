// Node only: the App's connections on net.Server, where Node's TCP handles are
// not reachable (node-tcp.ts says when) or WASMSOCKET_APP_TRANSPORT=net asks
// for it. The same Wire: writes corked per turn (socket.cork()/uncork() around
// the batch), reads as 'data' events.
import { createServer, type Server, type Socket } from 'node:net';
import { Wire, LINGER_MS, type Chunk } from './wire.js';
import type { Acceptor, ListenRequest } from './acceptor.js';
import { netHasReusePort } from './node-reuseport.js';

class NetWire extends Wire {
  constructor(private readonly socket: Socket) { super(); }

  bufferedAmount(): number {
    let n = this.socket.writableLength;
    if (this.queued !== null) for (const c of this.queued) n += typeof c === 'string' ? c.length : c.byteLength;
    return n;
  }
  backpressure(): number { return this.socket.writableLength; }
  remoteAddress(): string { return this.socket.remoteAddress ?? ''; }
  pause(): void { this.socket.pause(); }
  resume(): void { this.socket.resume(); }

  protected writeOut(chunks: Chunk[]): void {
    if (chunks.length === 1) { this.socket.write(chunks[0]); return; }
    this.socket.cork();
    for (const c of chunks) this.socket.write(c);
    this.socket.uncork();
  }
  // Our FIN, then reads go on (dropped: the owner is done) until the peer's FIN closes the
  // socket (allowHalfOpen is off), or LINGER_MS (wire.ts): no reset ahead of our last bytes.
  protected shutdown(): void {
    this.socket.end();
    this.lingering = setTimeout(() => this.close(), LINGER_MS).unref();
  }
  protected destroy(): void {
    // Cleared, or each closed connection would stay reachable from its timer for LINGER_MS.
    if (this.lingering !== null) { clearTimeout(this.lingering); this.lingering = null; }
    this.socket.destroy();
  }
  private lingering: ReturnType<typeof setTimeout> | null = null;

  /** @internal */
  get isClosed(): boolean { return this.closed; }
  /** @internal Our FIN is out: what the peer still sends is dropped. */
  get isLingering(): boolean { return this.ending; }
}

class NetAcceptor implements Acceptor {
  constructor(private readonly server: Server, readonly port: number) {}
  close(): void { this.server.close(); }
}

/** Makes the listening server, calling `onSocket` for each connection (net's by default; SSLApp's: tls's). */
export type ServerFactory = (onSocket: (socket: Socket) => void) => Server;
const plainServer: ServerFactory = (onSocket) => createServer({ noDelay: true }, onSocket);

/** Listens with net.Server (or what `create` makes); `cb` gets the acceptor, or the error. */
export function listenNet(req: ListenRequest, cb: (acceptor: Acceptor | Error) => void, create: ServerFactory = plainServer): void {
  const server = create((socket) => {
    const wire = new NetWire(socket);
    wire.owner = req.onConnection(wire);
    socket.on('data', (b: Uint8Array) => { if (!wire.isClosed && !wire.isLingering) Wire.read(wire, b, 0, b.length); });
    socket.on('end', () => wire.owner?.onEnd());
    socket.on('drain', () => wire.owner?.onDrain?.());
    socket.on('error', () => wire.close());
    socket.on('close', () => {
      wire.close();
      const owner = wire.owner;
      wire.owner = null;
      owner?.onClose();
    });
  });
  server.once('error', (err) => cb(err));
  const host = req.host === undefined || req.host === '' ? undefined : req.host;
  // reusePort (Node >= 22.12): other threads' Apps may listen on the same port (node-reuseport.ts).
  const reusePort = req.reusePort === true && netHasReusePort();
  server.listen({ host, port: req.port, backlog: req.backlog ?? 511, ...(reusePort ? { reusePort } : {}) }, () => {
    server.removeAllListeners('error');
    server.on('error', () => {});
    const addr = server.address();
    cb(new NetAcceptor(server, typeof addr === 'object' && addr !== null ? addr.port : req.port));
  });
}
