// The graceful drain of every door (wss.shutdown, app.shutdown; README
// "Graceful shutdown"): each connection is told with a close frame, the frames
// spread evenly over a window so the peers' reconnects do not stampede the next
// instance, connections still open at the deadline are terminated, and how each
// one ended is counted. The door says how to tell, terminate and see a
// connection go; the options, the schedule and the counts are here, once.
import { isValidCloseCode } from '../codec/close.js';
import type { Timer } from './runtime.js';

export interface DrainOptions<C> {
  /** The close code every connection gets (default 1001 Going Away: the peer may reconnect elsewhere). */
  code?: number;
  /**
   * The close reason (default 'Server shutting down'; at most 123 bytes of UTF-8), or a
   * function giving each connection its own when it is told (e.g. where to resume from:
   * RedisBroker.position()); a reason it gets wrong is dropped, the code still sent.
   */
  reason?: string | ((c: C) => string);
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

/** How the connections ended: connections === closedCleanly + closedAbnormally + terminated. */
export interface DrainCounts {
  /** Connections open (or closing) when the drain began. */
  connections: number;
  /** Closed with the close handshake done (both close frames) before the timeout. */
  closedCleanly: number;
  /** Closed before the timeout without the handshake (the peer reset or vanished, or the connection's own close timeout fired). */
  closedAbnormally: number;
  /** Still open at the timeout: terminated. */
  terminated: number;
}

/** What the drain asks of a door about its connections. */
export interface DrainDoor<C> {
  /** Still open: worth a close frame. */
  isOpen(c: C): boolean;
  /** Sends the close frame (the close handshake follows). */
  tell(c: C, code: number, reason: string): void;
  /**
   * At the deadline: closes it without a handshake; its close is still reported
   * through gone(). False when it had closed already (its report is on the way).
   */
  terminate(c: C): boolean;
  /** The connection at `index` of the drain's order was just told. */
  told?(index: number): void;
  /** The deadline passed and every connection left was terminated. */
  atDeadline?(): void;
}

const DEFAULT_TIMEOUT = 10_000;
const DEFAULT_REASON = 'Server shutting down';
// A spread window is served by a timer at most every 10 ms: with 5,000
// connections over 2 s, batches of 25 close frames instead of a timer each. A
// batch costs ~2.5 ms (5,000 connections drained at once took 478 ms, close
// handshakes included: ~0.1 ms each), so the ramp stays even at this step.
const MIN_STEP_MS = 10;
const utf8 = new TextEncoder();

interface Settings<C> { code: number; reason: string | ((c: C) => string); timeout: number; spread: number }

/** The options with their defaults; throws on a bad one, so a door checks before it stops anything. */
export function drainSettings<C>(options: DrainOptions<C>): Settings<C> {
  const { code = 1001, reason = DEFAULT_REASON, timeout = DEFAULT_TIMEOUT, spread = 0 } = options;
  if (!isValidCloseCode(code)) throw new TypeError(`Invalid close code: ${code}`);
  if (typeof reason === 'string' && utf8.encode(reason).length > 123) throw new RangeError('The close reason must not be longer than 123 bytes');
  if (!(timeout >= 0 && timeout < 2 ** 31)) throw new RangeError(`timeout must be 0 to 2^31-1 ms, not ${timeout}`);
  if (!(spread >= 0 && (spread === 0 || spread < timeout))) {
    throw new RangeError(`spread must be 0 or below timeout (${timeout} ms), not ${spread}`);
  }
  return { code, reason, timeout, spread };
}

interface Leaving<C> { c: C; closed: boolean; terminated: boolean }

/**
 * One drain: the door hears each connection's close and reports it with gone(),
 * then calls start(); `counts` resolves when the last has gone.
 */
export class Drain<C> {
  readonly started = performance.now();
  readonly counts: Promise<DrainCounts>;
  private readonly leaving = new Map<C, Leaving<C>>();
  private readonly tally = { closedCleanly: 0, closedAbnormally: 0, terminated: 0 };
  private open: number;
  private finish!: (counts: DrainCounts) => void;
  private deadline: Timer | null = null;
  private stepper: Timer | null = null;
  private next = 0;

  /** `order`: the connections, in the order they are told. */
  constructor(private readonly order: readonly C[], private readonly settings: Settings<C>, private readonly door: DrainDoor<C>) {
    for (const c of order) this.leaving.set(c, { c, closed: false, terminated: false });
    this.open = order.length;
    this.counts = new Promise((resolve) => { this.finish = resolve; });
  }

  /** Tells the connections as the settings say and arms the deadline. */
  start(): this {
    if (this.open === 0) { this.end(); return this; }
    this.tellDue();
    this.deadline = setTimeout(() => this.atDeadline(), this.settings.timeout);
    return this;
  }

  /** `c` closed; `clean`: both close frames went. */
  gone(c: C, clean: boolean): void {
    const l = this.leaving.get(c);
    if (l === undefined || l.closed) return;
    l.closed = true;
    if (l.terminated) this.tally.terminated++;
    else if (clean) this.tally.closedCleanly++;
    else this.tally.closedAbnormally++;
    if (--this.open === 0) this.end();
  }

  // The connection at position i is told at i * spread / n ms.
  private tellDue(): void {
    this.stepper = null;
    const { order, settings } = this;
    const elapsed = performance.now() - this.started;
    while (this.next < order.length && (settings.spread === 0 || (this.next * settings.spread) / order.length <= elapsed)) {
      const i = this.next++;
      const l = this.leaving.get(order[i]!)!;
      if (!l.closed && this.door.isOpen(l.c)) this.door.tell(l.c, settings.code, this.reasonFor(l.c));
      this.door.told?.(i);
    }
    if (this.next < order.length) {
      const due = (this.next * settings.spread) / order.length - (performance.now() - this.started);
      this.stepper = setTimeout(() => this.tellDue(), Math.max(MIN_STEP_MS, due));
    }
  }

  private reasonFor(c: C): string {
    const { reason } = this.settings;
    try {
      const text = typeof reason === 'string' ? reason : String(reason(c));
      return utf8.encode(text).length > 123 ? '' : text;
    } catch {
      return '';
    }
  }

  private atDeadline(): void {
    this.deadline = null;
    if (this.stepper !== null) { clearTimeout(this.stepper); this.stepper = null; }
    for (const l of this.leaving.values()) {
      if (l.closed) continue;
      l.terminated = true; // before: a terminate may report gone() at once
      if (!this.door.terminate(l.c)) l.terminated = false;
    }
    this.door.atDeadline?.();
  }

  private end(): void {
    if (this.deadline !== null) clearTimeout(this.deadline);
    if (this.stepper !== null) clearTimeout(this.stepper);
    this.finish({ connections: this.order.length, ...this.tally });
  }
}
