// ws's client options (the same over HTTP/1.1 and HTTP/2), below client.ts and
// client-h2.ts, which both read them, and websocket.ts, whose constructor takes them.
import type { Buffer } from 'node:buffer';
import type http from 'node:http';
import type { ClientRequest } from 'node:http';
import type { ClientHttp2Session } from 'node:http2';
import type { SecureContextOptions } from 'node:tls';
import type { PerMessageDeflateOptions } from '../deflate/permessage-deflate.js';
import { clientMemoryBudget, type MemoryBudget } from '../../core/budget.js';
import { clientHeartbeat } from '../../core/heartbeat.js';
import type { ConnectionOptions } from './connection-options.js';
import type { Dialing } from './dialing.js';

/** ws's client options; `W` is the connection finishRequest is called with (the WebSocket). */
export interface ClientOptions<W = Dialing> extends SecureContextOptions {
  protocolVersion?: number;
  handshakeTimeout?: number;
  headers?: Record<string, string>;
  origin?: string;
  followRedirects?: boolean;
  maxRedirects?: number;
  maxPayload?: number;
  perMessageDeflate?: boolean | PerMessageDeflateOptions;
  skipUTF8Validation?: boolean;
  autoPong?: boolean;
  closeTimeout?: number;
  rejectUnauthorized?: boolean;
  servername?: string;
  localAddress?: string;
  family?: number;
  agent?: http.Agent;
  host?: string;
  auth?: string;
  timeout?: number;
  /**
   * The byte budget this client's held bytes count against: by default one
   * budget shared by every client of the process (clientMemoryBudget()); null: none.
   */
  memoryBudget?: MemoryBudget | null;
  /** Milliseconds the server may stay silent before we ping, then terminate (0, default: off). */
  idleTimeout?: number;
  lookup?: http.RequestOptions['lookup'];
  /** Opens the TCP/TLS connection instead of net/tls (proxy agents, tests), as in ws. */
  createConnection?: http.ClientRequestArgs['createConnection'];
  /** Called with the request instead of `req.end()`: the caller finishes it (ws's option). */
  finishRequest?: (req: ClientRequest, ws: W) => void;
  /** Fills the 4-byte masking key of each frame (ws's option; e.g. zeros for a trusted peer). */
  generateMask?: (mask: Buffer) => void;
  allowSynchronousEvents?: boolean;
  /**
   * Open over HTTP/2 (RFC 8441): `true` shares one session per origin among
   * sockets, or pass your own ClientHttp2Session. Falls back to HTTP/1.1 when
   * the server does not advertise SETTINGS_ENABLE_CONNECT_PROTOCOL.
   */
  http2?: boolean | ClientHttp2Session;
}

/** The connection's options from a client's (the same over HTTP/1.1 and HTTP/2). */
export function connectionOptions<W>(opts: ClientOptions<W> & Required<Pick<ClientOptions<W>, 'maxPayload' | 'skipUTF8Validation' | 'autoPong' | 'closeTimeout'>>): ConnectionOptions {
  return {
    maxPayload: opts.maxPayload, skipUTF8Validation: opts.skipUTF8Validation, autoPong: opts.autoPong, closeTimeout: opts.closeTimeout,
    budget: opts.memoryBudget === undefined ? clientMemoryBudget() : opts.memoryBudget,
    heartbeat: opts.idleTimeout ? clientHeartbeat(opts.idleTimeout) : null,
    generateMask: opts.generateMask,
  };
}
