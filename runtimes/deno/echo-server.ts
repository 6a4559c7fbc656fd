// A WebSocket echo server for Deno on Deno.listen (raw TCP), with the endpoint
// imported from the package (wasmsocket/web): each accepted TCP connection is
// answered by accept(), and the WebSocketStream's readable is piped back into
// its writable. Run it:
//   deno run --allow-net=127.0.0.1 --allow-env=WASMSOCKET_FORCE_SCALAR echo-server.ts [maxPayload ...]
// One listener on a free 127.0.0.1 port per maxPayload given (one with ws's
// default, 100 MiB, when none is), with permessage-deflate; each prints `LISTENING {"port":..,"maxPayload":..}`.
// The process exits when its stdin closes (so it dies with whoever started it)
// or after --ttl=<seconds>.
import { accept, type AcceptStreamOptions } from 'wasmsocket/web';

/** Serves WebSocket echo on a Deno listener. */
export async function serveEcho(listener: Deno.TcpListener, options: AcceptStreamOptions = {}): Promise<void> {
  for (;;) {
    let conn: Deno.TcpConn;
    try {
      conn = await listener.accept();
    } catch (e) {
      if (e instanceof Deno.errors.BadResource || e instanceof Deno.errors.Interrupted) return; // listener closed
      // A connection reset before it was accepted (accept() then reports
      // NotConnected): keep accepting, after a short pause in case the error
      // is persistent (out of file descriptors).
      await new Promise((r) => setTimeout(r, 5));
      continue;
    }
    conn.setNoDelay(true);
    accept(conn, options).then(async (ws) => {
      const { readable, writable } = await ws.opened;
      await readable.pipeTo(writable);
    }).catch(() => { /* refused upgrade (answered already), or the connection ended */ });
  }
}

if (import.meta.main) {
  const args = Deno.args.filter((a) => !a.startsWith('--'));
  const ttl = Number(Deno.args.find((a) => a.startsWith('--ttl='))?.slice(6) ?? 0);
  for (const maxPayload of args.length ? args.map(Number) : [100 * 1024 * 1024]) {
    const listener = Deno.listen({ hostname: '127.0.0.1', port: 0 });
    console.log(`LISTENING ${JSON.stringify({ port: listener.addr.port, maxPayload })}`);
    void serveEcho(listener, { maxPayload, perMessageDeflate: true });
  }
  if (ttl > 0) setTimeout(() => Deno.exit(0), ttl * 1000);
  (async () => {
    const b = new Uint8Array(256);
    try { while ((await Deno.stdin.read(b)) !== null); } catch { /* no stdin */ }
    Deno.exit(0);
  })();
}
