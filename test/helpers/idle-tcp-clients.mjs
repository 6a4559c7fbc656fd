// A child process holding many idle raw TCP connections to 127.0.0.1:port (the
// test process would run out of descriptors holding both ends). Each sends
// `first` (possibly nothing: a connection that has not started its head yet).
// argv: port count first. Prints {open} once all are connected; exits when stdin closes.
import net from 'node:net';

const [port, count] = process.argv.slice(2, 4).map(Number);
const first = process.argv[4] ?? '';
const BATCH = 200; // connects in flight at once: keeps the listen backlog from overflowing
let open = 0, started = 0, failed = 0;
const sockets = [];

function connectOne() {
  if (started >= count) return;
  started++;
  const s = net.connect(port, '127.0.0.1', () => {
    if (first !== '') s.write(first);
    open++;
    if (open === count) process.stdout.write(JSON.stringify({ open, failed }) + '\n');
    connectOne();
  });
  s.on('error', () => { failed++; });
  sockets.push(s);
}
for (let i = 0; i < BATCH; i++) connectOne();
process.stdin.resume();
process.stdin.on('end', () => {
  for (const s of sockets) s.destroy();
  process.exit(0);
});
