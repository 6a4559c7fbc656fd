// The memory budget and the idle timeout for connections accepted through the
// Web Streams door (accept(), acceptConnection(): Deno, Bun, workerd, Node),
// with the Node server's defaults and close codes (src/core/budget.ts,
// src/core/heartbeat.ts). accept() is a function, not a server: connections
// accepted with the same limits share one budget and one heartbeat timer, as
// every connection of one Node server does.
import { MemoryBudget, defaultBudgetBytes } from '../core/budget.js';
import { Heartbeat } from '../core/heartbeat.js';

export interface LimitOptions {
  /**
   * Bytes all connections accepted with this limit may make the process hold
   * (messages arriving, sends queued for a peer not reading); past it the
   * biggest holder is closed, 1009 (incoming) or 1008 (not reading). Default:
   * a quarter of V8's heap limit, as the Node server. 0: count, never close.
   */
  maxBufferedBytes?: number;
  /** A budget of your own, shared with whatever else uses it (overrides maxBufferedBytes). */
  memoryBudget?: MemoryBudget;
  /**
   * ms; 0 (default) is off. A peer silent for a fifth of it is pinged; one
   * silent through four fifths is terminated; so is one whose queued sends
   * did not shrink for as long.
   */
  idleTimeout?: number;
}

const budgets = new Map<number, MemoryBudget>();
const heartbeats = new Map<number, Heartbeat>();
// Read once: Bun's getHeapStatistics() walks the heap (a call per accept made
// 10,000 handshakes take minutes).
let defaultLimit: number | undefined;

/** The budget of connections accepted with these options (one per distinct maxBufferedBytes). */
export function acceptBudget(options: LimitOptions = {}): MemoryBudget {
  if (options.memoryBudget) return options.memoryBudget;
  const limit = options.maxBufferedBytes ?? (defaultLimit ??= defaultBudgetBytes());
  let b = budgets.get(limit);
  if (b === undefined) budgets.set(limit, (b = new MemoryBudget(limit)));
  return b;
}

/** The heartbeat of connections accepted with this idleTimeout; null when off. */
export function acceptHeartbeat(options: LimitOptions = {}): Heartbeat | null {
  const ms = options.idleTimeout ?? 0;
  if (!(ms > 0)) return null;
  let h = heartbeats.get(ms);
  // unref: the listener, not our timer, keeps a server process alive.
  if (h === undefined) heartbeats.set(ms, (h = new Heartbeat(ms, true)));
  return h;
}
