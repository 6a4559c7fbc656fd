// Node only: the App's platform. Connections on Node's TCP handles
// (node-tcp.ts), or on net.Server (node-net.ts) where those are missing, for a
// host name that is not an IP address, or when asked (WASMSOCKET_APP_TRANSPORT=net,
// or setAppTransport('net') in tests); the accept value from node:crypto.
import process from 'node:process';
import * as crypto from 'node:crypto';
import { isIP } from 'node:net';
import type { Platform } from './app.js';
import { listenTcp, tcpHandlesAvailable } from './node-tcp.js';
import { listenNet } from './node-net.js';
import { holdPort, portFree } from './node-reuseport.js';
import type { Acceptor } from './acceptor.js';
import { nodeCompressor } from './node-deflate.js';
import { flushReadsAtTurnEnd } from './wire.js';
import { useLargeAllocator } from './lend.js';
import { Buffer } from 'node:buffer';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
// crypto.hash (Node >= 20.12) hashes in one call without a Hash object.
const oneShotHash = (crypto as { hash?: (alg: string, data: string, enc: 'base64') => string }).hash;

useLargeAllocator((n) => Buffer.allocUnsafeSlow(n));

// Reads' writes leave once per loop turn (wire.ts); WASMSOCKET_APP_FLUSH=read sends them per read (to compare).
flushReadsAtTurnEnd(process.env.WASMSOCKET_APP_FLUSH !== 'read');

let transport: 'tcp' | 'net' = process.env.WASMSOCKET_APP_TRANSPORT === 'net' ? 'net' : 'tcp';

/** @internal Which listener new listen() calls use (tests run both). */
export function setAppTransport(t: 'tcp' | 'net'): void { transport = t; }

/** @internal Whether listen() would use Node's TCP handles now. */
export function usesTcpHandles(host?: string): boolean {
  return transport === 'tcp' && tcpHandlesAvailable() && (host === undefined || host === '' || host === 'localhost' || isIP(host) !== 0);
}

export const nodePlatform: Platform = {
  listen(req, cb) {
    // A port this thread listens on already is refused; other threads may share it (node-reuseport.ts).
    if (!portFree(req.port)) { cb(new Error(`port ${req.port} is in use by this thread`)); return; }
    const held = (a: Acceptor | Error): void => { cb(a instanceof Error ? a : releasing(a, holdPort(a.port))); };
    if (!usesTcpHandles(req.host)) { listenNet(req, held); return; }
    const r = listenTcp(req);
    held(typeof r === 'number' ? new Error(`listen failed (${r})`) : r);
  },
  acceptKey(key) {
    if (oneShotHash !== undefined) return oneShotHash('sha1', key + GUID, 'base64');
    return crypto.createHash('sha1').update(key + GUID).digest('base64');
  },
  compressor: (pmd, sharedCompressor, maxPayload) => appZlib ? nodeCompressor(pmd, sharedCompressor, maxPayload) : null,
};

// WASMSOCKET_APP_DEFLATE=codec keeps the codec's portable deflate on Node (to compare the engines).
let appZlib = process.env.WASMSOCKET_APP_DEFLATE !== 'codec';

/** @internal Which engine new connections compress with (tests run both). */
export function setAppDeflate(engine: 'zlib' | 'codec'): void { appZlib = engine === 'zlib'; }

// The acceptor, releasing this thread's hold on its port when it closes.
function releasing(a: Acceptor, release: () => void): Acceptor {
  return { port: a.port, close() { release(); a.close(); } };
}
