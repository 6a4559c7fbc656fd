// Bounded waits for the socket tests: every wait names what it waited for when it times out.

/** The usual bound on one wait, in ms. */
export const T = 5000;

/** Rejects with "timed out after `ms` ms waiting for `what`" unless `p` settles first. */
export function withTimeout<R>(p: Promise<R>, ms: number, what: string): Promise<R> {
  let t: NodeJS.Timeout;
  return Promise.race([p, new Promise<R>((_, rej) => { t = setTimeout(() => rej(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms); })])
    .finally(() => clearTimeout(t));
}

/** Resolves after `ms` ms. */
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `cond` every few ms, bounded; `what` may be a function, read only on timeout. */
export async function until(cond: () => boolean, ms: number, what: string | (() => string)): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${typeof what === 'function' ? what() : what}`);
    await sleep(5);
  }
}

/** Bounded wait on a condition re-checked whenever fire() is called. */
export class Signal {
  private waiters = new Set<() => void>();
  fire(): void { for (const w of [...this.waiters]) w(); }
  async until<R>(get: () => R | undefined, ms: number, what: string): Promise<R> {
    const deadline = Date.now() + ms;
    for (;;) {
      const v = get();
      if (v !== undefined) return v;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const done = (): void => { clearTimeout(t); this.waiters.delete(done); resolve(); };
        const t = setTimeout(done, left);
        this.waiters.add(done);
      });
    }
  }
}
