// wss.shutdown(): the graceful drain a deploy needs. An orchestrator (a
// Kubernetes rolling update, systemd, a load balancer) sends SIGTERM and
// SIGKILLs after a grace period; within it every peer is told 1001 Going Away
// (so it reconnects elsewhere), the close handshakes finish, HTTP/2 sessions
// carrying WebSockets get GOAWAY (RFC 8441: the peer opens its next stream on
// a new connection), and only the peers that never answer are cut off.
// The schedule and the counts are src/core/drain.ts's (app.shutdown uses it too);
// this file adds what is Node's: the HTTP/2 sessions and their GOAWAY.
import type { Http2Session, ServerHttp2Stream } from 'node:http2';
import { Drain, drainSettings, type DrainCounts, type DrainOptions } from '../../core/drain.js';
import { h2StreamTransport } from '../transport/h2.js';
import type { WebSocket } from './websocket.js';
import type { CloseEvent } from './events.js';

/** wss.shutdown()'s options (src/core/drain.ts: code, reason, timeout, spread). */
export type ShutdownOptions = DrainOptions<WebSocket>;

/** What the drain did: connections === closedCleanly + closedAbnormally + terminated. */
export interface ShutdownResult extends DrainCounts {
  /** HTTP/2 sessions sent GOAWAY (each once the last WebSocket on it was told to close). */
  http2Sessions: number;
  /** From the call until the last connection closed and the broker stopped (ms). */
  durationMs: number;
}

/** What the server does around the drain (server.ts). */
export interface DrainHooks {
  /** Refuse new handshakes (503) and stop listening on a server we created. */
  stopAccepting(): void;
  /** Once every connection is gone: release the server and stop the broker (resolves when it has). */
  finish(): Promise<void>;
}

/** Drains `clients` as ShutdownOptions says (README "Graceful shutdown"); throws on bad options before stopping anything. */
export function drain(clients: Iterable<WebSocket>, options: ShutdownOptions, hooks: DrainHooks): Promise<ShutdownResult> {
  const settings = drainSettings(options); // a bad option throws here and the server runs on
  hooks.stopAccepting();
  const order = inSessionOrder(clients);
  const sessions = order.map((ws) => sessionOf(ws));
  const sessionsLeft = new Set<Http2Session>();
  const d: Drain<WebSocket> = new Drain(order, settings, {
    isOpen: (ws) => ws.readyState === 1 /* OPEN */,
    tell: (ws, code, reason) => ws.close(code, reason),
    terminate: (ws) => {
      if (ws.readyState === 3 /* CLOSED, its event on the way */) return false;
      ws.terminate();
      return true;
    },
    // Last WebSocket of its session told: GOAWAY now. Earlier, it would make
    // the h2 layer close every socket on the session at once (h2.ts closeOnGoaway).
    told: (i) => {
      const session = sessions[i];
      if (session && sessions[i + 1] !== session && !session.closed && !session.destroyed) {
        sessionsLeft.add(session);
        session.close(); // GOAWAY; the session ends once its streams have
      }
    },
    atDeadline: () => { for (const s of sessionsLeft) if (!s.destroyed) s.destroy(); },
  });
  for (const ws of order) ws.addEventListener('close', (event) => d.gone(ws, (event as CloseEvent).wasClean), { once: true });
  return d.start().counts.then(async (counts) => {
    await hooks.finish();
    return { ...counts, http2Sessions: sessionsLeft.size, durationMs: Math.round(performance.now() - d.started) };
  });
}

function sessionOf(ws: WebSocket): Http2Session | null {
  return ws._transport === h2StreamTransport ? (ws._socket as ServerHttp2Stream).session ?? null : null;
}

/** The connections still open, those sharing an HTTP/2 session next to each other (its GOAWAY follows the last). */
function inSessionOrder(clients: Iterable<WebSocket>): WebSocket[] {
  const tcp: WebSocket[] = [];
  const bySession = new Map<Http2Session, WebSocket[]>();
  for (const ws of clients) {
    if (ws.readyState === 3 /* CLOSED */) continue;
    const session = sessionOf(ws);
    if (session === null) { tcp.push(ws); continue; }
    const group = bySession.get(session);
    if (group) group.push(ws); else bySession.set(session, [ws]);
  }
  return tcp.concat(...bySession.values());
}
