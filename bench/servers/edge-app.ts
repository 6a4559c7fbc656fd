// Echo servers for bench/edge.mjs, run by Deno or Bun:
//
//   deno run --allow-net=127.0.0.1 --allow-read --config runtimes/deno/deno.json bench/servers/edge-app.ts app|native [--src]
//   bun bench/servers/edge-app.ts app|native [--src]
//
// app:    wasmsocket/app's App (uWebSockets.js's API) on Deno.listen / Bun.listen,
//         from the built package (dist/app-deno.js, dist/app-bun.js: what the
//         package's "deno" and "bun" conditions give), or src/ with --src.
// native: the runtime's own WebSocket server: Deno.serve + Deno.upgradeWebSocket
//         (Rust, fastwebsockets), Bun.serve's websocket handler (uWebSockets).
// Both echo every message as it came (text as text, binary as binary) on
// 127.0.0.1, port chosen by the system; no permessage-deflate (the C load
// generator does not offer it). Prints {"ready":true,"impl":..,"port":N}; exits
// when stdin closes. Each line "stats" on stdin is answered, after a full GC,
// with {"rss":..,"heapUsed":..,"external":..}: bench/edge-idle.mjs measures the
// App's idle connections with it (EDGE_SCRIPT=bench/servers/edge-app.ts).
/* eslint-disable @typescript-eslint/no-explicit-any -- two runtimes' globals */
const g = globalThis as any;
const argv: string[] = g.Deno ? g.Deno.args : g.Bun.argv.slice(2);
const impl = argv[0];
const fromSrc = argv.includes('--src');

async function app(): Promise<number> {
  const mod: any = g.Deno
    ? await import(fromSrc ? '../../src/entries/app-deno.ts' : '../../dist/app-deno.js')
    : await import(fromSrc ? '../../src/entries/app-bun.ts' : '../../dist/app-bun.js');
  const a = mod.App().ws('/*', {
    maxPayloadLength: 100 * 1024 * 1024,
    maxBackpressure: 16 * 1024 * 1024,
    message: (ws: any, message: ArrayBuffer, isBinary: boolean) => { ws.send(message, isBinary); },
  });
  return new Promise((resolve, reject) => {
    a.listen('127.0.0.1', 0, (token: unknown) => (token ? resolve(mod.us_socket_local_port(token)) : reject(new Error('listen failed'))));
  });
}

async function native(): Promise<number> {
  if (g.Bun) {
    return g.Bun.serve({
      hostname: '127.0.0.1', port: 0,
      fetch: (req: Request, server: any) => (server.upgrade(req) ? undefined : new Response('upgrade', { status: 426 })),
      websocket: { maxPayloadLength: 100 * 1024 * 1024, message: (ws: any, m: any) => { ws.send(m); } },
    }).port;
  }
  return new Promise((resolve) => {
    g.Deno.serve({ hostname: '127.0.0.1', port: 0, onListen: (a: any) => resolve(a.port) }, (req: Request) => {
      const { socket, response } = g.Deno.upgradeWebSocket(req);
      socket.binaryType = 'arraybuffer';
      socket.onmessage = (e: MessageEvent) => socket.send(e.data);
      return response;
    });
  });
}

// 'ours' is what bench/edge-idle.mjs calls the library's server (EDGE_SCRIPT=bench/servers/edge-app.ts).
const port = impl === 'native' ? await native() : impl === 'app' || impl === 'ours' ? await app() : NaN;
if (Number.isNaN(port)) throw new Error(`usage: edge-app.ts app|native [--src] (got ${impl})`);
console.log(JSON.stringify({ ready: true, impl, port }));

// After a full GC, the process's memory (for bench/edge-idle.mjs; Deno needs --v8-flags=--expose-gc).
function stats(): void {
  if (g.Bun) g.Bun.gc(true); else if (typeof g.gc === 'function') { g.gc(); g.gc(); }
  const m = g.process.memoryUsage();
  console.log(JSON.stringify({ rss: m.rss, heapUsed: m.heapUsed, external: m.external }));
}

// Each line 'stats' on stdin is answered; the process exits when stdin closes.
(async () => {
  const text = new TextDecoder();
  try {
    const input = g.Deno ? g.Deno.stdin.readable : g.Bun.stdin.stream();
    for await (const chunk of input) if (text.decode(chunk).includes('stats')) stats();
  } catch { /* no stdin */ }
  if (g.Deno) g.Deno.exit(0); else g.process.exit(0);
})();
