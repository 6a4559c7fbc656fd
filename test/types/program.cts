// Written against @types/ws (CommonJS); the test swaps the module name.
import WebSocket = require('ws');
import http = require('node:http');

const wss = new WebSocket.WebSocketServer({ noServer: true });
const server = http.createServer();
server.on('upgrade', (req, socket, head) => {
  wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
    ws.on('message', (data: WebSocket.RawData, isBinary: boolean) => ws.send(data, { binary: isBinary }));
    ws.ping(Buffer.from('p'));
  });
});
const opts: WebSocket.ClientOptions = { perMessageDeflate: { threshold: 0 } };
const client: WebSocket = new WebSocket('ws://127.0.0.1:1', opts);
client.onmessage = (ev: WebSocket.MessageEvent) => { const d: WebSocket.Data = ev.data; console.log(d); };
const s: WebSocket.Server = new WebSocket.Server({ port: 0 } as WebSocket.ServerOptions);
const stream = WebSocket.createWebSocketStream(client);
console.log(s.clients, stream.readable, WebSocket.OPEN, client.readyState);
