// The TCP connection a client WebSocketStream opens by default, found by
// feature detection: Deno.connect / Deno.connectTls, Bun.connect (./bun.ts), or
// what the workerd entry registers (connect() from cloudflare:sockets).
import type { BytePair } from './channel.js';
import { bunConnect } from './bun.js';

export type Dialer = (url: URL) => BytePair | Promise<BytePair>;

let registered: Dialer | undefined;

/** Sets the dialer used when options.connect is not given (the workerd entry registers connect()). */
export function setDefaultDialer(dialer: Dialer | undefined): void {
  registered = dialer;
}

interface DenoNet {
  connect(o: { hostname: string; port: number }): Promise<BytePair & { setNoDelay?(on: boolean): void }>;
  connectTls(o: { hostname: string; port: number }): Promise<BytePair>;
}

/** host and port of a ws:/wss: URL (IPv6 without brackets). */
export function endpointOf(url: URL): { hostname: string; port: number; secure: boolean } {
  const secure = url.protocol === 'wss:';
  return { hostname: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port) || (secure ? 443 : 80), secure };
}

export async function dial(url: URL): Promise<BytePair> {
  if (registered) return registered(url);
  const { hostname, port, secure } = endpointOf(url);
  const g = globalThis as { Deno?: DenoNet; Bun?: unknown };
  if (g.Deno?.connect) {
    if (secure) return g.Deno.connectTls({ hostname, port });
    const conn = await g.Deno.connect({ hostname, port });
    conn.setNoDelay?.(true);
    return conn;
  }
  if (g.Bun) return bunConnect({ hostname, port, tls: secure });
  throw new TypeError('No TCP client found in this runtime: pass options.connect (a function returning { readable, writable })');
}
