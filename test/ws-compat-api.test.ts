// ws 8 drop-in, checked one behaviour at a time (issue 11): constructor validation,
// client options, the server's handshake answers, object shape, bufferedAmount and
// sends on a closing socket, clientTracking. Real sockets on 127.0.0.1.
import { describe, expect, it } from 'vitest';
import { once } from 'node:events';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { WebSocketServer, WebSocket } from '../src/index.ts';
import { T, withTimeout } from './helpers/wait.ts';

const PORT0 = { port: 0, host: '127.0.0.1' };

/** A server on an ephemeral loopback port, closed when `fn` ends. */
async function withServer<R>(opts: ConstructorParameters<typeof WebSocketServer>[0], fn: (wss: WebSocketServer, url: string) => Promise<R>): Promise<R> {
  const wss = new WebSocketServer({ ...PORT0, ...opts });
  await once(wss, 'listening');
  try {
    return await fn(wss, `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`);
  } finally {
    for (const c of wss.clients ?? []) c.terminate();
    await new Promise<void>((r) => wss.close(() => r()));
  }
}

/** Sends a raw HTTP request to the server and returns the whole response (status line, headers, body). */
function rawRequest(port: number, head: string): Promise<string> {
  return withTimeout(new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(head));
    let out = '';
    s.on('data', (d) => { out += d; });
    s.on('end', () => resolve(out));
    s.on('error', reject);
  }), T, 'the HTTP response');
}

/** The next `name` event's arguments (unlike events.once, an 'error' does not reject it). */
function next(em: { once(e: string, f: (...a: any[]) => void): unknown }, name: string): Promise<any[]> {
  return withTimeout(new Promise((r) => em.once(name, (...a: any[]) => r(a))), T, `'${name}'`);
}

function upgradeHead(headers: Record<string, string>): string {
  const all: Record<string, string> = {
    Host: 'localhost', Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
    'Sec-WebSocket-Version': '13', ...headers,
  };
  return `GET / HTTP/1.1\r\n${Object.entries(all).map(([k, v]) => `${k}: ${v}`).join('\r\n')}\r\n\r\n`;
}

describe('constructor validation (ws messages and error types)', () => {
  it('lists ws+unix: among the protocols and checks an IPC URL has a path', () => {
    expect(() => new WebSocket('foo')).toThrow(new SyntaxError('Invalid URL: foo'));
    expect(() => new WebSocket('bad-scheme://example.com')).toThrow(
      new SyntaxError('The URL\'s protocol must be one of "ws:", "wss:", "http:", "https:", or "ws+unix:"'));
    expect(() => new WebSocket('ws+unix:')).toThrow(new SyntaxError("The URL's pathname is empty"));
    expect(() => new WebSocket('ws://127.0.0.1#frag')).toThrow(new SyntaxError('The URL contains a fragment identifier'));
  });

  it('rejects invalid or duplicated subprotocols, null and empty included', () => {
    for (const p of [null, '', 'a,b', ['a', 'a'], ['ok', 'bad one']]) {
      let err: unknown;
      try { new WebSocket('ws://127.0.0.1:1', p as string); } catch (e) { err = e; }
      expect(err).toBeInstanceOf(SyntaxError);
      expect((err as Error).message).toBe('An invalid or duplicated subprotocol was specified');
    }
  });

  it('accepts protocol versions 8 and 13 only', () => {
    expect(() => new WebSocket('ws://127.0.0.1:1', { protocolVersion: 1000 })).toThrow(
      new RangeError('Unsupported protocol version: 1000 (supported versions: 8, 13)'));
    for (const v of [8, 13]) {
      const ws = new WebSocket('ws://127.0.0.1:1', { protocolVersion: v });
      ws.on('error', () => {});
      ws.terminate();
    }
  });
});

describe('object shape', () => {
  it('ready-state constants: enumerable, read-only, non-configurable on class and prototype', () => {
    const names = ['CONNECTING', 'OPEN', 'CLOSING', 'CLOSED'];
    names.forEach((name, value) => {
      for (const target of [WebSocket, WebSocket.prototype]) {
        expect(Object.getOwnPropertyDescriptor(target, name)).toEqual({ value, enumerable: true, writable: false, configurable: false });
      }
    });
    // Spreading a socket's prototype exposes them, as libraries that copy constants expect.
    expect(Object.keys(WebSocket)).toEqual(expect.arrayContaining(names));
  });

  it('attributes and onX handlers are enumerable, configurable accessors on the prototype', () => {
    for (const name of ['binaryType', 'bufferedAmount', 'extensions', 'isPaused', 'protocol', 'readyState', 'url',
      'onopen', 'onmessage', 'onerror', 'onclose']) {
      const d = Object.getOwnPropertyDescriptor(WebSocket.prototype, name)!;
      expect(d, name).toBeDefined();
      expect(d.enumerable && d.configurable, name).toBe(true);
      expect(typeof d.get, name).toBe('function');
    }
    for (const name of ['binaryType', 'onopen', 'onmessage', 'onerror', 'onclose']) {
      expect(typeof Object.getOwnPropertyDescriptor(WebSocket.prototype, name)!.set, name).toBe('function');
    }
  });
});

