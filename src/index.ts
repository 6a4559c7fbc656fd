// The package root: ws's names and semantics.
import { WebSocket } from './node/websocket.js';
import { WebSocketServer } from './node/server.js';
import { createWebSocketStream } from './node/stream.js';

export { WebSocket, WebSocketServer, WebSocketServer as Server, createWebSocketStream };
export type { SendOptions, BinaryType, Data } from './node/websocket.js';
export type { ServerOptions, VerifyClientInfo } from './node/server.js';
export type { ClientOptions } from './node/client.js';
export type { BroadcastOptions, BackpressurePolicy } from './node/broadcast.js';
export { PerMessageDeflate } from './node/permessage-deflate.js';
export { MemoryBudget, clientMemoryBudget } from './node/budget.js';
export type { BudgetEvent } from './node/budget.js';
export type { ServerStats } from './node/server.js';
export { MessageEvent, CloseEvent, ErrorEvent } from './node/events.js';

// As with ws, the default export is the WebSocket class carrying the rest.
const wsDefault = Object.assign(WebSocket, { WebSocket, WebSocketServer, Server: WebSocketServer, createWebSocketStream });
export default wsDefault;
