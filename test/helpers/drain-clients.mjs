// A child process holding many `ws` clients against a server on 127.0.0.1,
// for the shutdown tests (the test process would run out of descriptors
// holding both ends of 5,000). argv: port count.
// Prints {"open": n} once all are open, then, when the last has closed (or on
// "report" from stdin), one summary line: {"closed", "codes": {code: n},
// "reasons": {reason: n}, "firstClose", "lastClose"} (close times in ms since
// the epoch, as seen here). Exits when stdin closes.
import { WebSocket } from 'ws';

const [port, count] = process.argv.slice(2).map(Number);
const BATCH = 200; // handshakes in flight at once: keeps the listen backlog from overflowing
const clients = [];
const codes = {}, reasons = {};
let open = 0, closed = 0, failed = 0, started = 0, firstClose = 0, lastClose = 0;

const summary = () => process.stdout.write(JSON.stringify({ closed, failed, codes, reasons, firstClose, lastClose }) + '\n');

function connectOne() {
  if (started >= count) return;
  started++;
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false });
  clients.push(ws);
  ws.on('open', () => {
    if (++open === count) process.stdout.write(JSON.stringify({ open }) + '\n');
    connectOne();
  });
  ws.on('error', () => { failed++; });
  ws.on('close', (code, reason) => {
    const now = Date.now();
    if (closed++ === 0) firstClose = now;
    lastClose = now;
    codes[code] = (codes[code] ?? 0) + 1;
    reasons[reason] = (reasons[reason] ?? 0) + 1;
    if (closed === count) summary();
  });
}
for (let i = 0; i < BATCH; i++) connectOne();
process.stdin.on('data', (d) => { if (String(d).includes('report')) summary(); });
process.stdin.on('end', () => {
  for (const ws of clients) ws.terminate();
  process.exit(0);
});
