// The Worker that runs-all.mjs serves with `workerd serve` (config from config.mjs):
//   GET /vectors            the codec vectors (runtimes/vectors-runner.mjs), build by feature detection
//   GET /vectors?scalar=1   the same with the scalar build forced
//   GET /client?port=N      WebSocketStream from wasmsocket/web against a WebSocket echo server on 127.0.0.1:N
// Each answers JSON. The vector data is bundled into the Worker at build time.
import * as codec from 'wasmsocket/codec';
import simdModule from 'wasmsocket/wasm';
import scalarModule from 'wasmsocket/wasm/scalar';
import { runVectors } from '../vectors-runner.mjs';
import rfc6455 from '../vectors/rfc6455.json';
import utf8 from '../../test/vectors/utf8.json';
import roundtrip from '../vectors/roundtrip.json';
import deflate from '../vectors/deflate.json';
import { connect } from 'cloudflare:sockets';
import { Connection, StreamTransport, WebSocketError, WebSocketStream, clientHandshake } from 'wasmsocket/web';

const DATA: Record<string, unknown> = { rfc6455, utf8, roundtrip, deflate };
const te = new TextEncoder();

interface Check { name: string; ok: boolean; error?: string }

function seeded(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) { x = (Math.imul(x, 1103515245) + 12345) >>> 0; out[i] = x >>> 24; }
  return out;
}

function same(a: Uint8Array, b: Uint8Array, what: string): void {
  if (a.length !== b.length) throw new Error(`${what}: ${a.length} bytes, expected ${b.length}`);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) throw new Error(`${what}: byte ${i} differs`);
}

type Chunk = string | Uint8Array;

/** Reads the next message, bounded. */
async function next(reader: ReadableStreamDefaultReader<Chunk>, ms = 5000): Promise<Chunk> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const r = await Promise.race([reader.read(), new Promise<never>((_, j) => { timer = setTimeout(() => j(new Error(`no message within ${ms} ms`)), ms); })])
    .finally(() => clearTimeout(timer));
  if (r.done) throw new Error('the readable ended');
  return r.value;
}

function bounded<R>(p: Promise<R>, what: string, ms = 5000): Promise<R> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([p, new Promise<never>((_, j) => { timer = setTimeout(() => j(new Error(`timed out waiting for ${what}`)), ms); })])
    .finally(() => clearTimeout(timer));
}

