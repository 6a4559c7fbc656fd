// Subscribers of the multi-process Redis scenario: raw WebSocket clients over
// `net` that count the messages they receive by walking frame headers (payloads
// are not copied or decoded), so the count costs little next to the servers.
//
//   node bench/redis-subscribers.mjs '<json {kind, ports, perPort}>'
//
// kind 'socketio' speaks Engine.IO 4 / Socket.IO 5 just enough: it connects to
// the default namespace ("40"), answers pings ("2" -> "3") and counts "42" events.
// Reports {op:'ready'} once every client is connected, then {op:'count', frames}
// every 5 ms (the parent's flow control runs on it).
import net from 'node:net';
import { randomBytes } from 'node:crypto';

const { kind, ports, perPort } = JSON.parse(process.argv[2]);
const path = kind === 'socketio' ? '/socket.io/?EIO=4&transport=websocket' : '/';
let frames = 0;
let ready = 0;
const total = ports.length * perPort;

function maskedText(text) {
  const payload = Buffer.from(text);
  const mask = randomBytes(4);
  const out = Buffer.alloc(6 + payload.length);
  out[0] = 0x81; out[1] = 0x80 | payload.length;
  mask.copy(out, 2);
  for (let i = 0; i < payload.length; i++) out[6 + i] = payload[i] ^ mask[i & 3];
  return out;
}

function connect(port) {
  const socket = net.connect(port, '127.0.0.1');
  socket.setNoDelay(true);
  let upgraded = false;
  let connected = false;
  let rest = null;
  socket.on('connect', () => {
    socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  });
  const onReady = () => { if (!connected) { connected = true; ready++; if (ready === total) process.send({ op: 'ready' }); } };
  socket.on('data', (chunk) => {
    if (!upgraded) {
      const end = chunk.indexOf('\r\n\r\n');
      if (end === -1) return;
      upgraded = true;
      if (kind !== 'socketio') onReady();
      chunk = chunk.subarray(end + 4);
    }
    if (rest) { chunk = Buffer.concat([rest, chunk]); rest = null; }
    let i = 0;
    for (;;) {
      if (chunk.length - i < 2) break;
      let len = chunk[i + 1] & 127, hl = 2;
      if (len === 126) { if (chunk.length - i < 4) break; len = chunk.readUInt16BE(i + 2); hl = 4; }
      else if (len === 127) { if (chunk.length - i < 10) break; len = Number(chunk.readBigUInt64BE(i + 2)); hl = 10; }
      if (chunk.length - i < hl + len) break;
      const p = i + hl;
      if (kind !== 'socketio') frames++;
      else if (chunk[p] === 0x34 && chunk[p + 1] === 0x32) frames++; // "42": an event
      else if (chunk[p] === 0x30) socket.write(maskedText('40')); // "0{...}": open; connect the namespace
      else if (chunk[p] === 0x34 && chunk[p + 1] === 0x30) onReady(); // "40{...}": namespace connected
      else if (chunk[p] === 0x32) socket.write(maskedText('3')); // ping -> pong
      i = p + len;
    }
    if (i < chunk.length) rest = Buffer.from(chunk.subarray(i));
  });
  socket.on('error', (err) => { process.send({ op: 'error', error: String(err.message) }); });
}

for (const port of ports) for (let i = 0; i < perPort; i++) connect(port);
setInterval(() => process.send({ op: 'count', frames }), 5);
process.on('disconnect', () => process.exit(0));
