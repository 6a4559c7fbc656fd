// Echo server for bench/edge-idle.mjs, run by Deno or Bun:
//
//   deno run -A --config runtimes/deno/deno.json --v8-flags=--expose-gc bench/servers/edge-echo.ts ours|conn|native
//   bun bench/servers/edge-echo.ts ours|conn|native [--src]
//
// ours:   wasmsocket/web's accept() on the runtime's raw TCP listener, as in
//         runtimes/deno/echo-server.ts and runtimes/bun/echo-server.ts (Deno:
//         the package's sources through deno.json's import map; Bun: dist/web.js,
//         or src/ with --src), the WebSocketStream's readable piped to its writable.
// conn:   acceptConnection() on the same listener, echoing from its handler.
// native: the runtime's own WebSocket server (Deno.serve + Deno.upgradeWebSocket,
//         Bun.serve's websocket handler), echoing the same way.
// Prints {"ready":true,"port":N} once listening; then each line "stats" on stdin
// is answered, after a full GC, with {"rss":..,"heapUsed":..,"external":..}.
// Exits when stdin closes.
/* eslint-disable @typescript-eslint/no-explicit-any -- two runtimes' globals */
const g = globalThis as any;
const impl = g.Deno ? g.Deno.args[0] : g.Bun.argv[2];
const fromSrc = (g.Deno ? g.Deno.args : g.Bun.argv).includes('--src');
const out = (o: unknown) => console.log(JSON.stringify(o));

async function ours(): Promise<number> {
  const web = fromSrc ? await import('../../src/web/index.ts') : await import('wasmsocket/web');
  const echo = impl === 'conn' ? (pair: any) => {
    web.acceptConnection(pair, { perMessageDeflate: true }).then((pending: any) => {
      const conn = pending.start({ onMessage: (d: Uint8Array, binary: boolean) => conn.send(d, binary), onClose() {} });
    }).catch(() => {});
  } : (pair: any) => {
    web.accept(pair, { perMessageDeflate: true }).then(async (ws: any) => {
      const { readable, writable } = await ws.opened;
      await readable.pipeTo(writable);
    }).catch(() => {});
  };
  if (g.Bun) return web.bunListen({ hostname: '127.0.0.1', port: 0 }, echo).port;
  const listener = g.Deno.listen({ hostname: '127.0.0.1', port: 0 });
  void (async () => {
    for (;;) {
      let conn;
      try { conn = await listener.accept(); } catch { await new Promise((r) => setTimeout(r, 5)); continue; }
      conn.setNoDelay(true);
      echo(conn);
    }
  })();
  return listener.addr.port;
}

function native(): number {
  if (g.Bun) {
    return g.Bun.serve({
      hostname: '127.0.0.1', port: 0,
      fetch: (req: Request, server: any) => (server.upgrade(req) ? undefined : new Response('upgrade', { status: 426 })),
      websocket: { perMessageDeflate: true, message: (ws: any, m: any) => ws.send(m) },
    }).port;
  }
  let port = 0;
  g.Deno.serve({ hostname: '127.0.0.1', port: 0, onListen: (a: any) => { port = a.port; } }, (req: Request) => {
    const { socket, response } = g.Deno.upgradeWebSocket(req);
    socket.onmessage = (e: MessageEvent) => socket.send(e.data);
    return response;
  });
  return port;
}

function stats() {
  if (g.Bun) g.Bun.gc(true); else { g.gc(); g.gc(); }
  const m = g.process.memoryUsage();
  out({ rss: m.rss, heapUsed: m.heapUsed, external: m.external });
  // EDGE_TYPES=1: Bun's object counts (the types with over 5,000 live objects) on stderr, to see what a connection holds.
  if (g.Bun && g.process.env.EDGE_TYPES) {
    import('bun:jsc').then((j: any) => console.error(JSON.stringify(Object.entries(j.heapStats().objectTypeCounts).filter((e: any) => e[1] > 5000))));
  }
}

const port = impl === 'native' ? native() : await ours();
await new Promise((r) => setTimeout(r, 50)); // Deno.serve's onListen
out({ ready: true, impl, port });
g.process.stdin.on('data', (d: unknown) => { if (String(d).includes('stats')) stats(); });
g.process.stdin.on('end', () => g.process.exit(0));
