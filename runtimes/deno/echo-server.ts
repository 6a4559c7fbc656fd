// A WebSocket echo server for Deno on Deno.listen (raw TCP) and the wasmsocket
// codec. Run it:
//   deno run --allow-net=127.0.0.1 --allow-env=WASMSOCKET_FORCE_SCALAR echo-server.ts [maxPayload ...]
// One listener on a free 127.0.0.1 port per maxPayload given (one with ws's
// default, 100 MiB, when none is); each prints `LISTENING {"port":..,"maxPayload":..}`.
// The process exits when its stdin closes (so it dies with whoever started it)
// or after --ttl=<seconds>.
import { ServerEndpoint, type EndpointOptions, type Transport } from '../shared/ws-endpoint.ts';

/** Serves WebSocket connections on a Deno listener, each one a ServerEndpoint. */
export async function serveWebSocket(listener: Deno.TcpListener, options: EndpointOptions = {}): Promise<void> {
  for (;;) {
    let conn: Deno.TcpConn;
    try {
      conn = await listener.accept();
    } catch (e) {
      if (e instanceof Deno.errors.BadResource || e instanceof Deno.errors.Interrupted) return; // listener closed
      // A connection reset before it was accepted (accept() then reports
      // NotConnected): not the listener's fault. Keep accepting, after a short
      // pause in case the error is persistent (out of file descriptors).
      await new Promise((r) => setTimeout(r, 5));
      continue;
    }
    void handle(conn, options);
  }
}

async function writeAll(conn: Deno.TcpConn, bytes: Uint8Array): Promise<void> {
  for (let o = 0; o < bytes.length;) o += await conn.write(bytes.subarray(o));
}

async function handle(conn: Deno.TcpConn, options: EndpointOptions): Promise<void> {
  conn.setNoDelay(true);
  let writing: Promise<void> = Promise.resolve();
  let closed = false;
  const transport: Transport = {
    // Writes go out in order; the read loop waits for them (backpressure).
    write: (bytes) => { writing = writing.then(() => writeAll(conn, bytes)).catch(() => {}); },
    end: () => { writing = writing.then(() => conn.closeWrite()).catch(() => {}); },
    abort: () => {
      if (closed) return;
      closed = true;
      try { conn.close(); } catch { /* already closed */ }
    },
  };
  const endpoint = new ServerEndpoint(transport, options);
  const buf = new Uint8Array(64 * 1024);
  try {
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break; // the peer's FIN
      endpoint.receive(buf.subarray(0, n));
      await writing;
    }
  } catch {
    // reset by the peer, or closed by us
  }
  endpoint.connectionClosed();
  await writing;
  transport.abort();
}

if (import.meta.main) {
  const args = Deno.args.filter((a) => !a.startsWith('--'));
  const ttl = Number(Deno.args.find((a) => a.startsWith('--ttl='))?.slice(6) ?? 0);
  for (const maxPayload of args.length ? args.map(Number) : [100 * 1024 * 1024]) {
    const listener = Deno.listen({ hostname: '127.0.0.1', port: 0 });
    console.log(`LISTENING ${JSON.stringify({ port: listener.addr.port, maxPayload })}`);
    void serveWebSocket(listener, { maxPayload });
  }
  if (ttl > 0) setTimeout(() => Deno.exit(0), ttl * 1000);
  (async () => {
    const b = new Uint8Array(256);
    try { while ((await Deno.stdin.read(b)) !== null); } catch { /* no stdin */ }
    Deno.exit(0);
  })();
}
