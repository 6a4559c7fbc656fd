// A byte budget shared by many connections: the bytes peers make us hold
// (messages still arriving, inflation in progress, sends queued for a peer that
// does not read), summed over every connection of a server, or of all clients of
// the process. maxPayload bounds one connection; this bounds the process: past
// the limit the connection holding the most is closed, the others carry on.
//
// Cost: incoming bytes are charged once per socket read (a subtraction and a
// compare), never per message. Queued sends change inside Node's stream where
// we cannot see them cheaply, so they are summed by one sweep per budget every
// SWEEP_MS, and when a small holder tips the total over the limit.
import { heapLimitBytes, unrefTimer, type Timer } from './runtime.js';

/** What a budget needs from a connection. */
export interface BudgetMember {
  /** Incoming bytes charged to the budget so far (owned by the budget). */
  _budgetHeld: number;
  /** Incoming bytes held right now: a message arriving, one inflating. */
  _incomingBytes(): number;
  /** Bytes queued for sending right now. */
  _backlog(): number;
  /** Closes the connection for the budget (1009: incoming, 1008: outgoing); releases what it holds. */
  _budgetClose(code: number, reason: string): void;
}

export interface BudgetEvent {
  /** Bytes the closed connection held, incoming and queued for sending. */
  incoming: number;
  outgoing: number;
  /** The budget's total and limit when it fired. */
  total: number;
  limit: number;
  /** The close code used: 1009 for incoming bytes, 1008 for a peer not reading. */
  code: number;
}

// Queued sends are re-summed this often. A peer that does not read grows them
// only as fast as the application sends; broadcast stops at maxBackpressure
// (1 MiB per socket by default) and the heartbeat's stalled-send check closes
// a peer that takes nothing for idleTimeout.
const SWEEP_MS = 1000;

// A connection holding at least this share of the limit when its read crosses
// it is closed without looking further: the scan for the biggest holder is
// O(connections) (~1-2 ms at 100,000), and a peer that announces a huge frame
// on each new connection must not buy one scan per handshake. A smaller asker
// (a legitimate message in flight) makes us find and close the biggest holder.
const BIG_ASKER = 1 / 64;

/**
 * The default limit: a quarter of V8's heap limit (4 GiB heap on a 16 GiB+
 * machine gives 1 GiB). Buffers live outside the V8 heap, but the heap limit is
 * what Node sizes from the machine's memory (or --max-old-space-size), so it is
 * the process's own statement of how much memory it expects to use; a quarter
 * leaves the rest to the application.
 */
export function defaultBudgetBytes(): number {
  return Math.floor(heapLimitBytes() / 4);
}

export class MemoryBudget {
  /** Bytes allowed; 0 or Infinity turns enforcement off (the bytes are still counted). */
  limit: number;
  /** Incoming bytes held now (messages arriving, inflating), kept current at every read. */
  incoming = 0;
  /** Queued sends at the last sweep. */
  outgoing = 0;
  /** Connections closed by this budget. */
  closes = 0;
  /** Called after a connection was closed for the budget. */
  onExceeded: ((member: BudgetMember, event: BudgetEvent) => void) | null = null;
  private readonly members = new Set<BudgetMember>();
  private timer: Timer | null = null;
  private enforcing = false;

  constructor(limit: number = defaultBudgetBytes()) {
    this.limit = limit > 0 ? limit : Infinity;
  }

  /** Bytes held in all: incoming now plus queued sends as last summed. */
  get total(): number { return this.incoming + this.outgoing; }

  get size(): number { return this.members.size; }

  join(m: BudgetMember): void {
    m._budgetHeld = 0;
    this.members.add(m);
    if (this.timer === null) {
      this.timer = setInterval(sweep, SWEEP_MS, this);
      unrefTimer(this.timer);
    }
  }

  /** The connection is over: what it held is released. */
  leave(m: BudgetMember): void {
    if (!this.members.delete(m)) return;
    this.incoming -= m._budgetHeld;
    m._budgetHeld = 0;
    if (this.members.size === 0) this.outgoing = 0;
  }

