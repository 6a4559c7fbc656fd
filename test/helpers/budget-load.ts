// The two sides of a memory-budget test, for every door: hostile peers in a
// child process streaming messages they never finish (hostile-streamers.mjs),
// and well-behaved ws clients whose echoes must all come back meanwhile.
import { once } from 'node:events';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { WebSocket as WsClient } from 'ws';
import { withTimeout } from './wait.ts';

export interface Streamers { connected: number; closed: number; sent: number; codes: Record<string, number> }

/** `count` peers each streaming `perPeer` bytes of an unfinished message ('fragments' or one 'frame'); state() is the last report. */
export function streamers(port: number, count: number, mode: 'fragments' | 'frame', perPeer: number,
  cleanups: Array<() => unknown>): { state: () => Streamers } {
  const child = spawn(process.execPath, [fileURLToPath(new URL('./hostile-streamers.mjs', import.meta.url)),
    String(port), String(count), mode, String(perPeer)], { stdio: ['pipe', 'pipe', 'inherit'] });
  cleanups.push(() => { child.stdin.end(); setTimeout(() => child.kill(), 2000).unref(); });
  let last: Streamers = { connected: 0, closed: 0, sent: 0, codes: {} };
  createInterface({ input: child.stdout }).on('line', (l) => { last = JSON.parse(l); });
  return { state: () => last };
}

/** Well-behaved clients: each sends `n` numbered messages, one at a time, and checks every echo. */
export async function wellBehaved(port: number, clients: number, n: number,
  cleanups: Array<() => unknown>): Promise<{ lost: number; wrong: number }> {
  let lost = 0, wrong = 0;
  await Promise.all(Array.from({ length: clients }, async (_, id) => {
    const c = new WsClient(`ws://127.0.0.1:${port}/`);
    cleanups.push(() => c.terminate());
    await withTimeout(once(c, 'open'), 30_000, 'well-behaved open');
    let next = 0;
    const msg = (i: number): string => `${id}:${i}:${'x'.repeat(i % 500)}`;
    const done = new Promise<void>((resolve, reject) => {
      c.on('message', (d) => {
        if (String(d) !== msg(next)) wrong++;
        next++;
        if (next === n) resolve(); else c.send(msg(next));
      });
      c.on('close', () => reject(new Error(`well-behaved client ${id} closed after ${next} echoes`)));
    });
    c.send(msg(0));
    await withTimeout(done, 120_000, `client ${id} echoes`).catch(() => { lost += n - next; });
    c.close();
  }));
  return { lost, wrong };
}
