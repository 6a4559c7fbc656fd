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
import { Connection, StreamTransport, clientHandshake } from 'wasmsocket/web';
import { streamClientScenarios } from '../stream-client.mjs';

const DATA: Record<string, unknown> = { rfc6455, utf8, roundtrip, deflate };
const te = new TextEncoder();

interface Check { name: string; ok: boolean; error?: string }

function same(a: Uint8Array, b: Uint8Array, what: string): void {
  if (a.length !== b.length) throw new Error(`${what}: ${a.length} bytes, expected ${b.length}`);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) throw new Error(`${what}: byte ${i} differs`);
}

function bounded<R>(p: Promise<R>, what: string, ms = 5000): Promise<R> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([p, new Promise<never>((_, j) => { timer = setTimeout(() => j(new Error(`timed out waiting for ${what}`)), ms); })])
    .finally(() => clearTimeout(timer));
}

async function clientScenarios(port: number): Promise<Check[]> {
  // WebSocketStream from wasmsocket/web over connect() from cloudflare:sockets (what its workerd entry registers).
  const checks: Check[] = await streamClientScenarios(port, 'workerd');
  const check = async (name: string, fn: () => Promise<void>) => {
    try { await fn(); checks.push({ name, ok: true }); } catch (e) { checks.push({ name, ok: false, error: String((e as Error)?.message ?? e) }); }
  };
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
