// Any Duplex handed to handleUpgrade (a test pair, a tunnel, an in-process
// stream): only stream methods, nothing net.Socket-specific assumed.
import type { Duplex } from 'node:stream';
import type { Transport } from './transport.js';

export const duplexTransport: Transport = {
  open(): void {},
  end(stream: Duplex): void { if (!stream.writableEnded) stream.end(); },
  fail(stream: Duplex): void { if (!stream.writableEnded) stream.end(); },
  abort(stream: Duplex): void { stream.destroy(); },
};
