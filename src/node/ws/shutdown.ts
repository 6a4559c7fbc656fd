// wss.shutdown(): the graceful drain a deploy needs. An orchestrator (a
// Kubernetes rolling update, systemd, a load balancer) sends SIGTERM and
// SIGKILLs after a grace period; within it every peer is told 1001 Going Away
// (so it reconnects elsewhere), the close handshakes finish, HTTP/2 sessions
// carrying WebSockets get GOAWAY (RFC 8441: the peer opens its next stream on
// a new connection), and only the peers that never answer are cut off.
import { Buffer } from 'node:buffer';
import type { Http2Session, ServerHttp2Stream } from 'node:http2';
import { isValidCloseCode } from '../../codec/close.js';
import { h2StreamTransport } from '../transport/h2.js';
import type { WebSocket } from './websocket.js';
import type { CloseEvent } from './events.js';

export interface ShutdownOptions {
  /** The close code every connection gets (default 1001 Going Away: the peer may reconnect elsewhere). */
  code?: number;
  /**
   * The close reason (default 'Server shutting down'; at most 123 bytes of UTF-8), or a
   * function giving each connection its own when it is told (e.g. where to resume from:
   * RedisBroker.position()); a reason it gets wrong is dropped, the code still sent.
   */
  reason?: string | ((ws: WebSocket) => string);
  /**
   * Milliseconds from the call until connections still open are terminated
   * (default 10,000: a third of Kubernetes' default 30 s grace period).
   */
  timeout?: number;
  /**
   * Milliseconds over which the close frames go out, evenly, so the peers'
   * reconnects do not arrive at the next instance at once (default 0: all at
   * once). Must be below `timeout`; the last peer told has `timeout - spread` to answer.
   */
  spread?: number;
}

/** What the drain did: connections === closedCleanly + closedAbnormally + terminated. */
export interface ShutdownResult {
  /** Connections open (or closing) when the drain began. */
  connections: number;
  /** Closed with the close handshake done (both close frames) before the timeout. */
  closedCleanly: number;
  /** Closed before the timeout without the handshake (the peer reset or vanished, or the connection's own closeTimeout fired). */
  closedAbnormally: number;
  /** Still open at the timeout: terminated (TCP destroyed; RST_STREAM over HTTP/2). */
  terminated: number;
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

const DEFAULT_TIMEOUT = 10_000;
const DEFAULT_REASON = 'Server shutting down';
// A spread window is served by a timer at most every 10 ms: with 5,000
// connections over 2 s, batches of 25 close frames instead of a timer each. A
// batch costs ~2.5 ms (5,000 connections drained at once took 478 ms, close
// handshakes included: ~0.1 ms each), so the ramp stays even at this step.
const MIN_STEP_MS = 10;

interface Leaving {
  ws: WebSocket;
  /** The HTTP/2 session under it; null over TCP. */
  session: Http2Session | null;
  closed: boolean;
  /** Still open at the timeout, so we terminated it. */
  terminated: boolean;
}

/** Drains `clients` as ShutdownOptions says (README "Graceful shutdown"); throws on bad options before stopping anything. */
export function drain(clients: Iterable<WebSocket>, options: ShutdownOptions, hooks: DrainHooks): Promise<ShutdownResult> {
  const { code = 1001, reason = DEFAULT_REASON, timeout = DEFAULT_TIMEOUT, spread = 0 } = options;
  // Checked before anything stops: a bad option throws and the server runs on.
  if (!isValidCloseCode(code)) throw new TypeError(`Invalid close code: ${code}`);
  if (typeof reason === 'string' && Buffer.byteLength(reason) > 123) throw new RangeError('The close reason must not be longer than 123 bytes');
  if (!(timeout >= 0 && timeout < 2 ** 31)) throw new RangeError(`timeout must be 0 to 2^31-1 ms, not ${timeout}`);
  if (!(spread >= 0 && (spread === 0 || spread < timeout))) {
    throw new RangeError(`spread must be 0 or below timeout (${timeout} ms), not ${spread}`);
  }

  const started = performance.now();
  hooks.stopAccepting();
  const leaving = inSessionOrder(clients);
  const counts = { closedCleanly: 0, closedAbnormally: 0, terminated: 0, http2Sessions: 0 };
  let open = leaving.length;

  return new Promise<ShutdownResult>((resolve) => {
    let deadline: NodeJS.Timeout | null = null;
    let stepper: NodeJS.Timeout | null = null;
    const done = (): void => {
      if (deadline) clearTimeout(deadline);
      if (stepper) clearTimeout(stepper);
      void hooks.finish().then(() => resolve({
        connections: leaving.length, ...counts, durationMs: Math.round(performance.now() - started),
      }));
    };
    for (const l of leaving) {
      l.ws.addEventListener('close', (event) => {
        l.closed = true;
        if (l.terminated) counts.terminated++;
        else if ((event as CloseEvent).wasClean) counts.closedCleanly++;
        else counts.closedAbnormally++;
        if (--open === 0) done();
      }, { once: true });
    }
    if (open === 0) { done(); return; }

    // The peer at position i is told at i * spread / n ms.
    let next = 0;
    const sessionsLeft = new Set<Http2Session>();
    const tellDue = (): void => {
      stepper = null;
      const elapsed = performance.now() - started;
      while (next < leaving.length && (spread === 0 || (next * spread) / leaving.length <= elapsed)) {
        const l = leaving[next++]!;
        if (l.ws.readyState === 1 /* OPEN */) tell(l.ws, code, reason);
        // Last WebSocket of its session told: GOAWAY now. Earlier, it would make
        // the h2 layer close every socket on the session at once (h2.ts closeOnGoaway).
        const after = leaving[next];
        if (l.session && after?.session !== l.session && !l.session.closed && !l.session.destroyed) {
          counts.http2Sessions++;
          sessionsLeft.add(l.session);
          l.session.close(); // GOAWAY; the session ends once its streams have
        }
      }
      if (next < leaving.length) {
        const due = (next * spread) / leaving.length - (performance.now() - started);
        stepper = setTimeout(tellDue, Math.max(MIN_STEP_MS, due));
      }
    };
    tellDue();

    deadline = setTimeout(() => {
      deadline = null;
      if (stepper) { clearTimeout(stepper); stepper = null; }
      for (const l of leaving) {
        if (l.closed || l.ws.readyState === 3 /* CLOSED, its event on the way */) continue;
        l.terminated = true;
        l.ws.terminate();
      }
      for (const s of sessionsLeft) if (!s.destroyed) s.destroy();
    }, timeout);
  });
}

function tell(ws: WebSocket, code: number, reason: string | ((ws: WebSocket) => string)): void {
  let text: string;
  try {
    text = typeof reason === 'string' ? reason : String(reason(ws));
    if (Buffer.byteLength(text) > 123) text = '';
  } catch {
    text = '';
  }
  ws.close(code, text);
}

/** The connections, those sharing an HTTP/2 session next to each other (its GOAWAY follows the last). */
function inSessionOrder(clients: Iterable<WebSocket>): Leaving[] {
  const tcp: Leaving[] = [];
  const bySession = new Map<Http2Session, Leaving[]>();
  for (const ws of clients) {
    if (ws.readyState === 3 /* CLOSED */) continue;
    const session = ws._transport === h2StreamTransport ? (ws._socket as ServerHttp2Stream).session ?? null : null;
    const l: Leaving = { ws, session, closed: false, terminated: false };
    if (session === null) { tcp.push(l); continue; }
    const group = bySession.get(session);
    if (group) group.push(l); else bySession.set(session, [l]);
  }
  return tcp.concat(...bySession.values());
}
