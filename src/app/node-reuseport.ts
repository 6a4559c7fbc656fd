// Node only: one port for the App in several worker threads (uWebSockets.js's
// WorkerThreads example: each thread's App listens on the same port and the
// kernel spreads connections between them). That is SO_REUSEPORT, which Node
// sets on request from 22.12 / 23.1 on (libuv >= 1.49): the TCP handle's bind
// flag UV_TCP_REUSEPORT (tcp_wrap's constants name it; feature-detected) and
// net.Server's `reusePort` option. Older Node has neither: there a second
// listen on a taken port fails (the listen callback gets false), as in uWS.js
// with LIBUS_LISTEN_EXCLUSIVE_PORT.
//
// Within one thread a port listened on stays exclusive: a second App of the
// same thread asking for it is refused, since one thread gains nothing from
// two listeners and a second listen on the same port is more often a mistake.
import process from 'node:process';

/** The bind flag that sets SO_REUSEPORT on a tcp_wrap handle, or 0 where this Node has none. */
export function tcpReusePortFlag(constants: Record<string, number> | undefined): number {
  const flag = constants?.UV_TCP_REUSEPORT;
  return typeof flag === 'number' && flag > 0 ? flag : 0;
}

/** Whether net.Server's listen() honours `reusePort` (Node >= 22.12 on 22, >= 23.1 after). */
export function netHasReusePort(): boolean {
  const [major, minor] = process.versions.node.split('.').map(Number);
  return major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12);
}

// Ports this thread listens on (a module instance per thread: workers do not share it).
const ours = new Map<number, number>();

/** Whether this thread may listen on `port` (0 always may). */
export function portFree(port: number): boolean {
  return port === 0 || !ours.has(port);
}

/** Records a port this thread now listens on; returns the release function. */
export function holdPort(port: number): () => void {
  ours.set(port, (ours.get(port) ?? 0) + 1);
  let held = true;
  return () => {
    if (!held) return;
    held = false;
    const n = (ours.get(port) ?? 1) - 1;
    if (n <= 0) ours.delete(port);
    else ours.set(port, n);
  };
}
