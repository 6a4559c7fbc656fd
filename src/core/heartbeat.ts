// Idle timeout and heartbeat with one timer for all the connections it watches
// (a server's, or every client of the process with the same timeout). Any
// inbound bytes (a pong included) count as life: the read path only sets a
// flag. Ticks come every idleTimeout/5; each walks the connections: a peer
// silent through a tick gets a ping, one silent through four is terminated, so
// a dead peer is gone between 4/5 and 5/5 of idleTimeout after the last thing
// it sent, a live one has 3/5 of idleTimeout to answer (a busy process or
// peer needs that slack: 10,000 pongs behind a loaded event loop), and an idle
// healthy peer (or a browser, which answers pings by itself) stays.
//
// The same walk closes a peer that does not read: bytes queued for it that do
// not shrink for four ticks while waiting.
import { unrefTimer, type Timer } from './runtime.js';

/** What the heartbeat needs from a connection. */
export interface HeartbeatMember {
  /** Set by the read path on every read; cleared by the tick. */
  _heard: boolean;
  readonly readyState: number;
  ping(data?: undefined, mask?: undefined, cb?: (err?: Error | null) => void): void;
  terminate(): void;
  _backlog(): number;
}

// Per-connection tick state, kept here so the connection carries one flag.
interface Watch { silent: number; backlog: number; stalled: number }

const TICKS = 5;
const PING_AT = 1;
const DEAD_AT = 4;
const OPEN = 1;
const NOOP = (): void => {};

export interface HeartbeatStats {
  /** Peers terminated for silence. */
  idleTimeouts: number;
  /** Peers terminated because bytes queued for them did not shrink for idleTimeout. */
  stalledSends: number;
  /** Pings sent to silent peers. */
  pings: number;
}

export class Heartbeat {
  readonly idleTimeout: number;
  readonly stats: HeartbeatStats = { idleTimeouts: 0, stalledSends: 0, pings: 0 };
  /** Called when a peer is terminated ('idle' or 'stalled'). */
  onTimeout: ((member: HeartbeatMember, why: 'idle' | 'stalled') => void) | null = null;
  private readonly watched = new Map<HeartbeatMember, Watch>();
  private timer: Timer | null = null;
  private readonly unref: boolean;

  /** `unref`: the timer does not keep the process alive (clients). */
  constructor(idleTimeout: number, unref = false) {
    this.idleTimeout = idleTimeout;
    this.unref = unref;
  }

  get size(): number { return this.watched.size; }

  watch(m: HeartbeatMember): void {
    m._heard = false;
    this.watched.set(m, { silent: 0, backlog: 0, stalled: 0 });
    if (this.timer === null) {
      this.timer = setInterval(tick, Math.max(1, Math.floor(this.idleTimeout / TICKS)), this);
      if (this.unref) unrefTimer(this.timer);
    }
  }

  /** Stops the timer and forgets every connection (the server closed). */
  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.watched.clear();
  }

  /** One pass over the watched connections; closed ones are dropped here. */
  tick(): void {
    for (const [m, w] of this.watched) {
      if (m.readyState !== OPEN) {
        // Closed, or closing (which closeTimeout bounds already).
        this.watched.delete(m);
        continue;
      }
      const backlog = m._backlog();
      if (backlog > 0 && backlog >= w.backlog) w.stalled++;
      else w.stalled = 0;
      w.backlog = backlog;
      if (w.stalled >= DEAD_AT) {
        this.watched.delete(m);
        this.stats.stalledSends++;
        m.terminate();
        this.onTimeout?.(m, 'stalled');
        continue;
      }
      if (m._heard) {
        m._heard = false;
        w.silent = 0;
        continue;
      }
      w.silent++;
      if (w.silent === PING_AT) {
        this.stats.pings++;
        m.ping(undefined, undefined, NOOP);
      } else if (w.silent >= DEAD_AT) {
        this.watched.delete(m);
        this.stats.idleTimeouts++;
        m.terminate();
        this.onTimeout?.(m, 'idle');
      }
    }
    if (this.watched.size === 0 && this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }
}

function tick(h: Heartbeat): void { h.tick(); }

const clientHeartbeats = new Map<number, Heartbeat>();

/** The heartbeat shared by every client of the process with this idleTimeout (its timer does not hold the process open). */
export function clientHeartbeat(idleTimeout: number): Heartbeat {
  let h = clientHeartbeats.get(idleTimeout);
  if (h === undefined) {
    h = new Heartbeat(idleTimeout, true);
    clientHeartbeats.set(idleTimeout, h);
  }
  return h;
}
