// CommonJS entry: `require('wasmsocket')` is the WebSocket class itself, as with ws.
import wsDefault from './index.js';

export = wsDefault;
