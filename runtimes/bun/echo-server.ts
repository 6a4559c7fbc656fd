// A WebSocket echo server for Bun on Bun.listen (raw TCP), with the endpoint
// imported from the package (wasmsocket/web): bunListen hands each TCP
// connection over as a byte stream pair, accept() answers the upgrade, and the
// WebSocketStream's readable is piped back into its writable. Run it:
//   bun echo-server.ts [maxPayload ...]
// One listener on a free 127.0.0.1 port per maxPayload given (one with ws's
// default, 100 MiB, when none is), with permessage-deflate; each prints `LISTENING {"port":..,"maxPayload":..}`.
// The process exits when its stdin closes (so it dies with whoever started it)
// or after --ttl=<seconds>. --idle-timeout=<ms> and --max-buffered-bytes=<n>
// set accept()'s limits; then each line `stats` on stdin is answered with
// `STATS {bufferedBytes, maxSeen, budgetCloses, idleTimeouts, pings}` (maxSeen:
// the most the budget counted, sampled every 5 ms).
import { accept, acceptBudget, acceptHeartbeat, bunListen, type AcceptStreamOptions } from 'wasmsocket/web';

/** Serves WebSocket echo on a Bun TCP listener. */
export function serveEcho(hostname: string, port: number, options: AcceptStreamOptions = {}) {
  return bunListen({ hostname, port }, (pair) => {
    accept(pair, options).then(async (ws) => {
      const { readable, writable } = await ws.opened;
      await readable.pipeTo(writable);
    }).catch(() => { /* refused upgrade (answered already), or the connection ended */ });
  });
}

if (import.meta.main) {
  const args = Bun.argv.slice(2).filter((a) => !a.startsWith('--'));
  const flag = (name: string) => Bun.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const ttl = Number(flag('ttl') ?? 0);
  const limits = { idleTimeout: Number(flag('idle-timeout') ?? 0), maxBufferedBytes: flag('max-buffered-bytes') === undefined ? undefined : Number(flag('max-buffered-bytes')) };
  for (const maxPayload of args.length ? args.map(Number) : [100 * 1024 * 1024]) {
    const listener = serveEcho('127.0.0.1', 0, { maxPayload, perMessageDeflate: true, ...limits });
    console.log(`LISTENING ${JSON.stringify({ port: listener.port, maxPayload })}`);
  }
  if (ttl > 0) setTimeout(() => process.exit(0), ttl * 1000);
  const budget = acceptBudget(limits);
  let maxSeen = 0;
  if (limits.maxBufferedBytes !== undefined) setInterval(() => { maxSeen = Math.max(maxSeen, budget.total); }, 5);
  const stats = () => {
    const h = acceptHeartbeat(limits)?.stats;
    console.log(`STATS ${JSON.stringify({ bufferedBytes: budget.total, maxSeen, budgetCloses: budget.closes, idleTimeouts: h?.idleTimeouts ?? 0, pings: h?.pings ?? 0 })}`);
  };
  (async () => {
    const text = new TextDecoder();
    try { for await (const chunk of Bun.stdin.stream()) if (text.decode(chunk).includes('stats')) stats(); } catch { /* no stdin */ }
    process.exit(0);
  })();
}