async function clientScenarios(port: number): Promise<Check[]> {
  const checks: Check[] = [];
  const check = async (name: string, fn: () => Promise<void>) => {
    try { await fn(); checks.push({ name, ok: true }); } catch (e) { checks.push({ name, ok: false, error: String((e as Error)?.message ?? e) }); }
  };
  // WebSocketStream from wasmsocket/web: over connect() from cloudflare:sockets (what its workerd entry registers).
  const open = async () => {
    const ws = new WebSocketStream(`ws://127.0.0.1:${port}/workerd`);
    const { readable, writable } = await bounded(ws.opened, 'opened');
    return { ws, reader: readable.getReader(), writer: writable.getWriter() };
  };
  const echo = (name: string, payload: string | Uint8Array) => check(name, async () => {
    const { ws, reader, writer } = await open();
    await writer.write(payload);
    const m = await next(reader);
    if (typeof m !== typeof payload) throw new Error(`a ${typeof m} came back for a ${typeof payload}`);
    if (typeof payload === 'string') { if (m !== payload) throw new Error('text differs'); }
    else same(m as Uint8Array, payload, 'echo');
    ws.close({ closeCode: 1000 });
    await bounded(ws.closed, 'closed');
  });

  await echo('text echo', 'hello from workerd ✓');
  await echo('binary echo (1 KiB)', seeded(1024, 1));
  await echo('binary echo (64 KiB)', seeded(64 * 1024, 2));
  await echo('text echo (64 KiB, multi-byte)', 'ü✓😀 '.repeat(6554));
  await check('ping -> pong with the same payload (Connection from wasmsocket/web on a connect() socket)', async () => {
    // WebSocketStream has no ping; the package's lower layer does.
    const socket = connect({ hostname: '127.0.0.1', port });
    const transport = new StreamTransport(socket);
    const hs = await bounded(clientHandshake(transport, new URL(`ws://127.0.0.1:${port}/workerd`), []), 'handshake');
    let pong: Uint8Array | undefined;
    let closed: { code: number; reason: string } | undefined;
    const conn = new Connection(transport, {
      onMessage() {},
      onPong: (d) => { pong = d; },
      onClose: (code, reason) => { closed = { code, reason }; },
    }, { isServer: false });
    const running = transport.run(conn, hs.rest);
    conn.ping(te.encode('ping from workerd'));
    for (let i = 0; i < 500 && !pong; i++) await new Promise((r) => setTimeout(r, 10));
    if (!pong) throw new Error('no pong');
    same(pong, te.encode('ping from workerd'), 'pong payload');
    conn.close(1000);
    await bounded(running, 'the connection to end');
    if (closed?.code !== 1000) throw new Error(`closed ${JSON.stringify(closed)}`);
  });
  for (const code of [1000, 3000, 4000, 4999]) {
    await check(`close ${code}: the server echoes code and reason`, async () => {
      const { ws } = await open();
      ws.close({ closeCode: code, reason: `workerd ${code}` });
      const c = await bounded(ws.closed, 'closed');
      if (c.closeCode !== code || c.reason !== `workerd ${code}`) throw new Error(`close ${c.closeCode} '${c.reason}'`);
    });
  }
  await check('writable.abort(WebSocketError 3001) closes with its code and reason', async () => {
    const { ws, writer } = await open();
    await writer.abort(new WebSocketError('', { closeCode: 3001, reason: 'aborted' })).catch(() => {});
    const c = await bounded(ws.closed, 'closed');
    if (c.closeCode !== 3001 || c.reason !== 'aborted') throw new Error(`close ${c.closeCode} '${c.reason}'`);
  });
  await check('server-initiated close 4002: reported, and answered', async () => {
    const { ws, reader, writer } = await open();
    await writer.write('close-me 4002');
    const end = await bounded(reader.read(), 'end of the readable');
    if (!end.done) throw new Error('a message instead of the end');
    const c = await bounded(ws.closed, 'closed');
    if (c.closeCode !== 4002 || c.reason !== 'server bye') throw new Error(`close ${c.closeCode} '${c.reason}'`);
  });
  await check('permessage-deflate negotiated (WebSocketStream offers it); 200 KB of text compressed both ways', async () => {
    const ws = new WebSocketStream(`ws://127.0.0.1:${port}/workerd`);
    const { readable, writable, extensions } = await bounded(ws.opened, 'opened');
    if (!extensions.includes('permessage-deflate')) throw new Error(`extensions: '${extensions}'`);
    const text = 'workerd compresses this line, the Node server too; '.repeat(4000);
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
  return checks;
}

export default {
  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    try {
      if (url.pathname === '/vectors') {
        const scalar = url.searchParams.get('scalar') === '1';
        const result = await runVectors(codec, async (name: string) => DATA[name],
          scalar ? { scalar: 'api', scalarModule } : {});
        if (scalar) {
          // Back to the build feature detection picks, for later requests.
          codec.forceScalar(false);
          await codec.initCodec(codec.simdSupported() ? simdModule : scalarModule);
        }
        return Response.json(result);
      }
      if (url.pathname === '/client') {
        return Response.json({ checks: await clientScenarios(Number(url.searchParams.get('port'))) });
      }
      return new Response('not found', { status: 404 });
    } catch (e) {
      return Response.json({ error: String((e as Error)?.stack ?? e) }, { status: 500 });
    }
  },
};
