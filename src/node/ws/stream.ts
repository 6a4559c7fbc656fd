// createWebSocketStream: a Duplex over a WebSocket, with ws's semantics.
// Messages become chunks (text as strings in readable object mode); written
// chunks become messages. Backpressure: the socket is paused while the readable
// side is full. The stream is destroyed once both sides are done; destroying it
// terminates the connection; connection errors are re-emitted on the stream.
import process from 'node:process';
import { Duplex, type DuplexOptions } from 'node:stream';
import type { WebSocket } from './websocket.js';

export function createWebSocketStream(ws: WebSocket, options?: DuplexOptions): Duplex {
  let terminateOnDestroy = true;
  // The caller's options reach the Duplex (encoding, allowHalfOpen, highWaterMark,
  // readableObjectMode...); what the stream needs to work is not overridable.
  const duplex = new Duplex({ ...options, autoDestroy: false, emitClose: false, objectMode: false, writableObjectMode: false });

  ws.on('message', (msg: Buffer, isBinary: boolean) => {
    const data = !isBinary && duplex.readableObjectMode ? msg.toString() : msg;
    if (!duplex.push(data)) ws.pause();
  });
  ws.once('error', (err: Error) => {
    if (duplex.destroyed) return;
    // The connection is failing on its own: destroying the stream need not terminate it.
    terminateOnDestroy = false;
    duplex.destroy(err);
  });
  ws.once('close', () => {
    if (duplex.destroyed) return;
    duplex.push(null);
  });

  // emitClose is off: 'close' is emitted once the connection has closed.
  duplex._destroy = (err, callback) => {
    if (ws.readyState === ws.CLOSED) {
      callback(err);
      process.nextTick(emitClose, duplex);
      return;
    }
    let called = false;
    ws.once('error', (e: Error) => { called = true; callback(e); });
    ws.once('close', () => {
      if (!called) callback(err);
      process.nextTick(emitClose, duplex);
    });
    if (terminateOnDestroy) ws.terminate();
  };

  duplex._final = (callback) => {
    if (ws.readyState === ws.CONNECTING) {
      ws.once('open', () => duplex._final(callback));
      return;
    }
    const socket = ws._socket;
    if (socket === null) return; // the handshake failed: 'error' destroys the stream
    if (socket.writableFinished) {
      callback();
      if (duplex.readableEnded) duplex.destroy();
    } else {
      socket.once('finish', () => callback());
      ws.close();
    }
  };

  duplex._read = () => {
    if (ws.isPaused) ws.resume();
  };

  duplex._write = (chunk, encoding, callback) => {
    if (ws.readyState === ws.CONNECTING) {
      ws.once('open', () => duplex._write(chunk, encoding, callback));
      return;
    }
    ws.send(chunk, callback);
  };

  duplex.on('end', onEnd);
  duplex.on('error', onError);
  return duplex;
}

function emitClose(stream: Duplex): void {
  stream.emit('close');
}

function onEnd(this: Duplex): void {
  if (!this.destroyed && this.writableFinished) this.destroy();
}

// Destroys the stream on its first error; with no other 'error' listener the
// error is emitted again, so it throws as an unhandled 'error' would.
function onError(this: Duplex, err: Error): void {
  this.removeListener('error', onError);
  this.destroy();
  if (this.listenerCount('error') === 0) this.emit('error', err);
}
