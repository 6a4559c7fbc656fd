// A child process holding many idle `ws` clients against a server on 127.0.0.1
// (the test process would run out of descriptors holding both ends of 10,000).
// argv: port count. Prints one JSON line per state change: {open, closed, pings}.
// Exits when stdin closes.
import { WebSocket } from 'ws';

const [port, count] = process.argv.slice(2).map(Number);
const BATCH = 200; // handshakes in flight at once: keeps the listen backlog from overflowing
let open = 0, closed = 0, pings = 0, started = 0, failed = 0;
const report = () => process.stdout.write(JSON.stringify({ open, closed, pings, failed }) + '\n');
const clients = [];

function connectOne() {
  if (started >= count) return;
  started++;
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false });
  clients.push(ws);
  ws.on('open', () => { open++; if (open === count) report(); connectOne(); });
  ws.on('ping', () => { pings++; });
  ws.on('error', () => { failed++; });
  ws.on('close', () => { closed++; if (open < count) connectOne(); });
}
for (let i = 0; i < BATCH; i++) connectOne();
const t = setInterval(report, 500);
process.stdin.on('data', (d) => { if (String(d).includes('report')) report(); });
process.stdin.on('end', () => {
  clearInterval(t);
  for (const ws of clients) ws.terminate();
  process.exit(0);
});
