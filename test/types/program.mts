// Written against @types/ws; the test swaps the module name.
import WebSocket, { WebSocketServer, createWebSocketStream } from 'ws';
import type { RawData, ServerOptions, ClientOptions } from 'ws';
import http from 'node:http';

const server = http.createServer();
const wss = new WebSocketServer({ noServer: true, perMessageDeflate: { threshold: 0 } });
server.on('upgrade', (req, socket, head) => {
  wss.handleUpgrade(req, socket, head, (ws) => {
    wss.emit('connection', ws, req);
  });
});
wss.on('connection', (ws: WebSocket, req: http.IncomingMessage) => {
  ws.on('message', (data: RawData, isBinary: boolean) => {
    ws.send(data, { binary: isBinary });
  });
  ws.on('close', (code: number, reason: Buffer) => console.log(code, reason.toString(), req.url));
  ws.ping();
  ws.on('pong', (buf: Buffer) => console.log(buf.length));
});
const opts: WebSocket.ClientOptions = { perMessageDeflate: false, handshakeTimeout: 1000, headers: { 'x-a': 'b' } };
const named: ClientOptions = opts;
const sopts: WebSocket.ServerOptions = { port: 0, clientTracking: false };
const snamed: ServerOptions = sopts;
const client = new WebSocket('ws://127.0.0.1:1', ['chat'], named);
client.onmessage = (ev: WebSocket.MessageEvent) => {
  const d: WebSocket.Data = ev.data;
  console.log(d);
};
client.onclose = (ev: WebSocket.CloseEvent) => console.log(ev.code, ev.reason, ev.wasClean);
client.binaryType = 'arraybuffer';
const dup = createWebSocketStream(client, { encoding: 'utf8' });
dup.on('data', (c: string) => console.log(c));
if (client.readyState === WebSocket.OPEN) client.close(1000, 'bye');
const s4: WebSocketServer = new WebSocketServer(snamed);
console.log(s4.options.noServer, client.bufferedAmount, client.CLOSED);
