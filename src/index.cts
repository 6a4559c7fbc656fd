// CommonJS entry: `require('wasmsocket')` is the WebSocket class itself, as with ws.
import WebSocket from './index.js';

export = WebSocket;
