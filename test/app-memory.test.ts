// What an idle HTTP connection of wasmsocket/app costs, measured: 5,000 raw
// TCP clients in a child process (test/helpers/idle-tcp-clients.mjs) connect
// to an App in this process and stay silent, or stop halfway through a head.
// Heap (after full GCs), ArrayBuffers and RSS grow by what the server keeps
// per connection; printed per connection, for both carriers. The bounds are
// loose multiples of what was measured (the printed line), to catch a
// regression by an order of magnitude, not noise.
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { App, us_socket_local_port, type TemplatedApp } from '../src/app/index.ts';
import { setAppTransport } from '../src/app/node-platform.ts';

v8.setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const N = 5_000;
const CLIENTS = fileURLToPath(new URL('./helpers/idle-tcp-clients.mjs', import.meta.url));
const WS_CLIENTS = fileURLToPath(new URL('./helpers/idle-clients.mjs', import.meta.url));

interface Sample { heapUsed: number; arrayBuffers: number; rss: number }
function sample(): Sample {
  for (let i = 0; i < 3; i++) gc();
  const m = process.memoryUsage();
  return { heapUsed: m.heapUsed, arrayBuffers: m.arrayBuffers, rss: m.rss };
}

const connections = (a: TemplatedApp): number => (a as unknown as { connections: Set<unknown> }).connections.size;

const sockets = (a: TemplatedApp): number =>
  (a as unknown as { contexts: { sockets: Set<unknown> }[] }).contexts.reduce((n, c) => n + c.sockets.size, 0);

/** Idle connections: raw TCP sending `first` (HTTP), or `ws` clients upgraded to WebSockets (first === null). */
async function measure(carrier: 'tcp' | 'net', first: string | null): Promise<Sample> {
  setAppTransport(carrier);
  const a = App({ httpIdleTimeout: 600 }).get('/', (res) => { res.end('x'); }).ws('/*', { idleTimeout: 0 });
  const count = (): number => first === null ? sockets(a) : connections(a);
  const port = await new Promise<number>((r, j) => a.listen('127.0.0.1', 0, (t) => t ? r(us_socket_local_port(t)) : j(new Error('listen'))));
  // Warm the paths once (the read buffer, the code), then the baseline.
  await fetch(`http://127.0.0.1:${port}/`).then((r) => r.text());
  await new Promise((r) => setTimeout(r, 50));
  const base = count(); // fetch's kept-alive connection
  const before = sample();
  const args = first === null ? [WS_CLIENTS, String(port), String(N)] : [CLIENTS, String(port), String(N), first];
  const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d) => { if (String(d).includes(`"open":${N}`)) resolve(); });
      child.on('exit', (code) => reject(new Error(`clients exited ${code}`)));
    });
    const deadline = Date.now() + 20_000;
    while (count() < N + base && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(count()).toBe(N + base);
    await new Promise((r) => setTimeout(r, 100)); // the partial heads land
    const after = sample();
    return { heapUsed: (after.heapUsed - before.heapUsed) / N, arrayBuffers: (after.arrayBuffers - before.arrayBuffers) / N, rss: (after.rss - before.rss) / N };
  } finally {
    child.stdin.end();
    a.close();
    setAppTransport('tcp');
  }
}

describe('idle connections of the App: bytes per connection', () => {
  it(`${N.toLocaleString('en')} connections, silent, halfway through a head, or upgraded, on both carriers`, async () => {
    const rows: Record<string, Sample> = {};
    for (const carrier of ['tcp', 'net'] as const) {
      rows[`${carrier}, silent`] = await measure(carrier, '');
      rows[`${carrier}, half a head`] = await measure(carrier, 'GET /chat HTTP/1.1\r\nHost: example.com\r\n');
      rows[`${carrier}, WebSocket`] = await measure(carrier, null);
    }
    for (const [k, v] of Object.entries(rows)) {
      console.log(`[app idle] ${k}: heap ${v.heapUsed.toFixed(0)} B, ArrayBuffers ${v.arrayBuffers.toFixed(0)} B, rss ${v.rss.toFixed(0)} B per connection`);
    }
    // The TCP-handle path keeps a handle wrapper, a wire and the HTTP connection: measured ~0.3 KiB of heap.
    expect(rows['tcp, silent'].heapUsed).toBeLessThan(1024);
    // Half a head adds its 1 KiB buffer, no more.
    expect(rows['tcp, half a head'].arrayBuffers).toBeLessThan(1.5 * 1024);
    // net.Socket alone is several KiB: the fast path must stay well under it.
    expect(rows['tcp, silent'].heapUsed).toBeLessThan(rows['net, silent'].heapUsed / 2);
    // An idle WebSocket: the socket, the core's Protocol and decoder, the wire and the handle (the printed line has the figure).
    expect(rows['tcp, WebSocket'].heapUsed).toBeLessThan(2048);
  }, 180_000);
});
