// Admission (src/node/ws/admission.ts): allowedOrigins, connection limits
// (total and per address), the per-address handshake token bucket, and the
// client address behind trusted proxies, over real sockets on 127.0.0.1 and
// 127.0.0.2 with ws clients and Node's http2 client; and the pure pieces
// (origin patterns, the bucket table's bound) on their own.
import { describe, expect, it } from 'vitest';
import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import http2, { type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { WebSocket as WsClient } from 'ws';
import { WebSocketServer, type ServerOptions } from '../src/index.ts';
import { OriginPolicy } from '../src/node/ws/origin-policy.ts';
import { HandshakeRateLimit } from '../src/node/ws/rate-limit.ts';
import { ClientAddress, addressKey } from '../src/node/ws/client-address.ts';
import { cleanupList, closeWss, echoMessages, portWhenListening } from './helpers/servers.ts';
import { T, sleep, until, withTimeout } from './helpers/wait.ts';
import { prng } from './helpers/prng.ts';

const cleanups = cleanupList({ bestEffort: true, ms: T });

async function server(opts: Partial<ServerOptions> = {}): Promise<{ wss: WebSocketServer; port: number; opened: IncomingMessage[] }> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', ...opts });
  cleanups.push(() => closeWss(wss));
  const port = await portWhenListening(wss);
  const opened: IncomingMessage[] = [];
  wss.on('connection', (ws, req) => { opened.push(req); echoMessages(ws); ws.on('error', () => {}); });
  return { wss, port, opened };
}

type Outcome = { open: true; ws: WsClient } | { open: false; status: number; headers: IncomingMessage['headers'] };

/** Opens a ws client and resolves with the open socket or the refusal's status and headers. */
function attempt(port: number, opts: { origin?: string; localAddress?: string; headers?: Record<string, string> } = {}, ms = T): Promise<Outcome> {
  const ws = new WsClient(`ws://127.0.0.1:${port}/`, opts);
  cleanups.push(() => ws.terminate());
  return withTimeout(new Promise<Outcome>((resolve, reject) => {
    ws.once('open', () => resolve({ open: true, ws }));
    ws.once('unexpected-response', (_req, res: IncomingMessage) => {
      resolve({ open: false, status: res.statusCode!, headers: res.headers });
      res.resume();
    });
    ws.once('error', (e) => { if (ws.readyState !== WsClient.CLOSED) reject(e); });
  }), ms, 'the handshake to be answered');
}

async function echoes(ws: WsClient, text: string): Promise<string> {
  ws.send(text);
  const [data] = await withTimeout(once(ws, 'message'), T, 'the echo');
  return String(data);
}

describe('origin patterns (OriginPolicy)', () => {
  const policy = new OriginPolicy(['https://chat.example.com', 'https://*.example.com', '*.example.org', 'http://localhost:*', 'http://127.0.0.1:8080']);
  it.each([
    ['https://chat.example.com', true],
    ['https://CHAT.Example.com', true],
    ['https://chat.example.com:443', true], // the default port is the same origin
    ['https://a.b.example.com', true],
    ['https://example.com', false], // *. needs a subdomain
    ['https://evil-example.com', false],
    ['https://example.com.evil', false],
    ['https://chat.example.com.evil.net', false],
    ['https://xexample.com', false],
    ['http://chat.example.com', false], // scheme differs
    ['https://chat.example.com:8443', false], // port differs
    ['https://x.example.org', true],
    ['http://x.example.org', true],
    ['http://x.example.org:81', false],
    ['ftp://x.example.org', false],
    ['http://localhost:3000', true],
    ['http://localhost', true],
    ['https://localhost:3000', false],
    ['http://127.0.0.1:8080', true],
    ['http://127.0.0.1:8081', false],
    ['http://127.0.0.1', false],
    ['null', false],
    ['not an origin', false],
    ['https://chat.example.com/path', false],
    ['https://user@chat.example.com', false],
  ])('%s -> %s', (origin, allowed) => {
    expect(policy.allows(origin)).toBe(allowed);
  });

  it('no Origin is allowed unless allowNoOrigin is false; "*" and "null" only when listed', () => {
    expect(policy.allows(undefined)).toBe(true);
    expect(new OriginPolicy(['https://a.test'], false).allows(undefined)).toBe(false);
    expect(new OriginPolicy(['*']).allows('https://anything.test')).toBe(true);
    expect(new OriginPolicy(['null']).allows('null')).toBe(true);
  });

  it('answers stay the same from the cache of recent origins, past its size too', () => {
    const p = new OriginPolicy(['https://*.example.com']);
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 600; i++) {
        expect(p.allows(`https://h${i}.example.com`)).toBe(true);
        expect(p.allows(`https://h${i}.example.com.evil`)).toBe(false);
      }
    }
    expect(p.allows(`https://${'a'.repeat(400)}.example.com`)).toBe(true); // too long to cache, still answered
  });

  it('refuses malformed patterns at construction', () => {
    for (const bad of ['https://*example.com', 'https://ex*.com', 'https://a.com/path', 'https://a.*.com', '']) {
      expect(() => new OriginPolicy([bad]), bad).toThrow(TypeError);
    }
  });
});

