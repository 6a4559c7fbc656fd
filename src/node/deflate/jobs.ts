// Per-connection job queues of permessage-deflate. Each instance runs its
// compress jobs in order and its decompress jobs in order (one of each at a
// time), each job holding a slot of the process-wide zlib limiter
// (zlib-pool.ts) while it runs.
import process from 'node:process';
import { internal, type DeflateCallback, type PerMessageDeflateError } from './errors.js';
import { getLimiter } from './zlib-pool.js';

export type Done = (err: PerMessageDeflateError | null, result?: Buffer) => void;

export class Job {
  settled = false;
  holdsSlot = false;
  /** The limiter waiter, while waiting for a slot. */
  waiter: (() => void) | null = null;
  constructor(readonly data: Uint8Array, readonly fin: boolean, readonly tail: boolean, readonly cb: DeflateCallback) {}
}

/** Runs one instance's jobs of one direction one at a time, in order, each holding a limiter slot. */
export class Lane {
  private readonly queue: Job[] = [];
  private current: Job | null = null;

  constructor(private readonly start: (job: Job, done: Done) => void) {}

  get idle(): boolean { return this.current === null && this.queue.length === 0; }

  push(job: Job): void {
    this.queue.push(job);
    if (this.current === null) this.next();
  }

  private next(): void {
    const job = this.queue.shift();
    if (job === undefined) {
      this.current = null;
      return;
    }
    this.current = job;
    const lim = getLimiter();
    const run = (): void => {
      job.waiter = null;
      if (job.settled) {
        lim.release();
        return;
      }
      job.holdsSlot = true;
      try {
        this.start(job, (err, result) => this.complete(job, err, result));
      } catch (e) {
        // start() reports failures through `done`; this is a last resort.
        process.nextTick(() => this.complete(job, internal(e)));
      }
    };
    job.waiter = run;
    lim.acquire(run);
  }

  private complete(job: Job, err: PerMessageDeflateError | null, result?: Buffer): void {
    if (job.settled) return;
    job.settled = true;
    if (job.holdsSlot) {
      job.holdsSlot = false;
      getLimiter().release();
    }
    if (this.current === job) {
      this.current = null;
      this.next();
    }
    job.cb(err, result);
  }

  /** Fails the running and queued jobs with `err` (callbacks on the next tick). */
  cancelAll(err: () => PerMessageDeflateError): void {
    const jobs = this.current === null ? this.queue.splice(0) : [this.current, ...this.queue.splice(0)];
    this.current = null;
    const lim = getLimiter();
    for (const job of jobs) {
      if (job.settled) continue;
      job.settled = true;
      if (job.waiter !== null) {
        lim.cancel(job.waiter);
        job.waiter = null;
      }
      if (job.holdsSlot) {
        job.holdsSlot = false;
        lim.release();
      }
      const e = err();
      process.nextTick(() => job.cb(e));
    }
  }
}
