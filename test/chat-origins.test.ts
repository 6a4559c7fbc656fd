// The chat demo's origin policy (allowedOrigins from its own address) over
// HTTPS with HTTP/2 (RFC 8441 streams) and HTTP/1.1 on the same port, and the
// `limits` option passed through: real sockets on 127.0.0.1.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { once } from 'node:events';
import http2, { type ClientHttp2Session, type IncomingHttpHeaders } from 'node:http2';
import type { IncomingMessage } from 'node:http';
import { WebSocket as WsClient } from 'ws';
import { ensureDist } from './helpers/dist.ts';
import { opensslPath, selfSignedCert } from './helpers/cert.ts';
import { T, withTimeout } from './helpers/wait.ts';

interface Chat { url: string; close(options?: { timeout?: number }): Promise<unknown> }
interface ChatModule { createChatServer(options?: Record<string, unknown>): Promise<Chat> }
const APP = '../examples/chat/app.mjs';
let app: ChatModule;
const HAS_OPENSSL = opensslPath() !== null;
if (!HAS_OPENSSL) console.log('chat HTTPS origin test skipped: openssl is not installed (Debian package openssl)');

beforeAll(async () => {
  ensureDist();
  app = (await import(/* @vite-ignore */ APP)) as ChatModule;
}, 300_000);

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function start(options: Record<string, unknown>): Promise<Chat> {
  const chat = await app.createChatServer({ port: 0, ...options });
  cleanups.push(() => chat.close({ timeout: 200 }));
  return chat;
}

function ws(url: string, opts: Record<string, unknown>): Promise<number> {
  const c = new WsClient(url, { rejectUnauthorized: false, ...opts });
  c.on('error', () => {});
  cleanups.push(() => c.terminate());
  return withTimeout(new Promise<number>((resolve) => {
    c.once('open', () => resolve(101));
    c.once('unexpected-response', (_q, res: IncomingMessage) => { res.resume(); resolve(res.statusCode!); });
  }), T, 'handshake');
}

describe.skipIf(!HAS_OPENSSL)('chat demo over HTTPS: origins', () => {
  it('HTTP/2 streams and HTTP/1.1 upgrades: 403 for another origin, 200/101 for its own and for non-browsers', async () => {
    const { key, cert } = selfSignedCert();
    const chat = await start({ tls: { key, cert } });
    const own = chat.url.slice(0, -1); // https://127.0.0.1:port
    const session: ClientHttp2Session = http2.connect(chat.url, { rejectUnauthorized: false });
    session.on('error', () => {});
    cleanups.push(() => session.destroy());
    await withTimeout(once(session, 'remoteSettings'), T, 'remote settings');
    const connect = async (origin?: string): Promise<number> => {
      const stream = session.request({
        ':method': 'CONNECT', ':protocol': 'websocket', ':scheme': 'https', ':path': '/ws',
        ':authority': new URL(chat.url).host, 'sec-websocket-version': '13', ...(origin ? { origin } : {}),
      }, { endStream: false });
      stream.on('error', () => {});
      const [headers] = await withTimeout(once(stream, 'response'), T, 'CONNECT response') as [IncomingHttpHeaders];
      return Number(headers[':status']);
    };
    expect(await connect('https://evil.example')).toBe(403);
    expect(await connect(own.replace('https', 'http'))).toBe(403); // the scheme is part of the origin
    expect(await connect(own)).toBe(200);
    expect(await connect(own.replace('127.0.0.1', 'localhost'))).toBe(200);
    expect(await connect()).toBe(200);

    const wsUrl = chat.url.replace('https', 'wss') + 'ws';
    expect(await ws(wsUrl, { origin: 'https://evil.example' })).toBe(403);
    expect(await ws(wsUrl, { origin: own })).toBe(101);
  });
});

describe('chat demo: limits', () => {
  it('options.limits applies to both endpoints; options.origins adds an origin', async () => {
    const chat = await start({ limits: { maxConnectionsPerAddress: 1 }, origins: ['https://chat.example.com'] });
    const base = chat.url.replace('http', 'ws');
    expect(await ws(base + 'ws', { origin: 'https://chat.example.com' })).toBe(101);
    expect(await ws(base + 'ws', {})).toBe(503);
    expect(await ws(base + 'demo/hello', {})).toBe(101); // its own server, its own count
    expect(await ws(base + 'demo/hello', {})).toBe(503);
  });
});
