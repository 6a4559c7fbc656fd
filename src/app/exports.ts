// What wasmsocket/app exports in every runtime but App() itself, which each
// entry binds to its runtime's platform (index.ts: Node; src/entries/app-deno.ts,
// app-bun.ts). No Node imports.
import { ListenSocket } from './app.js';

export { TemplatedApp, ListenSocket, WebSocketContext, type AppOptions, type HttpHandler, type WebSocketBehavior } from './app.js';
export { HttpResponse, type RecognizedString } from './http-response.js';
export { HttpRequest } from './http-request.js';
export * from './compression.js';
export { LIBUS_LISTEN_DEFAULT, LIBUS_LISTEN_EXCLUSIVE_PORT } from './acceptor.js';
export { ThreadBroker, type ThreadBrokerOptions } from '../core/thread-broker.js';
export type { Broker, BrokerSink } from '../core/broker.js';
export type { WebSocket } from './websocket.js';
export type { AppShutdownOptions, AppShutdownResult } from './shutdown.js';
export { MemoryBudget, type BudgetEvent } from '../core/budget.js';

/** Stops listening on the socket a listen callback was given. */
export function us_listen_socket_close(listenSocket: ListenSocket): void {
  if (listenSocket instanceof ListenSocket) listenSocket.close();
}

/** The local port of a listen socket, or -1. */
export function us_socket_local_port(socket: ListenSocket): number {
  return socket instanceof ListenSocket ? socket.acceptor.port : -1;
}
