// The messages of the diagnostics_channel events (diagnostics.ts), typed for
// subscribers: `subscribe('wasmsocket:server:close', (m) => { const { code } = m as ServerCloseMessage; })`.
// Types only, apart from diagnostics.ts (which server.ts imports), so the
// server's type can appear here without an import cycle.
import type { Buffer } from 'node:buffer';
import type { IncomingMessage } from 'node:http';
import type { BudgetEvent } from '../../core/budget.js';
import type { HandshakeRate } from './rate-limit.js';
import type { WebSocketServer } from './server.js';
import type { WebSocket } from './websocket.js';

/** wasmsocket:server:open */
export interface ServerOpenMessage { server: WebSocketServer; websocket: WebSocket; request: IncomingMessage; address: string | undefined }

/** wasmsocket:server:close (`reason` as the 'close' event gives it) */
export interface ServerCloseMessage { server: WebSocketServer; websocket: WebSocket; code: number; reason: Buffer }

/** wasmsocket:server:handshakeRefused */
export interface HandshakeRefusedMessage {
  server: WebSocketServer;
  request: IncomingMessage;
  status: number;
  reason: 'origin' | 'no-origin' | 'max-connections' | 'max-connections-per-address' | 'handshake-rate' |
    'verify-client' | 'invalid-handshake' | 'shutting-down';
  address: string | undefined;
  /** What was wrong with an invalid handshake. */
  message?: string;
}

/** wasmsocket:server:limitHit (`value`: the limit as configured) */
export interface LimitHitMessage {
  server: WebSocketServer;
  request: IncomingMessage;
  limit: 'maxConnections' | 'maxConnectionsPerAddress' | 'handshakeRate';
  value: number | HandshakeRate;
  address: string;
}

/** wasmsocket:server:idleTimeout */
export interface IdleTimeoutMessage { server: WebSocketServer; websocket: WebSocket; why: 'idle' | 'stalled' }

/** wasmsocket:budget:close (any Node connection a memory budget closed) */
export interface BudgetCloseMessage extends BudgetEvent { websocket: WebSocket }