describe('hostile header values', () => {
  it('random Origin, X-Forwarded-For and Forwarded values never throw (20,000 each, seeded)', () => {
    const rand = prng(0x24c0);
    const ALPHABET = 'abcXYZ019.:-*/[]%@?#";=, \t\u00e9\ud83d\ude00\u0000';
    const noise = (): string => {
      let out = '';
      const n = Math.floor(rand() * 60);
      for (let i = 0; i < n; i++) out += ALPHABET[Math.floor(rand() * ALPHABET.length)];
      return out;
    };
    const origins = new OriginPolicy(['https://*.example.com', 'http://localhost:*']);
    const xff = new ClientAddress(['127.0.0.1']);
    const fwd = new ClientAddress(['127.0.0.1'], 'forwarded');
    const isIp = /^[0-9a-f:.]+$/i;
    for (let i = 0; i < 20_000; i++) {
      const v = noise();
      expect(typeof origins.allows(v)).toBe('boolean');
      expect(xff.of('127.0.0.1', { 'x-forwarded-for': v })).toMatch(isIp);
      expect(fwd.of('::ffff:127.0.0.1', { forwarded: [v, noise()] })).toMatch(isIp);
    }
  });
});

describe('allowedOrigins on the server', () => {
  it('refuses another origin with 403 before verifyClient runs; lets the listed origin and non-browsers in', async () => {
    let verified = 0;
    const { wss, port } = await server({
      allowedOrigins: ['http://app.test:8080'],
      verifyClient: () => { verified++; return true; },
    });
    const evil = await attempt(port, { origin: 'http://evil-app.test:8080' });
    expect(evil).toMatchObject({ open: false, status: 403 });
    expect(verified).toBe(0);
    const good = await attempt(port, { origin: 'http://app.test:8080' });
    expect(good.open).toBe(true);
    const cli = await attempt(port);
    expect(cli.open).toBe(true);
    expect(verified).toBe(2);
    expect(wss.stats.refused).toMatchObject({ origin: 1, noOrigin: 0 });
  });

  it('allowNoOrigin: false refuses requests without Origin', async () => {
    const { wss, port } = await server({ allowedOrigins: ['http://app.test'], allowNoOrigin: false });
    expect(await attempt(port)).toMatchObject({ open: false, status: 403 });
    expect((await attempt(port, { origin: 'http://app.test' })).open).toBe(true);
    expect(wss.stats.refused.noOrigin).toBe(1);
  });
});

describe('connection limits', () => {
  it('a flood from one address stops at maxConnectionsPerAddress; another address, started with it, still connects and echoes; a slot frees on close', async () => {
    const LIMIT = 50, FLOOD = 500; // 500 handshakes at once from 127.0.0.1
    const { wss, port } = await server({ maxConnectionsPerAddress: LIMIT });
    const flood = Promise.all(Array.from({ length: FLOOD }, () => attempt(port, { localAddress: '127.0.0.1' }, 4 * T)));
    // Started behind the flood, 127.0.0.2 still gets in and is served.
    const other = await attempt(port, { localAddress: '127.0.0.2' }, 4 * T);
    expect(other.open).toBe(true);
    expect(await echoes((other as { ws: WsClient }).ws, 'from 127.0.0.2')).toBe('from 127.0.0.2');

    const results = await flood;
    const open = results.filter((r): r is Extract<Outcome, { open: true }> => r.open);
    const refused = results.filter((r): r is Extract<Outcome, { open: false }> => !r.open);
    expect(open).toHaveLength(LIMIT);
    expect(refused).toHaveLength(FLOOD - LIMIT);
    for (const r of refused) {
      expect(r.status).toBe(503);
      expect(r.headers['retry-after']).toBe('5');
    }
    expect(wss.stats.refused.maxConnectionsPerAddress).toBe(FLOOD - LIMIT);
    expect(wss.stats.connections).toBe(LIMIT + 1);
    expect(wss.clients.size).toBe(LIMIT + 1);

    open[0].ws.close();
    await until(() => wss.stats.connections === LIMIT, T, 'the closed connection to free its slot');
    const again = await attempt(port, { localAddress: '127.0.0.1' });
    expect(again.open).toBe(true);
    expect(await echoes((again as { ws: WsClient }).ws, 'back in')).toBe('back in');
  });

  it('maxConnections caps the total over all addresses', async () => {
    const { wss, port } = await server({ maxConnections: 3 });
    for (const a of ['127.0.0.1', '127.0.0.2', '127.0.0.3']) expect((await attempt(port, { localAddress: a })).open).toBe(true);
    expect(await attempt(port, { localAddress: '127.0.0.4' })).toMatchObject({ open: false, status: 503 });
    expect(wss.stats.refused.maxConnections).toBe(1);
  });

  it('a handshake refused by verifyClient gives its slot back', async () => {
    let allow = false;
    const { wss, port } = await server({ maxConnectionsPerAddress: 1, verifyClient: () => allow });
    for (let i = 0; i < 3; i++) expect(await attempt(port)).toMatchObject({ open: false, status: 401 });
    expect(wss.stats.connections).toBe(0);
    allow = true;
    expect((await attempt(port)).open).toBe(true);
  });
});