  /** A read changed what `m` holds to `held` incoming bytes. */
  charge(m: BudgetMember, held: number): void {
    this.incoming += held - m._budgetHeld;
    m._budgetHeld = held;
    if (this.incoming + this.outgoing > this.limit) this.enforce(m);
  }

  /** Re-sums queued sends over every member, then enforces the limit. */
  sweep(): void {
    // The timer stops at a sweep that finds no one, not at the last leave():
    // under connection churn (setup bench: 16 at a time) the member count
    // touches 0 constantly, and a setInterval per join was 15% of the profile.
    if (this.members.size === 0 && this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
      return;
    }
    this.resum();
    if (this.total > this.limit) this.enforce(null);
  }

  // Exact totals from every member: queued sends, and incoming bytes that grew
  // between reads (inflation output).
  private resum(): void {
    this.incoming = this.outgoing = 0;
    // forEach, not for-of: a loop that runs once a second stays in the interpreter, where
    // for-of made an iterator result per member (10,000 idle App sockets: 400 KB of garbage a
    // second, bench/profile's heap sampling).
    this.members.forEach(addUp, this);
  }

  // Closes holders until the total is back under the limit: a big asker
  // first (BIG_ASKER), then the biggest holders; the one that asked is chosen
  // over an equal holder.
  private enforce(asker: BudgetMember | null): void {
    if (this.enforcing) return;
    this.enforcing = true;
    try {
      if (asker !== null && asker._budgetHeld >= this.limit * BIG_ASKER) {
        this.evict(asker, asker._budgetHeld, asker._backlog());
        if (this.total <= this.limit) return;
        asker = null;
      }
      this.resum();
      while (this.total > this.limit && this.members.size > 0) {
        let worst: BudgetMember | null = null;
        let worstIn = 0, worstOut = 0;
        if (asker !== null && this.members.has(asker)) {
          worst = asker; worstIn = asker._budgetHeld; worstOut = asker._backlog();
        }
        for (const m of this.members) {
          if (m === asker) continue;
          const inc = m._budgetHeld, out = m._backlog();
          if (inc + out > worstIn + worstOut) { worst = m; worstIn = inc; worstOut = out; }
        }
        if (worst === null || worstIn + worstOut === 0) break;
        this.evict(worst, worstIn, worstOut);
        asker = null;
      }
    } finally {
      this.enforcing = false;
    }
  }

  private evict(m: BudgetMember, incoming: number, outgoing: number): void {
    const code = incoming >= outgoing ? 1009 : 1008;
    const event: BudgetEvent = { incoming, outgoing, total: this.total, limit: this.limit, code };
    this.members.delete(m);
    this.incoming -= m._budgetHeld;
    m._budgetHeld = 0;
    this.outgoing = Math.max(0, this.outgoing - outgoing);
    this.closes++;
    m._budgetClose(code, code === 1009 ? 'Server memory budget exceeded' : 'Peer is not reading');
    this.onExceeded?.(m, event);
    evictionObserver?.(m, event);
  }
}

let evictionObserver: ((member: BudgetMember, event: BudgetEvent) => void) | null = null;

/**
 * Hears every close made by any budget of this process, whoever owns the
 * budget (onExceeded belongs to the owner): the Node door publishes them on
 * diagnostics_channel (src/node/ws/diagnostics.ts). One observer; null removes it.
 */
export function observeBudgetCloses(observer: ((member: BudgetMember, event: BudgetEvent) => void) | null): void {
  evictionObserver = observer;
}

function sweep(b: MemoryBudget): void { b.sweep(); }

function addUp(this: MemoryBudget, m: BudgetMember): void {
  const held = m._incomingBytes();
  m._budgetHeld = held;
  this.incoming += held;
  this.outgoing += m._backlog();
}

let clientBudget: MemoryBudget | null = null;

/** The budget every client connection of this process shares (created on first use). */
export function clientMemoryBudget(): MemoryBudget {
  return (clientBudget ??= new MemoryBudget());
}
