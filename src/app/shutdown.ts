// app.shutdown(): the graceful drain of wss.shutdown (src/node/ws/shutdown.ts,
// README "Graceful shutdown") for the App door. A deploy sends SIGTERM and
// kills after a grace period; within it every WebSocket is told 1001 Going
// Away (spread over a window so reconnects ramp up at the next instance), the
// close handshakes finish, and only the peers that never answer are cut off.
// Same options and result as wss.shutdown; the App has no HTTP/2, so
// http2Sessions is always 0. No Node imports: every runtime's App drains alike.
import { isValidCloseCode } from '../codec/close.js';
import { OPEN } from '../core/protocol.js';
import type { WebSocket } from './websocket.js';

export interface AppShutdownOptions {
  /** The close code every WebSocket gets (default 1001 Going Away). */
  code?: number;
  /** The close reason (default 'Server shutting down', at most 123 bytes of UTF-8), or one per socket; a bad one is dropped, the code still sent. */
  reason?: string | ((ws: WebSocket) => string);
  /** Milliseconds from the call until sockets still open are terminated (default 10,000). */
  timeout?: number;
  /** Milliseconds over which the close frames go out, evenly (default 0: all at once); below `timeout`. */
  spread?: number;
}

/** What the drain did: connections === closedCleanly + closedAbnormally + terminated. */
export interface AppShutdownResult {
  /** WebSockets open (or closing) when the drain began. */
  connections: number;
  /** Closed with both close frames exchanged before the timeout. */
  closedCleanly: number;
  /** Closed before the timeout without the handshake (a reset, or a peer closing the TCP connection first). */
  closedAbnormally: number;
  /** Still open at the timeout: closed without a close frame. */
  terminated: number;
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

const DEFAULT_TIMEOUT = 10_000;
const DEFAULT_REASON = 'Server shutting down';
// As wss.shutdown: a spread window is served by a timer at most every 10 ms
// (5,000 sockets over 2 s: batches of 25 close frames, not a timer each).
const MIN_STEP_MS = 10;
const utf8Length = (s: string): number => new TextEncoder().encode(s).byteLength;

interface Leaving { ws: WebSocket; closed: boolean; terminated: boolean }

/** Drains `sockets` as the options say; throws on bad options before stopping anything. */
export function drainApp(sockets: Iterable<WebSocket>, options: AppShutdownOptions, hooks: AppDrainHooks): Promise<AppShutdownResult> {
  const { code = 1001, reason = DEFAULT_REASON, timeout = DEFAULT_TIMEOUT, spread = 0 } = options;
  if (!isValidCloseCode(code)) throw new TypeError(`Invalid close code: ${code}`);
  if (typeof reason === 'string' && utf8Length(reason) > 123) throw new RangeError('The close reason must not be longer than 123 bytes');
  if (!(timeout >= 0 && timeout < 2 ** 31)) throw new RangeError(`timeout must be 0 to 2^31-1 ms, not ${timeout}`);
  if (!(spread >= 0 && (spread === 0 || spread < timeout))) {
    throw new RangeError(`spread must be 0 or below timeout (${timeout} ms), not ${spread}`);
  }

  const started = performance.now();
  hooks.stopAccepting();
  const leaving = new Map<WebSocket, Leaving>();
  for (const ws of sockets) leaving.set(ws, { ws, closed: false, terminated: false });
  const order = [...leaving.values()];
  const counts = { closedCleanly: 0, closedAbnormally: 0, terminated: 0 };
  let open = order.length;

  return new Promise<AppShutdownResult>((resolve) => {
    let deadline: ReturnType<typeof setTimeout> | null = null;
    let stepper: ReturnType<typeof setTimeout> | null = null;
    const done = (): void => {
      if (deadline !== null) clearTimeout(deadline);
      if (stepper !== null) clearTimeout(stepper);
      hooks.onGone(null);
      void hooks.finish().then(() =>
        resolve({ connections: order.length, ...counts, http2Sessions: 0, durationMs: Math.round(performance.now() - started) }));
    };
    hooks.onGone((ws) => {
      const l = leaving.get(ws);
      if (l === undefined || l.closed) return;
      l.closed = true;
      // Clean: the peer's close frame came and ours went (end() sent it, or the core echoed the peer's).
      if (l.terminated) counts.terminated++;
      else if (ws._protocol.closeReceived) counts.closedCleanly++;
      else counts.closedAbnormally++;
      if (--open === 0) done();
    });
    if (open === 0) { done(); return; }

    // The socket at position i is told at i * spread / n ms.
    let next = 0;
    const tellDue = (): void => {
      stepper = null;
      const elapsed = performance.now() - started;
      while (next < order.length && (spread === 0 || (next * spread) / order.length <= elapsed)) {
        const l = order[next++]!;
        if (!l.closed && !l.ws._closed && l.ws._protocol.state === OPEN) tell(l.ws, code, reason);
      }
      if (next < order.length) {
        const due = (next * spread) / order.length - (performance.now() - started);
        stepper = setTimeout(tellDue, Math.max(MIN_STEP_MS, due));
      }
    };
    tellDue();

    deadline = setTimeout(() => {
      deadline = null;
      if (stepper !== null) { clearTimeout(stepper); stepper = null; }
      for (const l of order) {
        if (l.closed) continue;
        l.terminated = true;
        l.ws._wire.close(); // its transport close reports it (onGone) as terminated
      }
    }, timeout);
  });
}

function tell(ws: WebSocket, code: number, reason: string | ((ws: WebSocket) => string)): void {
  let text: string;
  try {
    text = typeof reason === 'string' ? reason : String(reason(ws));
    if (utf8Length(text) > 123) text = '';
  } catch {
    text = '';
  }
  ws.end(code, text); // runs the close handler now, as uWS.js's end() does
}
