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
import { CHANNEL, type ByteChannel, type BytePair, type ChannelSink } from './channel.js';

/** The part of Bun's Socket this uses. */
interface BunSocket {
  write(data: Uint8Array): number;
  end(): void;
  shutdown(halfClose?: boolean): void;
  terminate(): void;
  pause(): void;
  resume(): void;
  setNoDelay?(on?: boolean): void;
  data: SocketEvents | undefined;
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

/** What the socket's callbacks go to: the channel accept() uses, or the Web Streams. */
interface SocketEvents {
  onData(chunk: Uint8Array): void;
  onDrain(): void;
  onEnd(): void;
  onClose(error?: Error): void;
}

// A connection accepted by bunListen: readable and writable are made on first
// use; accept() takes the channel instead, which reads in the socket's data
// callback, so an idle connection holds no stream, reader or pending read
// (19.6 KiB per idle connection with them, bench/edge-idle.mjs).
class SocketPair implements BytePair, SocketEvents {
  private events: SocketEvents | null = null;
  private early: Uint8Array[] | null = null;
  private earlyEnd = false;
  private earlyClose: { error?: Error } | null = null;
  private streams: StreamsAdapter | null = null;

  constructor(private readonly socket: BunSocket) {}

  get readable(): ReadableStream<Uint8Array> { return this.useStreams().readable; }
  get writable(): WritableStream<Uint8Array> { return this.useStreams().writable; }

  [CHANNEL](): ByteChannel {
    if (this.events) throw new Error('This connection is read through its streams already');
    const channel = new BunChannel(this.socket);
    this.attach(channel);
    return channel;
  }

  private useStreams(): StreamsAdapter {
    if (this.streams) return this.streams;
    if (this.events) throw new Error('This connection is read by a WebSocket already');
    this.attach(this.streams = new StreamsAdapter(this.socket));
    return this.streams;
  }

  // What came before anyone listened is handed over in order; from now on the
  // socket's callbacks go straight to `events` (this object is then garbage
  // once the caller drops the pair: one object less per idle connection).
  private attach(events: SocketEvents): void {
    this.events = events;
    this.socket.data = events;
    const early = this.early;
    this.early = null;
    if (early) for (const c of early) events.onData(c);
    if (this.earlyEnd) events.onEnd();
    if (this.earlyClose) events.onClose(this.earlyClose.error);
    else this.socket.resume();
  }

  onData(chunk: Uint8Array): void {
    if (this.events) { this.events.onData(chunk); return; }
    (this.early ??= []).push(new Uint8Array(chunk));
    this.socket.pause();
  }

  onDrain(): void { this.events?.onDrain(); }

  onEnd(): void {
    if (this.events) this.events.onEnd(); else this.earlyEnd = true;
  }

  onClose(error?: Error): void {
    if (this.events) this.events.onClose(error); else this.earlyClose = { error };
  }
}

/** The socket's callbacks straight to StreamTransport's sink. */
class BunChannel implements ByteChannel, SocketEvents {
  private sink: ChannelSink | null = null;
  private ended: { error?: unknown } | null = null;
  /** Writes the socket did not take whole yet, oldest first. */
  private queue: Array<{ rest: Uint8Array; resolve: () => void; reject: (e: Error) => void }> | null = null;
  private closing = false;
  private peerEnded = false;
  private weEnded = false;
  private gone = false;

  constructor(private readonly socket: BunSocket) {}

  start(sink: ChannelSink): void {
    this.sink = sink;
    if (this.ended) this.end(this.ended.error);
  }

  pause(): void { if (!this.gone) this.socket.pause(); }
  resume(): void { if (!this.gone) this.socket.resume(); }

  onData(chunk: Uint8Array): void {
    this.sink?.onRead(chunk);
  }

  write(bytes: Uint8Array): Promise<void> {
    if (this.gone || this.weEnded) return Promise.reject(new Error('The socket is closed'));
    if (this.queue === null) {
      const n = this.socket.write(bytes);
      if (n < 0) return Promise.reject(new Error('The socket is closed'));
      if (n >= bytes.length) return Promise.resolve();
      bytes = bytes.subarray(n);
    }
    return new Promise((resolve, reject) => { (this.queue ??= []).push({ rest: bytes, resolve, reject }); });
  }

  onDrain(): void {
    const q = this.queue;
    while (q !== null && q.length > 0) {
      const b = q[0];
      const n = this.socket.write(b.rest);
      if (n < 0) { this.onClose(new Error('The socket is closed')); return; }
      if (n < b.rest.length) { b.rest = b.rest.subarray(n); return; }
      q.shift();
      b.resolve();
    }
    this.queue = null;
    if (this.closing) this.close();
  }

  close(): void {
    this.closing = true;
    if (this.queue !== null || this.weEnded || this.gone) return;
    this.weEnded = true;
    // FIN after our last byte; the socket closes once the peer's FIN came too.
    if (this.peerEnded) this.socket.end();
    else this.socket.shutdown(true);
  }

  onEnd(): void {
    this.peerEnded = true;
    this.end();
    if (this.weEnded && !this.gone) this.socket.end();
  }

  onClose(error?: Error): void {
    this.gone = true;
    this.end(error ?? (this.peerEnded ? undefined : new Error('The socket is closed')));
    const q = this.queue;
    this.queue = null;
    if (q) for (const b of q) b.reject(error ?? new Error('The socket is closed'));
  }

  abort(): void {
    if (this.gone) return;
    this.gone = true;
    this.socket.terminate();
    this.end(new Error('aborted'));
  }

  private end(error?: unknown): void {
    if (!this.sink) { this.ended ??= { error }; return; }
    const sink = this.sink;
    this.sink = null;
    sink.onReadEnd(error);
  }
}

/** The socket as a ReadableStream and a WritableStream. */
class StreamsAdapter implements BytePair, SocketEvents {
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
      const pair = new SocketPair(socket);
      socket.data = pair;
      onOpen(pair);
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
  return pair ?? (socket.data as SocketPair);
}
