// Where the App's connections come from: a listening socket of some runtime
// (Node's TCP handle, net.Server, later Deno.listen / Bun.listen). No Node imports.
import type { Wire, WireOwner } from './wire.js';

export interface ListenRequest {
  /** An IP address or "localhost"; all interfaces when absent. */
  host?: string;
  port: number;
  backlog?: number;
  /** Share the port with this user's other threads and processes (SO_REUSEPORT) where the platform can. */
  reusePort?: boolean;
  /** A connection arrived: returns who hears its bytes. */
  onConnection(wire: Wire): WireOwner;
}

/** uWS.js's listen options: the default shares the port where the platform can (SO_REUSEPORT), EXCLUSIVE never does. */
export const LIBUS_LISTEN_DEFAULT = 0;
export const LIBUS_LISTEN_EXCLUSIVE_PORT = 1;

/** A listening socket: the listen token's insides. */
export interface Acceptor {
  /** The port bound (the one asked for, or the one chosen for port 0). */
  readonly port: number;
  /** Stops accepting; connections already accepted stay. */
  close(): void;
}
