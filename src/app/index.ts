// wasmsocket/app: uWebSockets.js's API on Node's raw TCP handles (in progress:
// plain HTTP routes and the WebSocket upgrade's handshake; README "Coming from
// uWebSockets.js (in progress)" says what works and what does not yet).
import { TemplatedApp, ListenSocket, type AppOptions } from './app.js';
import { nodePlatform } from './node-platform.js';

export { TemplatedApp, ListenSocket, WebSocketContext, type AppOptions, type HttpHandler, type WebSocketBehavior } from './app.js';
export { HttpResponse, type RecognizedString } from './http-response.js';
export { HttpRequest } from './http-request.js';
export * from './compression.js';

/** A plain-TCP App (TLS is expected to end in front of it). */
export function App(options?: AppOptions): TemplatedApp {
  return new TemplatedApp(nodePlatform, options);
}

/** Stops listening on the socket a listen callback was given. */
export function us_listen_socket_close(listenSocket: ListenSocket): void {
  if (listenSocket instanceof ListenSocket) listenSocket.close();
}

/** The local port of a listen socket, or -1. */
export function us_socket_local_port(socket: ListenSocket): number {
  return socket instanceof ListenSocket ? socket.acceptor.port : -1;
}
