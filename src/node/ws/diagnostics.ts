// node:diagnostics_channel events, named as undici names its own
// ('undici:websocket:open'): a metrics or tracing library subscribes by name
// without a reference to the server. Each is published only when the channel
// has subscribers, so a server nobody watches pays one property read per event.
//
//   wasmsocket:server:open              { server, websocket, request, address }
//   wasmsocket:server:close             { server, websocket, code, reason }
//   wasmsocket:server:handshakeRefused  { server, request, status, reason, address?, message? }
//   wasmsocket:server:limitHit          { server, request, limit, value, address }
//   wasmsocket:server:idleTimeout       { server, websocket, why: 'idle' | 'stalled' }
//   wasmsocket:budget:close             { websocket, code, incoming, outgoing, total, limit }
//
// handshakeRefused's reason: an admission reason ('origin', 'no-origin',
// 'max-connections', 'max-connections-per-address', 'handshake-rate'),
// 'verify-client', 'invalid-handshake' (with the message), or 'shutting-down'
// (a handshake during wss.close() or wss.shutdown()).
// budget:close covers every Node connection closed by a memory budget, a
// server's or the clients' (budgets can be shared, so it names no server).
import diagnosticsChannel from 'node:diagnostics_channel';
import { observeBudgetCloses } from '../../core/budget.js';

export const serverOpen = diagnosticsChannel.channel('wasmsocket:server:open');
export const serverClose = diagnosticsChannel.channel('wasmsocket:server:close');
export const handshakeRefused = diagnosticsChannel.channel('wasmsocket:server:handshakeRefused');
export const limitHit = diagnosticsChannel.channel('wasmsocket:server:limitHit');
export const idleTimeout = diagnosticsChannel.channel('wasmsocket:server:idleTimeout');
export const budgetClose = diagnosticsChannel.channel('wasmsocket:budget:close');

observeBudgetCloses((member, event) => {
  if (budgetClose.hasSubscribers) budgetClose.publish({ websocket: member, ...event });
});

/** The limit names limitHit carries, by refusal reason (the option that was hit). */
export const LIMIT_OPTION = {
  'max-connections': 'maxConnections',
  'max-connections-per-address': 'maxConnectionsPerAddress',
  'handshake-rate': 'handshakeRate',
} as const;
