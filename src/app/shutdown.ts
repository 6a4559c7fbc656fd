// app.shutdown(): the graceful drain of wss.shutdown (src/node/ws/shutdown.ts,
// README "Graceful shutdown") for the App door. A deploy sends SIGTERM and
// kills after a grace period; within it every WebSocket is told 1001 Going
// Away (spread over a window so reconnects ramp up at the next instance), the
// close handshakes finish, and only the peers that never answer are cut off.
// Same options and result as wss.shutdown, on the same drain (src/core/drain.ts:
// the schedule and the counts); the App has no HTTP/2, so http2Sessions is
// always 0. No Node imports: every runtime's App drains alike.
import { OPEN } from '../core/protocol.js';
import { Drain, drainSettings, type DrainCounts, type DrainOptions } from '../core/drain.js';
import type { WebSocket } from './websocket.js';

/** app.shutdown()'s options: wss.shutdown's (src/core/drain.ts: code, reason, timeout, spread). */
export type AppShutdownOptions = DrainOptions<WebSocket>;

/** What the drain did: connections === closedCleanly + closedAbnormally + terminated. */
export interface AppShutdownResult extends DrainCounts {
  /** Always 0: the App door has no HTTP/2 (kept so the result reads as wss.shutdown's). */
  http2Sessions: number;
  /** From the call until the last socket closed and the broker stopped (ms). */
  durationMs: number;
}

/** What the App does around the drain (app.ts). */
export interface AppDrainHooks {
  /** Stop listening and answer upgrades 503 from now on. */
  stopAccepting(): void;
  /** Hear each socket's transport close from now on (null: stop). */
  onGone(listener: ((ws: WebSocket) => void) | null): void;
  /** Every socket is gone: close what is left (plain HTTP connections), and the broker last (resolves once it has stopped). */
  finish(): Promise<void>;
}

/** Drains `sockets` as the options say; throws on bad options before stopping anything. */
export function drainApp(sockets: Iterable<WebSocket>, options: AppShutdownOptions, hooks: AppDrainHooks): Promise<AppShutdownResult> {
  const settings = drainSettings(options);
  hooks.stopAccepting();
  const d: Drain<WebSocket> = new Drain([...sockets], settings, {
    isOpen: (ws) => !ws._closed && ws._protocol.state === OPEN,
    tell: (ws, code, reason) => ws.end(code, reason), // runs the close handler now, as uWS.js's end() does
    terminate: (ws) => { ws._wire.close(); return true; }, // its transport close reports it (onGone)
  });
  // Clean: the peer's close frame came and ours went (end() sent it, or the core echoed the peer's).
  hooks.onGone((ws) => d.gone(ws, ws._protocol.closeReceived));
  return d.start().counts.then(async (counts) => {
    hooks.onGone(null);
    await hooks.finish();
    return { ...counts, http2Sessions: 0, durationMs: Math.round(performance.now() - d.started) };
  });
}
