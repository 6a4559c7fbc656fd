// The package root: ws's names and semantics.
import { WebSocket } from './node/websocket.js';
import { WebSocketServer } from './node/server.js';
import { createWebSocketStream } from './node/stream.js';
import { WebSocketStream } from './node/websocket-stream.js';
import { WebSocketError } from './web/stream-core.js';

export { WebSocket, WebSocketServer, WebSocketServer as Server, createWebSocketStream };
export type { SendOptions, BinaryType, Data } from './node/websocket.js';
export type { ServerOptions, VerifyClientInfo } from './node/server.js';
export type { ClientOptions } from './node/client.js';
export type { BroadcastOptions, BackpressurePolicy } from './node/broadcast.js';
export type { Broker, BrokerSink } from './node/broker.js';
export { PerMessageDeflate } from './node/permessage-deflate.js';
export { MemoryBudget, clientMemoryBudget } from './node/budget.js';
export type { BudgetEvent } from './node/budget.js';
export type { ServerStats } from './node/server.js';
import { MessageEvent, CloseEvent, ErrorEvent } from './node/events.js';
export { MessageEvent, CloseEvent, ErrorEvent };
export { routeWebSocketStreams } from './node/h2-server.js';
export { WebSocketStream, type NodeStreamOptions } from './node/websocket-stream.js';
export { WebSocketError, type WebSocketOpenInfo, type WebSocketCloseInfo, type WebSocketStreamOptions } from './web/stream-core.js';

// As with ws, the default export is the WebSocket class carrying the rest (its
// namespace, declared in websocket.ts, types them as @types/ws does).
Object.assign(WebSocket, {
  WebSocket, WebSocketServer, Server: WebSocketServer, createWebSocketStream, WebSocketStream, WebSocketError,
  MessageEvent, CloseEvent, ErrorEvent,
});
export default WebSocket;
export type RawData = WebSocket.RawData;
