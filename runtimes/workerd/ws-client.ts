// A WebSocket client for Cloudflare workerd on connect() from
// "cloudflare:sockets" (raw TCP) and the wasmsocket codec: the HTTP upgrade by
// hand, then FrameEncoder (masked, as a client must) and FrameDecoder over the
// socket's streams. Pings are answered, a close from the server is echoed.
//
//   const ws = await WorkerWebSocket.connect('127.0.0.1', 8080, '/');
//   ws.send('hello');
//   const ev = await ws.next();          // { type: 'message', data, isBinary }
//   ws.close(1000, 'bye');
//   await ws.next();                     // { type: 'close', code: 1000, reason: 'bye' }
//
// workerd's default outbound refuses private and loopback addresses; to reach
// 127.0.0.1, give the Worker a network service that allows "local" as its
// globalOutbound (see config.mjs).
import { connect } from 'cloudflare:sockets';
import { FrameDecoder, FrameEncoder, OPCODE, encodeClosePayload } from 'wasmsocket/codec';

export type ClientEvent =
  | { type: 'message'; data: Uint8Array; isBinary: boolean }
  | { type: 'pong'; data: Uint8Array }
  | { type: 'close'; code: number; reason: string; error?: string };

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const MAX_HEAD = 16 * 1024;
const te = new TextEncoder();

async function acceptValue(key: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-1', te.encode(key + GUID)));
  return btoa(String.fromCharCode(...digest));
}

function headEnd(b: Uint8Array): number {
  for (let i = 3; i < b.length; i++) if (b[i] === 10 && b[i - 1] === 13 && b[i - 2] === 10 && b[i - 3] === 13) return i - 3;
  return -1;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

export class WorkerWebSocket {
  private readonly encoder = new FrameEncoder({ mask: true });
  private readonly decoder: FrameDecoder;
  private readonly events: ClientEvent[] = [];
  private readonly waiters: Array<() => void> = [];
  private writing: Promise<void> = Promise.resolve();
  private closeSent = false;
  private closed = false;

  private constructor(
    private readonly socket: ReturnType<typeof connect>,
    private readonly writer: WritableStreamDefaultWriter<Uint8Array>,
    private readonly reader: ReadableStreamDefaultReader<Uint8Array>,
    maxPayload: number,
  ) {
    this.decoder = new FrameDecoder({
      onMessage: (data, isBinary) => this.emit({ type: 'message', data, isBinary }),
      onPing: (data) => { if (!this.closeSent) this.write(this.encoder.frame(OPCODE.pong, data)); },
      onPong: (data) => this.emit({ type: 'pong', data }),
      onClose: (code, reason, payload) => {
        // Echo the server's close (unless we started the closing handshake).
        if (!this.closeSent) this.write(this.encoder.frame(OPCODE.close, code === 1005 ? new Uint8Array(0) : payload));
        this.closeSent = true;
        this.finish({ type: 'close', code, reason });
      },
      onError: (err) => {
        if (!this.closeSent) this.write(this.encoder.frame(OPCODE.close, encodeClosePayload(err.closeCode)));
        this.closeSent = true;
        this.finish({ type: 'close', code: 1006, reason: '', error: `${err.closeCode} ${err.message}` });
      },
    }, { isServer: false, maxPayload });
  }

  /** Opens a TCP connection and performs the opening handshake (RFC 6455 §4.1). */
  static async connect(hostname: string, port: number, path = '/', options: { maxPayload?: number } = {}): Promise<WorkerWebSocket> {
    const socket = connect({ hostname, port });
    const writer = socket.writable.getWriter();
    const reader = socket.readable.getReader();
    const keyBytes = crypto.getRandomValues(new Uint8Array(16));
    const key = btoa(String.fromCharCode(...keyBytes));
    await writer.write(te.encode([
      `GET ${path} HTTP/1.1`, `Host: ${hostname}:${port}`, 'Upgrade: websocket', 'Connection: Upgrade',
      `Sec-WebSocket-Key: ${key}`, 'Sec-WebSocket-Version: 13', '', '',
    ].join('\r\n')));
    let buf = new Uint8Array(0);
    let end = -1;
    while (end < 0) {
      const { value, done } = await reader.read();
      if (done) throw new Error('connection closed during the handshake');
      buf = concat(buf, value);
      end = headEnd(buf);
      if (end < 0 && buf.length > MAX_HEAD) throw new Error('handshake response head too large');
    }
    const lines = new TextDecoder('latin1').decode(buf.subarray(0, end)).split('\r\n');
    if (!/^HTTP\/1\.1 101 /.test(lines[0])) throw new Error(`handshake refused: ${lines[0]}`);
    const headers = new Map(lines.slice(1).map((l) => [l.slice(0, l.indexOf(':')).trim().toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
    if (headers.get('upgrade')?.toLowerCase() !== 'websocket') throw new Error('handshake: no Upgrade: websocket');
    if (!(headers.get('connection') ?? '').toLowerCase().split(',').map((t) => t.trim()).includes('upgrade')) throw new Error('handshake: no Connection: Upgrade');
    if (headers.get('sec-websocket-accept') !== await acceptValue(key)) throw new Error('handshake: wrong Sec-WebSocket-Accept');
    const ws = new WorkerWebSocket(socket, writer, reader, options.maxPayload ?? 100 * 1024 * 1024);
    const rest = buf.subarray(end + 4);
    if (rest.length > 0) ws.decoder.push(rest);
    void ws.readLoop();
    return ws;
  }

  send(data: string | Uint8Array): void {
    if (this.closeSent) return;
    const binary = typeof data !== 'string';
    this.write(this.encoder.frame(binary ? OPCODE.binary : OPCODE.text, binary ? data : te.encode(data)));
  }

  ping(data: Uint8Array = new Uint8Array(0)): void {
    if (!this.closeSent) this.write(this.encoder.frame(OPCODE.ping, data));
  }

  /** Starts the closing handshake; the 'close' event follows the server's reply. */
  close(code?: number, reason?: string): void {
    if (this.closeSent) return;
    this.closeSent = true;
    this.write(this.encoder.frame(OPCODE.close, encodeClosePayload(code, reason)));
  }

  /** The next event; a timeout rejects. */
  async next(timeoutMs = 5000): Promise<ClientEvent> {
    const deadline = Date.now() + timeoutMs;
    while (this.events.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no event within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => { clearTimeout(t); resolve(); });
      });
    }
    return this.events.shift()!;
  }

  private write(bytes: Uint8Array): void {
    this.writing = this.writing.then(() => this.writer.write(bytes)).catch(() => {});
  }

  private emit(e: ClientEvent): void {
    this.events.push(e);
    for (const w of this.waiters.splice(0)) w();
  }

  private finish(e: ClientEvent): void {
    if (this.closed) return;
    this.closed = true;
    this.emit(e);
    // The server closes TCP first (§7.1.1); we close our side once our last frame is out.
    void this.writing.then(() => this.socket.close()).catch(() => {});
  }

  private async readLoop(): Promise<void> {
    try {
      for (;;) {
        const { value, done } = await this.reader.read();
        if (done) break;
        this.decoder.push(value);
      }
    } catch {
      // reset
    }
    this.decoder.reset();
    this.finish({ type: 'close', code: 1006, reason: '' });
  }
}
