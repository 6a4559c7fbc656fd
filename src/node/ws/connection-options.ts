// What a connection of the ws door is opened with, by the server (upgrade) and
// the client (handshake) alike; below websocket.ts, server.ts and client.ts so
// that none of them imports another for it.
import type { Buffer } from 'node:buffer';
import { DEFAULT_CLOSE_TIMEOUT } from '../../core/protocol.js';
import type { MemoryBudget } from '../../core/budget.js';
import type { Heartbeat } from '../../core/heartbeat.js';

/** Default close timeout: how long we wait for the peer's close frame / TCP close (ws's 30 s). */
export const CLOSE_TIMEOUT = DEFAULT_CLOSE_TIMEOUT;

export interface ConnectionOptions {
  /** Client only: fills each frame's 4-byte masking key (ws's `generateMask`). */
  generateMask?: (mask: Buffer) => void;
  maxPayload: number;
  skipUTF8Validation: boolean;
  autoPong: boolean;
  closeTimeout: number;
  allowSynchronousEvents?: boolean;
  /** The byte budget this connection's held bytes count against (budget.ts). */
  budget?: MemoryBudget | null;
  /** The idle timeout / heartbeat watching this connection (heartbeat.ts). */
  heartbeat?: Heartbeat | null;
}
