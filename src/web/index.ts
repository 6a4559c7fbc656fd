// wasmsocket/web: WebSocket on Web Streams, for Deno, Bun, Cloudflare workerd
// and any runtime with ReadableStream/WritableStream, crypto.subtle and
// setTimeout. No Node imports.
export {
  WebSocketStream, accept, acceptConnection, type ClientStreamOptions, type AcceptStreamOptions, type PendingConnection,
} from './websocket-stream.js';
export { acceptBudget, acceptHeartbeat, type LimitOptions } from './limits.js';
export { Topics, type TopicsOptions, type PublishOptions, type BackpressurePolicy } from './topics.js';
export { MemoryBudget, clientMemoryBudget, type BudgetEvent } from '../core/budget.js';
export type { Heartbeat, HeartbeatStats } from '../core/heartbeat.js';
export type { Broker, BrokerSink } from '../core/broker.js';
export {
  WebSocketError, type WebSocketStreamOptions, type WebSocketOpenInfo, type WebSocketCloseInfo,
} from './stream-core.js';
export { bunListen, bunConnect } from './bun.js';
export { setDefaultDialer, type Dialer } from './dial.js';
export { StreamTransport, serverHandshake, clientHandshake, type BytePair, type AcceptOptions, type DeflateOption } from './byte-stream.js';
export { Connection, type Transport, type ConnectionHandler, type ConnectionOptions } from './connection.js';
export { HandshakeError, parseUpgrade, acceptValue, type UpgradeRequest } from './handshake.js';
