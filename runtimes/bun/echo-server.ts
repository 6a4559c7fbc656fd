// A WebSocket echo server for Bun on Bun.listen (raw TCP) and the wasmsocket
// codec. Run it:
//   bun echo-server.ts [maxPayload ...]
// One listener on a free 127.0.0.1 port per maxPayload given (one with ws's
// default, 100 MiB, when none is); each prints `LISTENING {"port":..,"maxPayload":..}`.
// The process exits when its stdin closes (so it dies with whoever started it)
// or after --ttl=<seconds>.
import { ServerEndpoint, type EndpointOptions } from '../shared/ws-endpoint.ts';

interface Conn {
  endpoint: ServerEndpoint;
  queue: Uint8Array[];   // bytes the kernel did not take yet
  queued: number;
  ending: boolean;       // FIN once the queue is empty
  peerEnded: boolean;    // the peer's FIN came: close once the queue is empty
  flush(): void;
}

const HIGH_WATER = 1 << 20;

/** Serves WebSocket connections on a Bun TCP listener, each one a ServerEndpoint. */
export function serveWebSocket(hostname: string, port: number, options: EndpointOptions = {}) {
  return Bun.listen<Conn>({
    hostname,
    port,
    socket: {
      open(socket) {
        socket.setNoDelay(true);
        const c: Conn = {
          queue: [], queued: 0, ending: false, peerEnded: false,
          flush() {
            while (c.queue.length > 0) {
              const b = c.queue[0];
              const n = socket.write(b);
              if (n < 0) { c.queue = []; c.queued = 0; return; } // closed
              c.queued -= Math.max(n, 0);
              if (n < b.length) { c.queue[0] = b.subarray(n); return; } // wait for drain
              c.queue.shift();
            }
            if (c.peerEnded) socket.end();         // both sides done
            else if (c.ending) socket.shutdown();  // half-close: FIN after our last byte, then wait for the peer's
            else socket.resume();
          },
          endpoint: undefined as unknown as ServerEndpoint,
        };
        c.endpoint = new ServerEndpoint({
          write(bytes) {
            c.queue.push(bytes);
            c.queued += bytes.length;
            if (c.queue.length === 1) c.flush();
            if (c.queued > HIGH_WATER) socket.pause(); // backpressure: stop reading until drained
          },
          end() { c.ending = true; if (c.queue.length === 0) c.flush(); },
          abort() { socket.terminate(); },
        }, options);
        socket.data = c;
      },
      data(socket, chunk) { socket.data.endpoint.receive(chunk); },
      drain(socket) { socket.data.flush(); },
      end(socket) { // the peer's FIN: close once what we queued (a close reply, say) is out
        const c = socket.data;
        c.endpoint.connectionClosed();
        c.peerEnded = true;
        if (c.queue.length === 0) socket.end();
      },
      close(socket) { socket.data?.endpoint.connectionClosed(); },
      error(socket) { socket.data?.endpoint.connectionClosed(); },
    },
  });
}

if (import.meta.main) {
  const args = Bun.argv.slice(2).filter((a) => !a.startsWith('--'));
  const ttl = Number(Bun.argv.find((a) => a.startsWith('--ttl='))?.slice(6) ?? 0);
  for (const maxPayload of args.length ? args.map(Number) : [100 * 1024 * 1024]) {
    const listener = serveWebSocket('127.0.0.1', 0, { maxPayload });
    console.log(`LISTENING ${JSON.stringify({ port: listener.port, maxPayload })}`);
  }
  if (ttl > 0) setTimeout(() => process.exit(0), ttl * 1000);
  (async () => {
    try { for await (const _ of Bun.stdin.stream()) { /* ignore */ } } catch { /* no stdin */ }
    process.exit(0);
  })();
}
