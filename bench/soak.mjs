// Soak: many connections held for a while against a wasmsocket echo server in
// its own process, with a mix of behaviours, counting every message.
//
//   npm run soak                      10,000 connections, 60 s
//   node bench/soak.mjs --connections 2000 --seconds 20 --rate 2
//
// The server (this file with --server, from the built package: npm run build)
// echoes every message; it runs with idleTimeout and the default memory budget.
// The clients (`ws`, in this process) are:
//   steady      the rest: --rate (default 2) numbered messages of 20-300 bytes per second each
//   reconnect   1%: every ~10 s wait for their echoes, close cleanly, reconnect
//   big         0.2%: one 1 MiB message every 6 s, sent as 16 fragments of 64 KiB
//   slow        1%: stop reading for 1.5 s out of every 4 s
// Each echo is checked against what was sent, in order: it reports messages
// lost, out of order and corrupted (all must be 0) and the server's RSS at the
// start, with everyone connected, at peak and at the end (after a GC). Only
// 127.0.0.1; bounded: connecting, holding, draining and closing each have a
// deadline, and the whole run is killed past --seconds + 240 s.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { loadavg } from 'node:os';

const args = process.argv.slice(2);
const arg = (name, dflt) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : dflt; };

if (args.includes('--server')) await serve();
else await soak();

async function serve() {
  const { WebSocketServer } = await import('../dist/index.js');
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', backlog: 4096, idleTimeout: 30_000 });
  wss.on('connection', (ws) => {
    ws.on('error', () => {});
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  });
  wss.on('listening', () => process.send({ port: wss.address().port }));
  process.on('message', (m) => {
    if (m.cmd === 'stats') {
      if (m.gc) globalThis.gc?.();
      process.send({ id: m.id, rss: process.memoryUsage.rss(), clients: wss.clients.size, stats: wss.stats });
    } else if (m.cmd === 'exit') process.exit(0);
  });
  process.on('disconnect', () => process.exit(0));
}

