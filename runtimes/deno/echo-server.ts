// A WebSocket echo server for Deno on Deno.listen (raw TCP), with the endpoint
// imported from the package (wasmsocket/web): each accepted TCP connection is
// answered by accept(), and the WebSocketStream's readable is piped back into
// its writable. Run it:
//   deno run --allow-net=127.0.0.1 --allow-env=WASMSOCKET_FORCE_SCALAR echo-server.ts [maxPayload ...]
// One listener on a free 127.0.0.1 port per maxPayload given (one with ws's
// default, 100 MiB, when none is), with permessage-deflate; each prints `LISTENING {"port":..,"maxPayload":..}`.
// The process exits when its stdin closes (so it dies with whoever started it)
// or after --ttl=<seconds>. --idle-timeout=<ms> and --max-buffered-bytes=<n>
// set accept()'s limits; then each line `stats` on stdin is answered with
// `STATS {bufferedBytes, maxSeen, budgetCloses, idleTimeouts, pings}` (maxSeen:
// the most the budget counted, sampled every 5 ms).
import { accept, acceptBudget, acceptHeartbeat, type AcceptStreamOptions } from 'wasmsocket/web';

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
  const flag = (name: string) => Deno.args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const ttl = Number(flag('ttl') ?? 0);
  const limits = { idleTimeout: Number(flag('idle-timeout') ?? 0), maxBufferedBytes: flag('max-buffered-bytes') === undefined ? undefined : Number(flag('max-buffered-bytes')) };
  for (const maxPayload of args.length ? args.map(Number) : [100 * 1024 * 1024]) {
    const listener = Deno.listen({ hostname: '127.0.0.1', port: 0 });
    console.log(`LISTENING ${JSON.stringify({ port: listener.addr.port, maxPayload })}`);
    void serveEcho(listener, { maxPayload, perMessageDeflate: true, ...limits });
  }
  if (ttl > 0) setTimeout(() => Deno.exit(0), ttl * 1000);
  const budget = acceptBudget(limits);
  let maxSeen = 0;
  if (limits.maxBufferedBytes !== undefined) setInterval(() => { maxSeen = Math.max(maxSeen, budget.total); }, 5);
  const stats = () => {
    const h = acceptHeartbeat(limits)?.stats;
    console.log(`STATS ${JSON.stringify({ bufferedBytes: budget.total, maxSeen, budgetCloses: budget.closes, idleTimeouts: h?.idleTimeouts ?? 0, pings: h?.pings ?? 0 })}`);
  };
  (async () => {
    try {
      for await (const chunk of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) if (chunk.includes('stats')) stats();
    } catch { /* no stdin */ }
    Deno.exit(0);
  })();
}