describe('handshake rate (token bucket per address)', () => {
  it('refuses past the burst with 503 and Retry-After, and lets the address in again once a token is back', async () => {
    // A token every 2 s: the three handshakes of the burst fit in that on a loaded machine.
    const { wss, port } = await server({ handshakeRate: { perSecond: 0.5, burst: 3 } });
    for (let i = 0; i < 3; i++) {
      const r = await attempt(port);
      expect(r.open).toBe(true);
      (r as { ws: WsClient }).ws.close();
    }
    const refused = await attempt(port);
    expect(refused).toMatchObject({ open: false, status: 503 });
    const retryAfter = Number((refused as { headers: IncomingMessage['headers'] }).headers['retry-after']);
    expect([1, 2]).toContain(retryAfter); // seconds until the next token, rounded up
    // Another address has its own bucket.
    expect((await attempt(port, { localAddress: '127.0.0.2' })).open).toBe(true);
    // Back when Retry-After said.
    await sleep(retryAfter * 1000 + 50);
    expect((await attempt(port)).open).toBe(true);
    expect(wss.stats.refused.handshakeRate).toBe(1);
  });

  it('the bucket table is bounded: full buckets are dropped, and never more than 65,536 are kept', () => {
    let now = 0;
    const limit = new HandshakeRateLimit({ perSecond: 1, burst: 2 }, () => now);
    for (let i = 0; i < 70_000; i++) limit.take(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
    expect(limit.size).toBe(65_536);
    now += 2000; // every bucket has refilled: the next take drops them all
    limit.take('192.0.2.1');
    expect(limit.size).toBe(1);
  });
});

describe('the client address (trustProxy)', () => {
  const openAddress = (wss: WebSocketServer): Promise<string> => new Promise((resolve) => {
    wss.once('connection', (_ws, req) => resolve(wss.clientAddress(req)!));
  });

  it('X-Forwarded-For is read only from a trusted proxy; its limits then count the forwarded client', async () => {
    const { wss, port } = await server({ trustProxy: ['127.0.0.1'], maxConnectionsPerAddress: 1 });
    const seen = openAddress(wss);
    expect((await attempt(port, { localAddress: '127.0.0.1', headers: { 'X-Forwarded-For': '203.0.113.5' } })).open).toBe(true);
    expect(await seen).toBe('203.0.113.5');
    // Another forwarded client through the same proxy: its own slot.
    expect((await attempt(port, { localAddress: '127.0.0.1', headers: { 'X-Forwarded-For': '203.0.113.6' } })).open).toBe(true);
    // The first client again: over its limit, whatever it prepends to the chain.
    expect(await attempt(port, { localAddress: '127.0.0.1', headers: { 'X-Forwarded-For': '198.51.100.1, 203.0.113.5' } }))
      .toMatchObject({ open: false, status: 503 });
    // From an untrusted peer the header is ignored: 127.0.0.2 is the address, whatever it claims.
    expect((await attempt(port, { localAddress: '127.0.0.2', headers: { 'X-Forwarded-For': '203.0.113.7' } })).open).toBe(true);
    expect(await attempt(port, { localAddress: '127.0.0.2', headers: { 'X-Forwarded-For': '203.0.113.8' } }))
      .toMatchObject({ open: false, status: 503 });
  });

  it('Forwarded (RFC 7239) with proxyHeader: "forwarded", chains and ports', () => {
    const a = new ClientAddress(['127.0.0.1', '10.0.0.0/8'], 'forwarded');
    expect(a.of('127.0.0.1', { forwarded: 'for=192.0.2.60;proto=http;by=203.0.113.43' })).toBe('192.0.2.60');
    expect(a.of('::ffff:127.0.0.1', { forwarded: 'for="[2001:db8:cafe::17]:4711", for=10.1.2.3' })).toBe('2001:db8:cafe::17');
    expect(a.of('127.0.0.2', { forwarded: 'for=192.0.2.60' })).toBe('127.0.0.2');
    expect(a.of('127.0.0.1', { forwarded: 'for=unknown' })).toBe('127.0.0.1'); // not an address: the proxy itself
    expect(a.of('127.0.0.1', { 'x-forwarded-for': '192.0.2.9' })).toBe('127.0.0.1'); // the other header is not read
    const x = new ClientAddress(['127.0.0.1', '10.0.0.0/8']);
    expect(x.of('127.0.0.1', { 'x-forwarded-for': '192.0.2.1, 198.51.100.2:5000, 10.0.0.7' })).toBe('198.51.100.2');
    expect(new ClientAddress(undefined).of('127.0.0.1', { 'x-forwarded-for': '192.0.2.1' })).toBe('127.0.0.1');
    expect(() => new ClientAddress(['not-an-ip'])).toThrow(TypeError);
  });

  it('IPv6 clients are keyed by their /64', () => {
    expect(addressKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8:1:2:bbbb:cccc:dddd:eeee')).toBe('2001:db8:1:2::/64');
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
    expect(addressKey('127.0.0.1')).toBe('127.0.0.1');
  });
});

describe('over HTTP/2 (RFC 8441)', () => {
  async function h2(options: Partial<ServerOptions>): Promise<{ wss: WebSocketServer; port: number }> {
    const srv = http2.createServer();
    const wss = new WebSocketServer({ server: srv, ...options });
    wss.on('connection', (ws) => { echoMessages(ws); ws.on('error', () => {}); });
    const sessions = new Set<http2.ServerHttp2Session>();
    srv.on('session', (s) => sessions.add(s));
    srv.listen(0, '127.0.0.1');
    await withTimeout(once(srv, 'listening'), T, 'h2 listening');
    cleanups.push(() => { for (const s of sessions) s.destroy(); return new Promise<void>((r) => srv.close(() => r())); });
    return { wss, port: (srv.address() as AddressInfo).port };
  }
  async function session(port: number): Promise<ClientHttp2Session> {
    const s = http2.connect(`http://127.0.0.1:${port}`);
    s.on('error', () => {});
    cleanups.push(() => s.destroy());
    await withTimeout(once(s, 'remoteSettings'), T, 'remote settings');
    return s;
  }
  async function connect(s: ClientHttp2Session, port: number, extra: Record<string, string> = {}): Promise<IncomingHttpHeaders & { stream: ClientHttp2Stream }> {
    const stream = s.request({ ':method': 'CONNECT', ':protocol': 'websocket', ':scheme': 'http', ':path': '/',
      ':authority': `127.0.0.1:${port}`, 'sec-websocket-version': '13', ...extra }, { endStream: false });
    stream.on('error', () => {});
    const [headers] = await withTimeout(once(stream, 'response'), T, 'CONNECT response') as [IncomingHttpHeaders];
    return Object.assign(headers, { stream });
  }

  it('answers :status 403 for another origin and 503 + retry-after past the limit', async () => {
    const { wss, port } = await h2({ allowedOrigins: ['http://app.test'], maxConnectionsPerAddress: 2 });
    const s = await session(port);
    expect((await connect(s, port, { origin: 'http://evil.test' }))[':status']).toBe(403);
    const first = await connect(s, port, { origin: 'http://app.test' });
    expect(first[':status']).toBe(200);
    expect((await connect(s, port))[':status']).toBe(200);
    const third = await connect(s, port);
    expect(third[':status']).toBe(503);
    expect(third['retry-after']).toBe('5');
    expect(wss.stats.refused).toMatchObject({ origin: 1, maxConnectionsPerAddress: 1 });
    expect(wss.stats.connections).toBe(2);
    // A stream that ends gives its slot back.
    first.stream.close();
    await until(() => wss.stats.connections === 1, T, 'the closed stream to free its slot');
    expect((await connect(s, port))[':status']).toBe(200);
  });
});
