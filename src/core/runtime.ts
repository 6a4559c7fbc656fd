// What the core needs from its runtime, without importing Node: timers that do
// not hold the process open, and the heap limit the budget's default is sized
// from. Node, Deno and Bun all answer through `process` (Deno 2 and Bun expose
// Node's `process.getBuiltinModule`); workerd and browsers get the fallbacks.

export type Timer = ReturnType<typeof setInterval>;

interface RuntimeGlobals {
  process?: { getBuiltinModule?: (id: string) => { getHeapStatistics?: () => { heap_size_limit: number } } | undefined };
  Deno?: { unrefTimer?: (id: number) => void };
}
const g = globalThis as unknown as RuntimeGlobals;

/** Lets the timer not keep the process alive (Node/Bun: unref(); Deno: Deno.unrefTimer). */
export function unrefTimer(t: Timer): void {
  if (typeof t === 'object' && t !== null && typeof (t as { unref?: () => void }).unref === 'function') (t as { unref: () => void }).unref();
  else if (typeof t === 'number') g.Deno?.unrefTimer?.(t);
}

// Where no heap limit can be read (workerd's isolates are capped at 128 MiB,
// browsers do not say): 256 MiB, so the budget's default (a quarter) is 64 MiB,
// half of workerd's isolate limit.
const FALLBACK_HEAP_LIMIT = 256 * 1024 * 1024;

/** V8's heap limit for this process, as node:v8 reports it, or the fallback. */
export function heapLimitBytes(): number {
  try {
    const v8 = g.process?.getBuiltinModule?.('node:v8');
    const limit = v8?.getHeapStatistics?.().heap_size_limit;
    if (typeof limit === 'number' && limit > 0) return limit;
  } catch { /* not offered here */ }
  return FALLBACK_HEAP_LIMIT;
}
