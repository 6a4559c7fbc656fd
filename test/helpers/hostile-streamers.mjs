// A child process of hostile peers for the memory budget test: each opens a
// WebSocket by hand on 127.0.0.1 and streams one binary message it never
// finishes, as fast as the server reads. argv: port count mode perPeerBytes
//   mode 'fragments': 64 KiB non-final fragments (the server's buffer grows as bytes arrive)
//   mode 'frame': one frame announcing perPeerBytes, of which half is sent
// Prints JSON lines {connected, closed, sent, codes: {code: n}}; exits when stdin closes.
import net from 'node:net';

const [port, count, mode, perPeer] = [Number(process.argv[2]), Number(process.argv[3]), process.argv[4], Number(process.argv[5])];
const CHUNK = 64 * 1024;
const KEY = Buffer.from([1, 2, 3, 4]);
const body = Buffer.alloc(CHUNK, 0x61);
// Masked with a key of 1,2,3,4: the payload bytes do not matter to the test.
const frag = (first) => Buffer.concat([Buffer.from([first ? 0x02 : 0x00, 0x80 | 127, 0, 0, 0, 0, 0, 1, 0, 0]), KEY, body]);
let connected = 0, closed = 0, sent = 0;
const codes = {};
const report = () => process.stdout.write(JSON.stringify({ connected, closed, sent, codes }) + '\n');

function peer() {
  const s = net.connect(port, '127.0.0.1');
  let upgraded = false, head = Buffer.alloc(0), left = perPeer, first = true, gotClose = false;
  s.on('connect', () => s.write(`GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`));
  const pump = () => {
    while (left > 0 && !s.destroyed) {
      let buf;
      if (mode === 'frame') {
        if (first) {
          const h = Buffer.from([0x82, 0x80 | 127, 0, 0, 0, 0, 0, 0, 0, 0]);
          h.writeUInt32BE(perPeer * 2, 6);
          buf = Buffer.concat([h, KEY, body]);
        } else buf = body;
      } else buf = frag(first);
      first = false;
      left -= CHUNK;
      sent += CHUNK;
      if (!s.write(buf)) { s.once('drain', pump); return; }
    }
  };
  s.on('data', (d) => {
    if (!upgraded) {
      head = Buffer.concat([head, d]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      upgraded = true;
      connected++;
      d = head.subarray(end + 4);
      pump();
    }
    if (!gotClose && d.length >= 4 && d[0] === 0x88) {
      gotClose = true;
      const code = d.readUInt16BE(2);
      codes[code] = (codes[code] ?? 0) + 1;
    }
  });
  s.on('error', () => {});
  s.on('close', () => { closed++; });
}
for (let i = 0; i < count; i++) peer();
const t = setInterval(report, 100);
process.stdin.on('data', () => report());
process.stdin.on('end', () => { clearInterval(t); process.exit(0); });
