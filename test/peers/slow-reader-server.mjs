// The reading side of the slow-reader test (test/websocket-stream-memory.test.ts),
// in its own process so that its memory is its own: a server on 127.0.0.1 whose
// one connection is a WebSocketStream read slowly (a pause after every
// message). mode "node": our WebSocketServer + WebSocketStream.from(ws);
// mode "web": wasmsocket/web accept() on a node:net server (Duplex.toWeb).
// Prints `LISTENING <port>`, then `RESULT {...}` once `total` bytes were read:
// bytes, whether every message carried its expected fill, and the peaks of
// process.memoryUsage() above the baseline taken before the connection.
import net from 'node:net';
import { Duplex } from 'node:stream';

const [distDir, mode, totalArg, pauseArg] = process.argv.slice(2);
const total = Number(totalArg);
const pauseMs = Number(pauseArg);

// Run with --expose-gc: `live` is sampled after a full GC (what is
// really held), `rss`/`arrayBuffers` every 10 ms (garbage included).
const mem = () => process.memoryUsage();
globalThis.gc();
const base = mem();
const peak = { rss: 0, arrayBuffers: 0, heapUsed: 0, live: 0 };
const sample = () => {
  const m = mem();
  peak.rss = Math.max(peak.rss, m.rss - base.rss);
  peak.arrayBuffers = Math.max(peak.arrayBuffers, m.arrayBuffers - base.arrayBuffers);
  peak.heapUsed = Math.max(peak.heapUsed, m.heapUsed - base.heapUsed);
};
// Twice, a turn apart: V8 frees ArrayBuffer backing stores concurrently, so a
// sample right after one gc() can still count just-collected messages.
const sampleLive = async () => {
  globalThis.gc();
  await new Promise((r) => setTimeout(r, 5));
  globalThis.gc();
  const m = mem();
  peak.live = Math.max(peak.live, m.arrayBuffers + m.heapUsed - base.arrayBuffers - base.heapUsed);
};
const sampler = setInterval(sample, 10);

async function readSlowly(stream) {
  const { readable } = await stream.opened;
  let bytes = 0;
  let i = 0;
  let intact = true;
  for await (const m of readable) {
    intact &&= m instanceof Uint8Array && m[0] === (i & 255) && m[m.length - 1] === (i & 255);
    bytes += m.length;
    i++;
    sample();
    if (i % 64 === 0) await sampleLive(); // every 4 MiB of 64 KiB messages
    if (bytes >= total) break;
    await new Promise((r) => setTimeout(r, pauseMs));
  }
  clearInterval(sampler);
  console.log(`RESULT ${JSON.stringify({ bytes, messages: i, intact, peak })}`);
  stream.close({ closeCode: 1000, reason: 'read all' });
  await stream.closed.catch(() => {});
  setTimeout(() => process.exit(0), 100);
}

if (mode === 'node') {
  const { WebSocketServer, WebSocketStream } = await import(`${distDir}/index.js`);
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', maxPayload: 1 << 20 });
  wss.on('connection', (ws) => { void readSlowly(WebSocketStream.from(ws)); });
  wss.on('listening', () => console.log(`LISTENING ${wss.address().port}`));
} else {
  const { accept } = await import(`${distDir}/web.js`);
  const server = net.createServer((sock) => { accept(Duplex.toWeb(sock), { maxPayload: 1 << 20 }).then(readSlowly, () => {}); });
  server.listen(0, '127.0.0.1', () => console.log(`LISTENING ${server.address().port}`));
}
setTimeout(() => { console.log('RESULT {"error":"timeout"}'); process.exit(1); }, 120_000).unref();
