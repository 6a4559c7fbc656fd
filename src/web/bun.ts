// Bun's TCP (Bun.listen / Bun.connect, callback-based) as { readable, writable }
// byte stream pairs, for accept() and the WebSocketStream client. Reading
// pauses the socket while the readable's queue is full; a write resolves once
// Bun's socket took every byte (after 'drain' when it took only part).
//
//   bunListen({ hostname: '127.0.0.1', port: 8080 }, async (pair) => {
//     const ws = await accept(pair);
//     const { readable, writable } = await ws.opened;
//     await readable.pipeTo(writable);
//   });
import type { BytePair } from './byte-stream.js';

/** The part of Bun's Socket this uses. */
interface BunSocket {
  write(data: Uint8Array): number;
  end(): void;
  shutdown(halfClose?: boolean): void;
  terminate(): void;
  pause(): void;
  resume(): void;
  setNoDelay?(on?: boolean): void;
  data: SocketPair | undefined;
}

interface SocketHandler {
  open(socket: BunSocket): void;
  data(socket: BunSocket, chunk: Uint8Array): void;
  drain(socket: BunSocket): void;
  end(socket: BunSocket): void;
  close(socket: BunSocket, error?: Error): void;
  error(socket: BunSocket, error: Error): void;
  connectError?(socket: BunSocket, error: Error): void;
}

interface BunNet {
  listen(o: { hostname: string; port: number; socket: SocketHandler }): { port: number; hostname: string; stop(closeActive?: boolean): void };
  connect(o: { hostname: string; port: number; tls?: boolean; socket: SocketHandler }): Promise<BunSocket>;
}

const bun = (): BunNet => {
  const b = (globalThis as { Bun?: BunNet }).Bun;
  if (!b) throw new TypeError('Bun is not available in this runtime');
  return b;
};

// The readable's queue of received bytes before the socket is paused: 64 KiB,
// one read of Bun's (and of Node's and Deno's) TCP socket.
const READ_HIGH_WATER = 64 * 1024;

class SocketPair implements BytePair {
  readonly readable: ReadableStream<Uint8Array>;
  readonly writable: WritableStream<Uint8Array>;
  private reader!: ReadableStreamDefaultController<Uint8Array>;
  private blocked: { rest: Uint8Array; resolve: () => void; reject: (e: Error) => void } | undefined;
  private readDone = false;
  private peerEnded = false;
  private weEnded = false;
  private gone = false;

  constructor(private readonly socket: BunSocket) {
    this.readable = new ReadableStream<Uint8Array>({
      start: (c) => { this.reader = c; },
      pull: () => { if (!this.gone) socket.resume(); },
      cancel: () => this.destroy(),
    }, { highWaterMark: READ_HIGH_WATER, size: (c) => c.byteLength });
    this.writable = new WritableStream<Uint8Array>({
      write: (chunk) => this.write(chunk),
      // FIN after our last byte; the socket closes once the peer's FIN came too.
      close: () => {
        this.weEnded = true;
        if (this.gone) return;
        if (this.peerEnded) socket.end();
        else socket.shutdown(true);
      },
      abort: () => this.destroy(),
    });
  }

  private write(chunk: Uint8Array): Promise<void> {
    if (this.gone) return Promise.reject(new Error('The socket is closed'));
    const n = this.socket.write(chunk);
    if (n < 0) return Promise.reject(new Error('The socket is closed'));
    if (n >= chunk.length) return Promise.resolve();
    return new Promise((resolve, reject) => { this.blocked = { rest: chunk.subarray(n), resolve, reject }; });
  }

  onDrain(): void {
    const b = this.blocked;
    if (!b) return;
    const n = this.socket.write(b.rest);
    if (n < 0) { this.blocked = undefined; b.reject(new Error('The socket is closed')); return; }
    if (n < b.rest.length) { b.rest = b.rest.subarray(n); return; }
    this.blocked = undefined;
    b.resolve();
  }

  onData(chunk: Uint8Array): void {
    if (this.readDone) return;
    this.reader.enqueue(new Uint8Array(chunk)); // a copy: the queue may hold it while paused
    if ((this.reader.desiredSize ?? 0) <= 0) this.socket.pause();
  }

  onEnd(): void {
    this.peerEnded = true;
    this.finishReading();
    if (this.weEnded && !this.gone) this.socket.end();
  }

  onClose(error?: Error): void {
    this.gone = true;
    if (!this.readDone) {
      this.readDone = true;
      if (error) this.reader.error(error); else this.reader.close();
    }
    const b = this.blocked;
    this.blocked = undefined;
    b?.reject(error ?? new Error('The socket is closed'));
  }

  private finishReading(): void {
    if (this.readDone) return;
    this.readDone = true;
    this.reader.close();
  }

  private destroy(): void {
    if (this.gone) return;
    this.gone = true;
    this.socket.terminate();
  }
}

function handler(onOpen: (pair: SocketPair) => void): SocketHandler {
  return {
    open(socket) {
      socket.setNoDelay?.(true);
      socket.data = new SocketPair(socket);
      onOpen(socket.data);
    },
    data: (socket, chunk) => socket.data?.onData(chunk),
    drain: (socket) => socket.data?.onDrain(),
    end: (socket) => socket.data?.onEnd(),
    close: (socket, error) => socket.data?.onClose(error),
    error: (socket, error) => socket.data?.onClose(error),
  };
}

/** Bun.listen, with each accepted connection handed over as a byte stream pair. */
export function bunListen(options: { hostname: string; port: number }, onConnection: (pair: BytePair) => void) {
  return bun().listen({ ...options, socket: handler(onConnection) });
}

/** Bun.connect as a byte stream pair. */
export async function bunConnect(options: { hostname: string; port: number; tls?: boolean }): Promise<BytePair> {
  let pair: SocketPair | undefined;
  const socket = await bun().connect({ ...options, socket: handler((p) => { pair = p; }) });
  return pair ?? socket.data!;
}