describe('server handshake answers', () => {
  it('accepts protocol version 8 and hands verifyClient the Sec-WebSocket-Origin', async () => {
    let origin: string | undefined;
    await withServer({ verifyClient: (info: { origin: string | undefined }) => { origin = info.origin; return true; } }, async (wss, url) => {
      const ws = new WebSocket(url, { protocolVersion: 8, origin: 'http://example.test' });
      const [server] = await withTimeout(once(wss, 'connection'), T, 'connection');
      await withTimeout(once(ws, 'open'), T, 'open');
      expect(origin).toBe('http://example.test');
      ws.send('eight');
      const [msg] = await withTimeout(once(server, 'message'), T, 'message');
      expect(String(msg)).toBe('eight');
      ws.close();
      await withTimeout(once(ws, 'close'), T, 'close');
    });
  });

  it('answers an unknown version with 426 and the versions it speaks', async () => {
    await withServer({}, async (wss) => {
      const res = await rawRequest((wss.address() as AddressInfo).port, upgradeHead({ 'Sec-WebSocket-Version': '12' }));
      expect(res).toMatch(/^HTTP\/1\.1 426 Upgrade Required\r\n/);
      expect(res).toMatch(/\r\nSec-WebSocket-Version: 13, 8\r\n/);
    });
  });

  it('verifyClient rejections answer 401 by default, or the given status, message and headers', async () => {
    let mode = 'sync';
    const verifyClient = (_info: unknown, cb: (ok: boolean, code?: number, message?: string, headers?: Record<string, string>) => void): void => {
      if (mode === 'plain') cb(false);
      else cb(false, 403, 'Go away', { 'X-Reason': 'test' });
    };
    await withServer({ verifyClient: () => false }, async (wss) => {
      const res = await rawRequest((wss.address() as AddressInfo).port, upgradeHead({}));
      expect(res).toMatch(/^HTTP\/1\.1 401 Unauthorized\r\n/);
      expect(res.endsWith('\r\n\r\nUnauthorized')).toBe(true);
    });
    await withServer({ verifyClient }, async (wss) => {
      const port = (wss.address() as AddressInfo).port;
      mode = 'plain';
      expect(await rawRequest(port, upgradeHead({}))).toMatch(/^HTTP\/1\.1 401 Unauthorized\r\n/);
      mode = 'custom';
      const res = await rawRequest(port, upgradeHead({}));
      expect(res).toMatch(/^HTTP\/1\.1 403 Forbidden\r\n/);
      expect(res).toMatch(/\r\nX-Reason: test\r\n/);
      expect(res).toMatch(/\r\nContent-Length: 7\r\n/);
      expect(res.endsWith('\r\n\r\nGo away')).toBe(true);
      // The client sees the status as ws reports it.
      const ws = new WebSocket(`ws://127.0.0.1:${port}`);
      const [err] = await withTimeout(once(ws, 'error'), T, 'error');
      expect((err as Error).message).toBe('Unexpected server response: 403');
    });
  });

  it('refuses an unparsable Sec-WebSocket-Extensions header with 400', async () => {
    await withServer({ perMessageDeflate: true }, async (wss) => {
      let connected = false;
      wss.on('connection', () => { connected = true; });
      const res = await rawRequest((wss.address() as AddressInfo).port,
        upgradeHead({ 'Sec-WebSocket-Extensions': 'permessage-deflate; client_max_window_bits=' }));
      expect(res).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
      expect(res.endsWith('Invalid or unacceptable Sec-WebSocket-Extensions header')).toBe(true);
      expect(connected).toBe(false);
    });
  });

  it('client: fails when the server answers with an extension that was not offered', async () => {
    for (const answer of ['foo', 'permessage-deflate, foo']) {
      const server = http.createServer();
      server.on('upgrade', (req, socket) => {
        const { createHash } = require('node:crypto') as typeof import('node:crypto');
        const accept = createHash('sha1').update(`${req.headers['sec-websocket-key']}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
        socket.end(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\nSec-WebSocket-Extensions: ${answer}\r\n\r\n`);
      });
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      try {
        const ws = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`);
        let opened = false;
        ws.on('open', () => { opened = true; });
        const closed = next(ws, 'close');
        const [err] = await next(ws, 'error');
        expect((err as Error).message).toBe('Server indicated an extension that was not requested');
        await closed;
        expect(opened).toBe(false);
      } finally {
        server.close();
      }
    }
  });
});

describe('clientTracking', () => {
  it('false leaves wss.clients undefined and connections still work', async () => {
    await withServer({ clientTracking: false }, async (wss, url) => {
      expect(wss.clients).toBeUndefined();
      const ws = new WebSocket(url);
      const [server] = await withTimeout(once(wss, 'connection'), T, 'connection');
      (server as WebSocket).send('tracked? no');
      const [msg] = await withTimeout(once(ws, 'message'), T, 'message');
      expect(String(msg)).toBe('tracked? no');
      ws.close();
      await withTimeout(once(ws, 'close'), T, 'close');
    });
  });
});

describe('sends around close', () => {
  it('send()/ping()/pong() in CLOSING and CLOSED add to bufferedAmount and call back with ws\'s error', async () => {
    // A lookup that never answers: the socket stays CONNECTING until close() aborts it.
    const ws = new WebSocket('ws://never.invalid', { lookup: () => {} });
    const errors: string[] = [];
    let sizeWhileClosing = -1;
    const closed = next(ws, 'close');
    ws.on('error', (err) => {
      expect(err.message).toBe('WebSocket was closed before the connection was established');
      expect(ws.readyState).toBe(WebSocket.CLOSING);
      ws.send('abc', (e) => errors.push(e!.message));
      ws.ping('de');
      ws.pong(Buffer.from('f'));
      sizeWhileClosing = ws.bufferedAmount;
    });
    ws.close();
    await closed;
    expect(sizeWhileClosing).toBe(6);
    ws.send(new Uint8Array(4), (e) => errors.push(e!.message));
    ws.ping(new Blob(['xy']));
    expect(ws.bufferedAmount).toBe(12);
    await new Promise((r) => setImmediate(r));
    expect(errors).toEqual(['WebSocket is not open: readyState 2 (CLOSING)', 'WebSocket is not open: readyState 3 (CLOSED)']);
  });

  it('send() with no data sends an empty binary message; bufferedAmount is the socket\'s queue', async () => {
    await withServer({}, async (wss, url) => {
      const ws = new WebSocket(url);
      const [server] = await withTimeout(once(wss, 'connection'), T, 'connection');
      await withTimeout(once(ws, 'open'), T, 'open');
      (ws.send as () => void)();
      const [msg, isBinary] = await withTimeout(once(server, 'message'), T, 'message');
      expect(isBinary).toBe(true);
      expect((msg as Buffer).length).toBe(0);
      // Fill the socket: bufferedAmount is exactly what the socket holds.
      const s = server as WebSocket;
      const chunk = Buffer.alloc(64 * 1024, 1);
      let n = 0;
      while (s.bufferedAmount === 0 && n++ < 10_000) s.send(chunk);
      expect(s.bufferedAmount).toBeGreaterThan(0);
      expect(s.bufferedAmount).toBe(s._socket!.writableLength);
      ws.terminate();
    });
  });

  it('the mask option and generateMask reach the wire', async () => {
    await withServer({}, async (wss, url) => {
      const ws = new WebSocket(url, { generateMask: (m: Buffer) => { m.fill(0); } });
      const [server] = await withTimeout(once(wss, 'connection'), T, 'connection');
      const chunks: Buffer[] = [];
      (server as WebSocket)._socket!.prependListener('data', (c: Buffer) => chunks.push(c));
      await withTimeout(once(ws, 'open'), T, 'open');
      ws.send('zero');
      await withTimeout(once(server, 'message'), T, 'message');
      const frame = Buffer.concat(chunks);
      expect(frame[1] & 0x80).toBe(0x80);
      expect([...frame.subarray(2, 6)]).toEqual([0, 0, 0, 0]);
      expect(frame.subarray(6, 10).toString()).toBe('zero');
      // An unmasked client frame is a protocol error on the server (1002), as in ws.
      const serverErr = once(server, 'error');
      ws.send('hi', { mask: false });
      const [err] = await withTimeout(serverErr, T, 'server error');
      expect((err as Error).message).toBe('Invalid WebSocket frame: MASK must be set');
      const [code] = await withTimeout(once(ws, 'close'), T, 'close');
      expect(code).toBe(1002);
    });
  });
});

describe('client options ws users pass', () => {
  it('createConnection opens the socket; finishRequest finishes the request', async () => {
    await withServer({}, async (wss, url) => {
      const port = (wss.address() as AddressInfo).port;
      let seen: { host?: string | null; port?: unknown } = {};
      const ws = new WebSocket(`ws://example.test:${port}/x`, {
        createConnection: (options: http.ClientRequestArgs) => {
          seen = { host: options.host, port: options.port };
          return net.createConnection({ host: '127.0.0.1', port });
        },
        finishRequest: (req: http.ClientRequest) => {
          req.setHeader('X-Finished-By', 'caller');
          req.end();
        },
      });
      const [, req] = await withTimeout(once(wss, 'connection'), T, 'connection');
      await withTimeout(once(ws, 'open'), T, 'open');
      expect(seen).toEqual({ host: 'example.test', port: String(port) });
      expect((req as http.IncomingMessage).headers['x-finished-by']).toBe('caller');
      expect(ws.url).toBe(`ws://example.test:${port}/x`);
      ws.close();
      await withTimeout(once(ws, 'close'), T, 'close');
    });
  });

  it('terminate() from an error listener while connecting does not throw', async () => {
    const ws = new WebSocket('ws://never.invalid', { lookup: () => {} });
    const closed = next(ws, 'close');
    ws.on('error', () => ws.terminate());
    ws.close();
    await closed;
    expect(ws.readyState).toBe(WebSocket.CLOSED);
  });
});

