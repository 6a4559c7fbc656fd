// WebSocketStream client scenarios against our Node echo server (which closes
// with `<code> server bye` when sent `close-me <code>`), in any runtime:
// the Worker (runtimes/workerd/worker.ts) imports them; Deno and Bun run this
// file from a project with the packed package:
//   deno run --allow-net=127.0.0.1 stream-client.mjs <port>   |   bun stream-client.mjs <port>
// which prints `CHECKS [{ name, ok, error? }]`. The WebSocketStream comes from
// wasmsocket/web and opens its TCP connection the runtime's way (Deno.connect,
// Bun.connect through the package's adapter, connect() from cloudflare:sockets).
import { WebSocketError, WebSocketStream } from 'wasmsocket/web';

const T = 5000;

function bounded(p, what, ms = T) {
  let timer;
  return Promise.race([p, new Promise((_, j) => { timer = setTimeout(() => j(new Error(`timed out waiting for ${what}`)), ms); })])
    .finally(() => clearTimeout(timer));
}

function seeded(n, seed) {
  const out = new Uint8Array(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) { x = (Math.imul(x, 1103515245) + 12345) >>> 0; out[i] = x >>> 24; }
  return out;
}

function same(a, b, what) {
  if (a.length !== b.length) throw new Error(`${what}: ${a.length} bytes, expected ${b.length}`);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) throw new Error(`${what}: byte ${i} differs`);
}

async function next(reader) {
  const r = await bounded(reader.read(), 'a message');
  if (r.done) throw new Error('the readable ended');
  return r.value;
}

/** Runs the scenarios against ws://127.0.0.1:<port>; resolves [{ name, ok, error? }]. */
export async function streamClientScenarios(port, label) {
  const checks = [];
  const check = async (name, fn) => {
    try { await fn(); checks.push({ name: `${label}: ${name}`, ok: true }); } catch (e) { checks.push({ name: `${label}: ${name}`, ok: false, error: String(e?.message ?? e) }); }
  };
  const open = async () => {
    const ws = new WebSocketStream(`ws://127.0.0.1:${port}/${label}`);
    const { readable, writable } = await bounded(ws.opened, 'opened');
    return { ws, reader: readable.getReader(), writer: writable.getWriter() };
  };
  const echo = (name, payload) => check(name, async () => {
    const { ws, reader, writer } = await open();
    await writer.write(payload);
    const m = await next(reader);
    if (typeof m !== typeof payload) throw new Error(`a ${typeof m} came back for a ${typeof payload}`);
    if (typeof payload === 'string') { if (m !== payload) throw new Error('text differs'); } else same(m, payload, 'echo');
    ws.close({ closeCode: 1000 });
    await bounded(ws.closed, 'closed');
  });

  await echo('text echo', `hello from ${label} ✓`);
  await echo('binary echo (1 KiB)', seeded(1024, 1));
  await echo('binary echo (64 KiB)', seeded(64 * 1024, 2));
  await echo('binary echo (1 MiB)', seeded(1 << 20, 3));
  await echo('text echo (64 KiB, multi-byte)', 'ü✓😀 '.repeat(6554));
  for (const code of [1000, 3000, 4000, 4999]) {
    await check(`close ${code}: the server echoes code and reason`, async () => {
      const { ws } = await open();
      ws.close({ closeCode: code, reason: `${label} ${code}` });
      const c = await bounded(ws.closed, 'closed');
      if (c.closeCode !== code || c.reason !== `${label} ${code}`) throw new Error(`close ${c.closeCode} '${c.reason}'`);
    });
  }
  await check('writable.abort(WebSocketError 3001) closes with its code and reason', async () => {
    const { ws, writer } = await open();
    await writer.abort(new WebSocketError('', { closeCode: 3001, reason: 'aborted' })).catch(() => {});
    const c = await bounded(ws.closed, 'closed');
    if (c.closeCode !== 3001 || c.reason !== 'aborted') throw new Error(`close ${c.closeCode} '${c.reason}'`);
  });
  await check('server-initiated close 4002: the readable ends, closed resolves', async () => {
    const { ws, reader, writer } = await open();
    await writer.write('close-me 4002');
    const end = await bounded(reader.read(), 'end of the readable');
    if (!end.done) throw new Error('a message instead of the end');
    const c = await bounded(ws.closed, 'closed');
    if (c.closeCode !== 4002 || c.reason !== 'server bye') throw new Error(`close ${c.closeCode} '${c.reason}'`);
  });
  await check('permessage-deflate negotiated (WebSocketStream offers it); 200 KB of text compressed both ways', async () => {
    const ws = new WebSocketStream(`ws://127.0.0.1:${port}/${label}`);
    const { readable, writable, extensions } = await bounded(ws.opened, 'opened');
    if (!extensions.includes('permessage-deflate')) throw new Error(`extensions: '${extensions}'`);
    const text = `${label} compresses this line, the Node server too; `.repeat(4000);
    const reader = readable.getReader();
    await writable.getWriter().write(text);
    if ((await next(reader)) !== text) throw new Error('text differs');
    ws.close({ closeCode: 1000 });
    await bounded(ws.closed, 'closed');
  });
  await check('100 messages echoed in order', async () => {
    const { ws, reader, writer } = await open();
    for (let i = 0; i < 100; i++) void writer.write(`#${i}`);
    for (let i = 0; i < 100; i++) {
      const m = await next(reader);
      if (m !== `#${i}`) throw new Error(`message ${i} is ${String(m)}`);
    }
    ws.close();
    await bounded(ws.closed, 'closed');
  });
  await check('abort by signal while connecting rejects opened with the reason', async () => {
    const ctrl = new AbortController();
    const ws = new WebSocketStream(`ws://127.0.0.1:${port}/${label}`, { signal: ctrl.signal });
    ctrl.abort(new Error('changed my mind'));
    const e = await bounded(ws.opened.then(() => null, (err) => err), 'opened rejects');
    if (e?.message !== 'changed my mind') throw new Error(`opened: ${e}`);
  });
  return checks;
}

if (import.meta.main) {
  const g = globalThis;
  const args = g.Deno ? g.Deno.args : g.Bun.argv.slice(2);
  const checks = await streamClientScenarios(Number(args[0]), g.Deno ? 'deno' : 'bun');
  console.log(`CHECKS ${JSON.stringify(checks)}`);
  if (g.Deno) g.Deno.exit(0); else g.process.exit(0);
}
