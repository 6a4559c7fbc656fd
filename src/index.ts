// The package root: ws's names and semantics.
import { WebSocket } from './node/ws/default-export.js';
import { WebSocketServer } from './node/ws/server.js';
import { createWebSocketStream } from './node/ws/stream.js';

export { WebSocket, WebSocketServer, WebSocketServer as Server, createWebSocketStream };
export type { SendOptions, BinaryType, Data, ClientOptions } from './node/ws/websocket.js';
export type { ServerOptions, VerifyClientInfo } from './node/ws/server.js';
import type { BroadcastOptions as FanoutOptions } from './node/fanout/broadcast.js';
/** broadcast()/publish() options, the filter and except typed with our WebSocket. */
export type BroadcastOptions = FanoutOptions<WebSocket>;
export type { BackpressurePolicy } from './node/fanout/broadcast.js';
export type { Broker, BrokerSink } from './core/broker.js';
export { ThreadBroker, type ThreadBrokerOptions } from './core/thread-broker.js';
export { PerMessageDeflate } from './node/deflate/permessage-deflate.js';
export { MemoryBudget, clientMemoryBudget } from './core/budget.js';
export type { BudgetEvent } from './core/budget.js';
export type { ServerStats } from './node/ws/server.js';
export type { ShutdownOptions, ShutdownResult } from './node/ws/shutdown.js';
export type { AdmissionOptions, RefusalCounts, RefusalReason } from './node/ws/admission.js';
export type { HandshakeRate } from './node/ws/rate-limit.js';
export type {
  ServerOpenMessage, ServerCloseMessage, HandshakeRefusedMessage, LimitHitMessage, IdleTimeoutMessage, BudgetCloseMessage,
} from './node/ws/diagnostics-messages.js';
import { MessageEvent, CloseEvent, ErrorEvent } from './node/ws/events.js';
export { MessageEvent, CloseEvent, ErrorEvent };
export { routeWebSocketStreams } from './node/transport/h2-server.js';
export { WebSocketStream, type NodeStreamOptions } from './node/ws/websocket-stream.js';
export { WebSocketError, type WebSocketOpenInfo, type WebSocketCloseInfo, type WebSocketStreamOptions } from './web/stream-core.js';

// As with ws, the default export is the WebSocket class carrying the rest, typed
// with @types/ws's namespace (src/node/ws/default-export.ts).
export default WebSocket;
export type RawData = WebSocket.RawData;
