// wasmsocket/app's permessage-deflate on Node: Node's zlib in this thread
// (src/app/node-deflate.ts) and the codec's portable engine (kept for Deno and
// Bun, and with WASMSOCKET_APP_DEFLATE=codec), each against ws as the peer on
// real sockets: shared and dedicated compressors (no context / context kept),
// messages of every size in sequence both ways, 1009 for a message that
// inflates past maxPayloadLength.
import { afterEach, describe, expect, it } from 'vitest';
import { Buffer } from 'node:buffer';
import WebSocket from 'ws';
import {
  App, SHARED_COMPRESSOR, DEDICATED_COMPRESSOR_3KB, DEDICATED_COMPRESSOR, DEDICATED_DECOMPRESSOR, us_socket_local_port,
  type TemplatedApp, type ListenSocket, type WebSocketBehavior,
} from '../src/app/index.ts';
import { setAppDeflate } from '../src/app/node-platform.ts';
import { syncZlibStats } from '../src/node/deflate/zlib-sync.ts';

const apps: TemplatedApp[] = [];
afterEach(() => { for (const a of apps.splice(0)) a.close(); setAppDeflate('zlib'); });

async function serve(behavior: WebSocketBehavior): Promise<number> {
  const app = App().ws('/*', behavior);
  apps.push(app);
  return new Promise((resolve, reject) => app.listen('127.0.0.1', 0, (t: ListenSocket | false) => t ? resolve(us_socket_local_port(t)) : reject(new Error('listen failed'))));
}

function open(port: number): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: { threshold: 0 } });
    ws.on('open', () => resolve(ws));
    ws.on('error', reject);
  });
}

const chat = (i: number): string => `{"user":"user${i % 7}","room":"lobby","text":"${'hello there, how is it going? '.repeat(1 + (i % 40))}"}`;

for (const engine of ['zlib', 'codec'] as const) {
  describe(`App permessage-deflate on ${engine === 'zlib' ? "Node's zlib" : "the codec's engine"}`, () => {
    for (const [name, compression] of [['SHARED_COMPRESSOR', SHARED_COMPRESSOR], ['DEDICATED_COMPRESSOR_3KB | DEDICATED_DECOMPRESSOR', DEDICATED_COMPRESSOR_3KB | DEDICATED_DECOMPRESSOR],
      ['DEDICATED_COMPRESSOR', DEDICATED_COMPRESSOR]] as const) {
      it(`${name}: 200 messages of every size echo compressed, byte for byte, in order`, async () => {
        setAppDeflate(engine);
        const port = await serve({
          compression, maxPayloadLength: 1024 * 1024, maxBackpressure: 16 * 1024 * 1024,
          message: (ws, m, isBinary) => { ws.send(m, isBinary, true); },
        });
        const runs0 = syncZlibStats.runs;
        const ws = await open(port);
        expect(ws.extensions).toContain('permessage-deflate');
        const sent: (string | Buffer)[] = [];
        for (let i = 0; i < 200; i++) {
          if (i % 50 === 7) sent.push(Buffer.from(Array.from({ length: 64 * 1024 }, (_, j) => (j * 2654435761 + i) >>> 24)));
          else if (i % 50 === 9) sent.push('');
          else sent.push(chat(i));
        }
        const got: (string | Buffer)[] = [];
        const all = new Promise<void>((resolve) => ws.on('message', (data: Buffer, isBinary: boolean) => {
          got.push(isBinary ? data : data.toString());
          if (got.length === sent.length) resolve();
        }));
        for (const m of sent) ws.send(m);
        await all;
        expect(got.length).toBe(sent.length);
        for (let i = 0; i < sent.length; i++) expect(got[i], `message ${i}`).toEqual(sent[i]);
        // Each way of each message went through Node's zlib (an empty reply goes uncompressed), or none did.
        const runs = syncZlibStats.runs - runs0;
        if (engine === 'zlib') expect(runs).toBeGreaterThanOrEqual(sent.length + sent.filter((m) => m.length > 0).length);
        else expect(runs).toBe(0);
        ws.close();
      });
    }

    it('a message that inflates past maxPayloadLength closes with 1009', async () => {
      setAppDeflate(engine);
      const port = await serve({ compression: SHARED_COMPRESSOR, maxPayloadLength: 64 * 1024, message: (ws, m) => { ws.send(m, true, true); } });
      const ws = await open(port);
      const closed = new Promise<number>((r) => ws.on('close', (code) => r(code)));
      ws.send(Buffer.alloc(1024 * 1024)); // ~1 KiB on the wire
      expect(await closed).toBe(1009);
    });
  });
}
