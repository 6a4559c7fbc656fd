// The Worker that runs-all.mjs serves with `workerd serve` (config from config.mjs):
//   GET /vectors            the codec vectors (runtimes/vectors-runner.mjs), build by feature detection
//   GET /vectors?scalar=1   the same with the scalar build forced
//   GET /client?port=N      WorkerWebSocket (ws-client.ts) against a WebSocket echo server on 127.0.0.1:N
// Each answers JSON. The vector data is bundled into the Worker at build time.
import * as codec from 'wasmsocket/codec';
import simdModule from 'wasmsocket/wasm';
import scalarModule from 'wasmsocket/wasm/scalar';
import { runVectors } from '../vectors-runner.mjs';
import rfc6455 from '../vectors/rfc6455.json';
import utf8 from '../../test/vectors/utf8.json';
import roundtrip from '../vectors/roundtrip.json';
import deflate from '../vectors/deflate.json';
import { WorkerWebSocket, type ClientEvent } from './ws-client.ts';

const DATA: Record<string, unknown> = { rfc6455, utf8, roundtrip, deflate };
const te = new TextEncoder();
const td = new TextDecoder();

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

async function expectEvent<T extends ClientEvent['type']>(ws: WorkerWebSocket, type: T): Promise<Extract<ClientEvent, { type: T }>> {
  const e = await ws.next();
  if (e.type !== type) throw new Error(`expected ${type}, got ${JSON.stringify({ ...e, data: undefined })}`);
  return e as Extract<ClientEvent, { type: T }>;
}

async function clientScenarios(port: number): Promise<Check[]> {
  const checks: Check[] = [];
  const check = async (name: string, fn: () => Promise<void>) => {
    try { await fn(); checks.push({ name, ok: true }); } catch (e) { checks.push({ name, ok: false, error: String((e as Error)?.message ?? e) }); }
  };
  const open = () => WorkerWebSocket.connect('127.0.0.1', port, '/workerd');
  const echo = (name: string, payload: string | Uint8Array) => check(name, async () => {
    const ws = await open();
    ws.send(payload);
    const m = await expectEvent(ws, 'message');
    if (m.isBinary !== (typeof payload !== 'string')) throw new Error(`isBinary ${m.isBinary}`);
    same(m.data, typeof payload === 'string' ? te.encode(payload) : payload, 'echo');
    ws.close(1000);
    await expectEvent(ws, 'close');
  });

  await echo('text echo', 'hello from workerd ✓');
  await echo('binary echo (1 KiB)', seeded(1024, 1));
  await echo('binary echo (64 KiB)', seeded(64 * 1024, 2));
  await echo('text echo (64 KiB, multi-byte)', 'ü✓😀 '.repeat(6554));
  await check('ping -> pong with the same payload', async () => {
    const ws = await open();
    ws.ping(te.encode('ping from workerd'));
    const p = await expectEvent(ws, 'pong');
    same(p.data, te.encode('ping from workerd'), 'pong payload');
    ws.close(1000);
    await expectEvent(ws, 'close');
  });
  for (const code of [1000, 1001, 3000, 4000, 4999]) {
    await check(`close ${code}: the server echoes code and reason`, async () => {
      const ws = await open();
      ws.close(code, `workerd ${code}`);
      const c = await expectEvent(ws, 'close');
      if (c.code !== code || c.reason !== `workerd ${code}`) throw new Error(`close ${c.code} '${c.reason}'${c.error ? ` (${c.error})` : ''}`);
    });
  }
  await check('server-initiated close 4002: reported, and answered', async () => {
    const ws = await open();
    ws.send('close-me 4002');
    const c = await expectEvent(ws, 'close');
    if (c.code !== 4002 || c.reason !== 'server bye') throw new Error(`close ${c.code} '${c.reason}'`);
  });
  await check('100 messages echoed in order', async () => {
    const ws = await open();
    for (let i = 0; i < 100; i++) ws.send(`#${i}`);
    for (let i = 0; i < 100; i++) {
      const m = await expectEvent(ws, 'message');
      if (td.decode(m.data) !== `#${i}`) throw new Error(`message ${i} is ${td.decode(m.data)}`);
    }
    ws.close(1000);
    await expectEvent(ws, 'close');
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