describe('the raw socket, as ws programs use it', () => {
  it('a prepended data listener sees each read before the message; bytes pushed into the socket are decoded', async () => {
    await withServer({}, async (wss, url) => {
      const ws = new WebSocket(url);
      const [server] = await withTimeout(once(wss, 'connection'), T, 'connection');
      const s = server as WebSocket;
      await withTimeout(once(ws, 'open'), T, 'open');
      const seen: number[] = [];
      s._socket!.prependListener('data', (c: Buffer) => seen.push(c.length));
      const first = next(s, 'message');
      let seenAtMessage = -1;
      s.once('message', () => { seenAtMessage = seen.length; });
      ws.send('tap');
      await first;
      expect(seenAtMessage).toBeGreaterThan(0);
      // A masked text frame pushed by the program itself, as ws's users and tests do.
      const pushed = next(s, 'message');
      s._socket!.push(Buffer.from([0x81, 0x82, 0, 0, 0, 0, 0x68, 0x69]));
      const [msg] = await pushed;
      expect(String(msg)).toBe('hi');
      ws.terminate();
    });
  });

  it('a send callback that throws does not stall sends on other connections', async () => {
    await withServer({}, async (wss, url) => {
      const a = new WebSocket(url);
      const b = new WebSocket(url);
      await Promise.all([next(a, 'open'), next(b, 'open')]);
      const received = new Map<WebSocket, string[]>();
      for (const s of wss.clients) { const list: string[] = []; received.set(s, list); s.on('message', (m) => list.push(String(m))); }
      // The throw surfaces as an uncaught exception (as in ws); catch it here instead of failing the run.
      const saved = process.listeners('uncaughtException');
      process.removeAllListeners('uncaughtException');
      const thrown = new Promise<Error>((r) => process.once('uncaughtException', r));
      try {
        // a's socket is gone before the tick's flush: its callback runs (and throws) inside the flush.
        a.send('first', () => { throw new Error('user callback failed'); });
        b.send('same tick');
        a.terminate();
        expect((await withTimeout(thrown, T, 'the thrown error')).message).toBe('user callback failed');
      } finally {
        process.removeAllListeners('uncaughtException');
        for (const l of saved) process.on('uncaughtException', l);
      }
      // The other connection's bytes of that tick went out, and it still sends afterwards.
      b.send('after');
      const lists = [...received.values()];
      await withTimeout((async () => { while (!lists.some((l) => l.at(-1) === 'after')) await new Promise((r) => setTimeout(r, 5)); })(), T, "'after'");
      expect(lists.find((l) => l.at(-1) === 'after')).toEqual(['same tick', 'after']);
      a.terminate();
      b.terminate();
    });
  });
});

describe('which messages are compressed (as ws decides)', () => {
  for (const [name, serverOpts, compressed] of [
    ['context takeover: every message, however small', { threshold: 1024 }, true],
    ['no context takeover: only from the threshold up', { threshold: 1024, serverNoContextTakeover: true }, false],
  ] as const) {
    it(name, async () => {
      await withServer({ perMessageDeflate: serverOpts }, async (wss, url) => {
        const ws = new WebSocket(url, { perMessageDeflate: true });
        const [server] = await withTimeout(once(wss, 'connection'), T, 'connection');
        await withTimeout(once(ws, 'open'), T, 'open');
        const firstBytes: number[] = [];
        ws._socket!.prependListener('data', (c: Buffer) => firstBytes.push(c[0]));
        for (const m of ['', 'small']) {
          const got = next(ws, 'message');
          (server as WebSocket).send(m);
          expect(String((await got)[0])).toBe(m);
        }
        expect(firstBytes.map((b) => (b & 0x40) !== 0)).toEqual([compressed, compressed]);
        ws.close();
      });
    });
  }
});