async function soak() {
  const { WebSocket } = await import('ws');
  const N = Number(arg('--connections', 10_000));
  const SECONDS = Number(arg('--seconds', 60));
  // Messages per second per connection; each acts once every PERIOD ticks of 100 ms.
  const RATE = Math.min(10, Number(arg('--rate', 2)));
  const PERIOD = Math.max(1, Math.round(10 / RATE));
  const load = { start: loadavg()[0], end: 0 };
  const hardStop = setTimeout(() => { console.error('soak: hard deadline passed, aborting'); server.kill('SIGKILL'); process.exit(2); }, (SECONDS + 240) * 1000);
  hardStop.unref();

  const server = spawn(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), '--server'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const port = await new Promise((resolve, reject) => { server.once('message', (m) => resolve(m.port)); server.once('exit', () => reject(new Error('server exited'))); });
  let nextId = 0;
  const pending = new Map();
  const stats = (gc = false) => new Promise((resolve) => { const id = ++nextId; pending.set(id, resolve); server.send({ cmd: 'stats', id, gc }); });
  server.on('message', (m) => { pending.get(m.id)?.(m); pending.delete(m.id); });

  const rss = { start: (await stats(true)).rss, connected: 0, peak: 0, end: 0 };
  rss.peak = rss.start;
  const sampler = setInterval(async () => { const s = await stats(); rss.peak = Math.max(rss.peak, s.rss); }, 250);

  const totals = { sent: 0, received: 0, lost: 0, outOfOrder: 0, corrupted: 0, reconnects: 0, bigSent: 0, unexpectedCloses: 0, errors: 0 };
  const kinds = (i) => (i % 500 === 0 ? 'big' : i % 100 === 1 ? 'reconnect' : i % 100 === 2 ? 'slow' : 'steady');
  const clients = [];
  let stopping = false;

  // Payload of message `seq` of client `id`: deterministic, so an echo can be checked byte for byte.
  const text = (id, gen, seq) => `${id}:${gen}:${seq}:` + 'abcdefghijklmnopqrstuvwxyz0123456789'.repeat(8).slice(0, 20 + ((id * 31 + seq * 17) % 280));
  const bigBody = (id, seq) => { const b = Buffer.alloc(1024 * 1024); b.fill(`${id}-${seq}|`); return b; };
  const digest = (b) => createHash('sha1').update(b).digest('hex');

  class Client {
    constructor(id) { this.id = id; this.kind = kinds(id); this.gen = 0; this.slots = 0; this.open = false; this.connect(); }
    connect() {
      this.gen++;
      this.seq = 0;
      this.expect = []; // what the echoes must be, in order
      const ws = this.ws = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false });
      ws.on('open', () => {
        this.open = true;
        this.openedAt = Date.now();
        onOpen();
        if (stopping) ws.close(1000); // a reconnect that completed after the hold ended
      });
      ws.on('error', () => { totals.errors++; });
      ws.on('message', (data, isBinary) => this.onEcho(data, isBinary));
      ws.on('close', () => {
        this.open = false;
        if (!this.closing && !stopping) totals.unexpectedCloses++;
        totals.lost += this.expect.length;
        this.expect = [];
        if (this.closing && !stopping) { this.closing = false; totals.reconnects++; this.connect(); }
      });
    }
    onEcho(data, isBinary) {
      totals.received++;
      const want = this.expect.shift();
      if (want === undefined) { totals.corrupted++; return; }
      const ok = want.big ? isBinary && data.length === want.length && digest(data) === want.hash : !isBinary && data.toString() === want.text;
      if (ok) { this.afterEcho(); return; }
      // Not the head: a later one (something lost or reordered), or garbage.
      const at = this.expect.findIndex((w) => (w.big ? isBinary && digest(data) === w.hash : data.toString() === w.text));
      if (at >= 0) { totals.outOfOrder++; this.expect.splice(at, 1); this.expect.unshift(want); } else totals.corrupted++;
      this.afterEcho();
    }
    afterEcho() {
      if (this.closing && this.expect.length === 0) this.ws.close(1000);
    }
    sendText() {
      if (!this.open || this.closing) return;
      const t = text(this.id, this.gen, this.seq++);
      this.expect.push({ text: t });
      this.ws.send(t);
      totals.sent++;
    }
    sendBig() {
      if (!this.open || this.closing) return;
      const body = bigBody(this.id, this.seq++);
      this.expect.push({ big: true, length: body.length, hash: digest(body) });
      for (let off = 0; off < body.length; off += 65536) this.ws.send(body.subarray(off, off + 65536), { binary: true, fin: off + 65536 >= body.length });
      totals.sent++;
      totals.bigSent++;
    }
    reconnectSoon() {
      if (!this.open || this.closing) return;
      this.closing = true;
      if (this.expect.length === 0) this.ws.close(1000);
    }
  }

  let opened = 0;
  const onOpen = () => { opened++; };
  // Connect in waves of 500 handshakes in flight (the listen backlog is 4096).
  const t0 = Date.now();
  for (let i = 0; i < N; i++) {
    clients.push(new Client(i));
    if (i % 500 === 499) await until(() => opened >= i + 1 - 100, 60_000, 'connect wave');
  }
  await until(() => opened >= N, 120_000, `${N} connections`);
  const connectSecs = (Date.now() - t0) / 1000;
  rss.connected = (await stats()).rss;
  console.log(`soak: ${N} connections open in ${connectSecs.toFixed(1)} s; holding ${SECONDS} s`);

  // One 100 ms tick drives everyone: each client acts in its own slot of the cycle.
  let tick = 0;
  const holdStart = Date.now();
  const driver = setInterval(() => {
    tick++;
    for (let i = tick % PERIOD; i < clients.length; i += PERIOD) {
      const c = clients[i];
      if (c.kind === 'big') { if (++c.slots % 3 === 0) c.sendBig(); else c.sendText(); continue; }
      c.sendText();
      if (c.kind === 'reconnect' && Date.now() - c.openedAt > 10_000) c.reconnectSoon();
    }
    // Slow readers stop reading for 1.5 s of every 4 s.
    const phase = tick % 40;
    if (phase === 0 || phase === 15) for (const c of clients) if (c.kind === 'slow' && c.open) (phase === 0 ? c.ws.pause() : c.ws.resume());
  }, 100);
  const progress = setInterval(() => console.log(`soak: ${((Date.now() - holdStart) / 1000).toFixed(0)} s, sent ${totals.sent}, received ${totals.received}, reconnects ${totals.reconnects}, server RSS peak ${mb(rss.peak)}`), 10_000);
  await sleep(SECONDS * 1000);
  clearInterval(driver);
  clearInterval(progress);
  for (const c of clients) if (c.kind === 'slow' && c.open) c.ws.resume();
  // Drain: every echo still owed should arrive.
  const owed = () => clients.reduce((s, c) => s + c.expect.length, 0);
  await until(() => owed() === 0 && clients.every((c) => c.open || !c.closing), 30_000, 'echoes to drain').catch((e) => console.error(`soak: ${e.message}`));
  const holdSecs = (Date.now() - holdStart) / 1000;
  load.end = loadavg()[0];
  const serverStats = (await stats()).stats;
  stopping = true;
  totals.lost += owed();
  for (const c of clients) c.expect = [];
  for (const c of clients) if (c.open) c.ws.close(1000);
  await until(() => clients.every((c) => !c.open && c.ws.readyState === WebSocket.CLOSED), 30_000,
    () => `clients to close (${clients.filter((c) => c.ws.readyState !== WebSocket.CLOSED).length} still not closed)`).catch((e) => console.error(`soak: ${e.message}`));
  const s = await until(async () => (await stats()).clients === 0, 30_000, 'server to see every close').catch(() => undefined);
  void s;
  await sleep(500);
  rss.end = (await stats(true)).rss;
  clearInterval(sampler);
  server.send({ cmd: 'exit' });

  const result = {
    connections: N, seconds: Math.round(holdSecs), targetRate: `${RATE}/s per connection`,
    achievedRate: `${(totals.sent / SECONDS).toFixed(0)}/s (${(totals.sent / SECONDS / N).toFixed(2)} per connection)`,
    loadAverage: `${load.start.toFixed(1)} at start, ${load.end.toFixed(1)} at end`, messagesSent: totals.sent, echoesReceived: totals.received, big1MiB: totals.bigSent,
    reconnects: totals.reconnects, lost: totals.lost, outOfOrder: totals.outOfOrder, corrupted: totals.corrupted,
    unexpectedCloses: totals.unexpectedCloses, clientErrors: totals.errors,
    serverRss: { start: mb(rss.start), connected: mb(rss.connected), peak: mb(rss.peak), end: mb(rss.end) },
    server: serverStats,
  };
  console.log(JSON.stringify(result, null, 1));
  const ok = totals.lost === 0 && totals.outOfOrder === 0 && totals.corrupted === 0 && totals.unexpectedCloses === 0;
  console.log(ok ? 'soak: PASS (0 lost, 0 out of order, 0 corrupted)' : 'soak: FAIL');
  process.exit(ok ? 0 : 1);
}

function mb(n) { return `${(n / 2 ** 20).toFixed(0)} MiB`; }
function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }
async function until(cond, ms, what) {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${typeof what === 'function' ? what() : what}`);
    await sleep(20);
  }
}
