// createWebSocketStream: a Duplex over a WebSocket, as in ws. Messages become
// chunks; written chunks become messages. Backpressure: the socket is paused
// while the readable side is full.
import { Duplex, type DuplexOptions } from 'node:stream';
import type { WebSocket } from './websocket.js';

export function createWebSocketStream(ws: WebSocket, options: DuplexOptions = {}): Duplex {
  let terminateOnDestroy = true;
  const duplex = new Duplex({
    ...options,
    autoDestroy: false,
    emitClose: false,
    objectMode: false,
    writableObjectMode: false,
    read() {
      if (ws.isPaused) ws.resume();
    },
    write(chunk: Buffer, _enc, cb) {
      if (ws.readyState === ws.CONNECTING) {
        ws.once('open', () => duplex._write(chunk, _enc, cb));
        return;
      }
      ws.send(chunk, cb);
    },
    final(cb) {
      if (ws.readyState === ws.CONNECTING) {
        ws.once('open', () => duplex._final(cb));
        return;
      }
      if (ws.readyState === ws.CLOSED) { cb(); return; }
      ws.once('close', () => cb());
      ws.close();
    },
    // emitClose is off (as in ws), so 'close' is emitted here once the socket is closed.
    destroy(err, cb) {
      if (ws.readyState === ws.CLOSED) { cb(err); process.nextTick(emitClose, duplex); return; }
      let called = false;
      ws.once('error', (e: Error) => { called = true; cb(e); });
      ws.once('close', () => { if (!called) cb(err); process.nextTick(emitClose, duplex); });
      if (terminateOnDestroy) ws.terminate();
    },
  });

  ws.on('message', (msg: Buffer | string, isBinary: boolean) => {
    const data = !isBinary && duplex.readableObjectMode ? msg.toString() : msg;
    if (!duplex.push(data)) ws.pause();
  });
  ws.once('error', (err: Error) => {
    if (duplex.destroyed) return;
    terminateOnDestroy = false;
    duplex.destroy(err);
  });
  ws.once('close', () => {
    if (duplex.destroyed) return;
    duplex.push(null);
  });
  duplex.on('end', () => { if (!duplex.writable || duplex.writableFinished) duplex.destroy(); });
  duplex.on('error', () => {});
  return duplex;
}

function emitClose(stream: Duplex): void {
  stream.emit('close');
}
