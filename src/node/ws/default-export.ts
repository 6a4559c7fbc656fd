// ws's default export: the WebSocket class carrying the rest of the package
// (WebSocket.Server, WebSocket.createWebSocketStream...) and, for TypeScript, the
// namespace @types/ws declares on it (WebSocket.RawData, WebSocket.ClientOptions,
// WebSocket.Server as a type...), so programs typed against @types/ws compile with
// only the import changed. It sits at the top of the ws door: the class, the
// server and the stream below it never import it (no cycle, type imports included).
import type { ClientRequest } from 'node:http';
import { WebSocket as Connection, type ClientOptions } from './websocket.js';
import {
  WebSocketServer, type ServerOptions, type VerifyClientAsync, type VerifyClientSync,
} from './server.js';
import { createWebSocketStream } from './stream.js';
import { WebSocketStream } from './websocket-stream.js';
import { WebSocketError } from '../../web/stream-core.js';
import {
  CloseEvent, ErrorEvent, MessageEvent, type Event,
} from './events.js';
import type { PerMessageDeflateOptions } from '../deflate/permessage-deflate.js';

// The values ws (and this package) hang on the class.
const members = {
  WebSocket: Connection, WebSocketServer, Server: WebSocketServer, createWebSocketStream, WebSocketStream, WebSocketError,
  MessageEvent, CloseEvent, ErrorEvent,
};

/** The WebSocket class (the same object as websocket.ts's), with ws's members on it. */
export const WebSocket: typeof Connection & typeof members = Object.assign(Connection, members);
export type WebSocket = Connection;

// Module-level names for the namespace's members: a member may not name itself,
// and the declaration bundler gives an import renamed with `as` its own name back.
type WsClientOptions = ClientOptions;
type WsServerOptions = ServerOptions;
type WsPerMessageDeflateOptions = PerMessageDeflateOptions;
type WsEvent = Event;
type WsMessageEvent = MessageEvent;
type WsCloseEvent = CloseEvent;
type WsErrorEvent = ErrorEvent;
type WsServer = WebSocketServer;

// Types only: the values are on the const above (a namespace with values would
// collide with it).
export declare namespace WebSocket {
  type RawData = Buffer | ArrayBuffer | Buffer[];
  /** What a message event carries: text as a string, binary per binaryType (a Blob with 'blob'). */
  type Data = string | Buffer | ArrayBuffer | Buffer[] | Blob;
  type CertMeta = string | string[] | Buffer | Buffer[];
  type ClientOptions = WsClientOptions;
  type ServerOptions = WsServerOptions;
  type PerMessageDeflateOptions = WsPerMessageDeflateOptions;
  type VerifyClientCallbackSync = VerifyClientSync;
  type VerifyClientCallbackAsync = VerifyClientAsync;
  type FinishRequestCallback = (request: ClientRequest, websocket: Connection) => void;
  type Event = WsEvent;
  type MessageEvent = WsMessageEvent;
  type CloseEvent = WsCloseEvent;
  type ErrorEvent = WsErrorEvent;
  interface WebSocketEventMap { open: WsEvent; error: WsErrorEvent; close: WsCloseEvent; message: WsMessageEvent }
  interface EventListenerOptions { once?: boolean | undefined }
  interface AddressInfo { address: string; family: string; port: number }
  type WebSocket = Connection;
  type WebSocketServer = WsServer;
  type Server = WsServer;
}
