// wasmsocket/app's HTTP side on real sockets (127.0.0.1), on both carriers:
// Node's TCP handles (the fast path) and net.Server (the fallback). Peers:
// undici's fetch, curl, and raw TCP sockets for what a client library would
// not send (pipelining, malformed heads, half a head).
import { afterEach, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import net from 'node:net';
import { Buffer } from 'node:buffer';
import { App, us_listen_socket_close, us_socket_local_port, type TemplatedApp, type ListenSocket, type HttpRequest, type HttpResponse } from '../src/app/index.ts';
import { setAppTransport, usesTcpHandles } from '../src/app/node-platform.ts';
import { tcpStats } from '../src/app/node-tcp.ts';
import { addressBytes } from '../src/app/address.ts';
import { CURL, curl, exchange } from './helpers/raw-http.ts';

function listen(app: TemplatedApp, host = '127.0.0.1'): Promise<{ token: ListenSocket; port: number }> {
  return new Promise((resolve, reject) => {
    app.listen(host, 0, (token) => {
      if (!token) reject(new Error('listen failed'));
      else resolve({ token, port: us_socket_local_port(token) });
    });
  });
}


const apps: TemplatedApp[] = [];
afterEach(() => { for (const a of apps.splice(0)) a.close(); });
function app(options?: Parameters<typeof App>[0]): TemplatedApp { const a = App(options); apps.push(a); return a; }

for (const carrier of ['tcp', 'net'] as const) {
  describe(`App over ${carrier === 'tcp' ? "Node's TCP handles" : 'net.Server'}`, () => {
    afterEach(() => setAppTransport('tcp'));
    const use = (): void => {
      setAppTransport(carrier);
      expect(usesTcpHandles('127.0.0.1')).toBe(carrier === 'tcp');
    };

    it('answers a health check, a page and a JSON POST (fetch), keeping the connection alive', async () => {
      use();
      const a = app()
        .get('/health', (res) => { res.end('ok'); })
        .get('/', (res) => { res.writeStatus('200 OK').writeHeader('Content-Type', 'text/html; charset=utf-8').end('<h1>héllo</h1>'); })
        .post('/json', (res) => {
          const parts: Buffer[] = [];
          res.onAborted(() => {});
          res.onData((chunk, isLast) => {
            parts.push(Buffer.from(chunk.slice(0)));
            if (isLast) {
              const body = JSON.parse(Buffer.concat(parts).toString());
              res.writeHeader('Content-Type', 'application/json').end(JSON.stringify({ sum: body.a + body.b, chunks: parts.length }));
            }
          });
        });
      const { port } = await listen(a);
      const health = await fetch(`http://127.0.0.1:${port}/health`);
      expect(health.status).toBe(200);
      expect(await health.text()).toBe('ok');
      expect(health.headers.get('content-length')).toBe('2');
      expect(health.headers.get('date')).toMatch(/GMT$/);
      const page = await fetch(`http://127.0.0.1:${port}/`);
      expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(await page.text()).toBe('<h1>héllo</h1>');
      // A body of 300 KiB arrives in several reads: several onData chunks, the last one flagged.
      const filler = 'x'.repeat(300 * 1024);
      const post = await fetch(`http://127.0.0.1:${port}/json`, { method: 'POST', body: JSON.stringify({ a: 2, b: 40, filler }), headers: { 'content-type': 'application/json' } });
      const json = await post.json() as { sum: number; chunks: number };
      expect(json.sum).toBe(42);
      expect(json.chunks).toBeGreaterThan(1);
    });

    it.skipIf(!CURL)('serves curl: GET, HEAD, POST with Expect: 100-continue, HTTP/1.0', async () => {
      use();
      const a = app()
        .get('/hello', (res) => { res.end('hello from the app'); })
        .head('/hello', (res) => { res.end('hello from the app'); })
        .post('/echo', (res) => {
          let n = 0;
          res.onAborted(() => {});
          res.onData((chunk, isLast) => { n += chunk.byteLength; if (isLast) res.end(`got ${n}`); });
        });
      const { port } = await listen(a);
      expect(await curl([`http://127.0.0.1:${port}/hello`])).toBe('hello from the app');
      const head = await curl(['-I', `http://127.0.0.1:${port}/hello`]);
      expect(head).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
      expect(head).toMatch(/Content-Length: 18\r\n/);
      // curl asks for 100-continue before a body this large, and waits a second for it.
      const started = Date.now();
      const big = await new Promise<string>((resolve, reject) => {
        const p = execFile(CURL!, ['-sS', '-H', 'Expect: 100-continue', '--data-binary', '@-', `http://127.0.0.1:${port}/echo`], (err, out, e) => err ? reject(new Error(e)) : resolve(out));
        p.stdin!.end(Buffer.alloc(200_000, 97));
      });
      expect(big).toBe('got 200000');
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(await curl(['--http1.0', `http://127.0.0.1:${port}/hello`])).toBe('hello from the app');
    });

    it("routes as uWS.js does: static over :param over *, method over any, setYield, 404 when nothing takes it", async () => {
      use();
      const a = app()
        .any('/*', (res, req) => { res.end(`wildcard ${req.getMethod()} ${req.getUrl()}`); })
        .get('/users/:id', (res, req) => { res.end(`user ${req.getParameter(0)} ${req.getParameter('id')} q=${req.getQuery()} a=${req.getQuery('a')}`); })
        .get('/users/me', (res) => { res.end('me'); })
        .any('/users/:id/posts/:post', (res, req) => { res.end(`any ${req.getParameter(0)}/${req.getParameter(1)}`); })
        .get('/users/:id/posts/:post', (res, req) => {
          if (req.getParameter('post') === 'skip') { req.setYield(true); return; }
          res.end(`get ${req.getParameter(0)}/${req.getParameter(1)}`);
        });
      const { port } = await listen(a);
      const get = async (path: string, method = 'GET'): Promise<string> => (await fetch(`http://127.0.0.1:${port}${path}`, { method })).text();
      expect(await get('/users/7?a=x%20y&b=2')).toBe('user 7 7 q=a=x%20y&b=2 a=x y');
      expect(await get('/users/me')).toBe('me');
      expect(await get('/users/7/posts/9')).toBe('get 7/9');
      expect(await get('/users/7/posts/9', 'DELETE')).toBe('any 7/9');
      expect(await get('/users/7/posts/skip')).toBe('any 7/skip');
      expect(await get('/elsewhere/deep', 'PUT')).toBe('wildcard put /elsewhere/deep');
      const b = app().get('/only', (res) => { res.end('x'); });
      const other = await listen(b);
      const missing = await fetch(`http://127.0.0.1:${other.port}/missing`);
      expect(missing.status).toBe(404);
    });

    it('keeps pipelined requests in order behind an async response, on one connection', async () => {
      use();
      const a = app()
        .get('/slow', (res) => {
          res.onAborted(() => {});
          setTimeout(() => res.cork(() => res.end('slow')), 50);
        })
        .get('/fast', (res) => { res.end('fast'); });
      const { port } = await listen(a);
      const req = (p: string): string => `GET ${p} HTTP/1.1\r\nHost: x\r\n\r\n`;
      const { text } = await exchange(port, req('/slow') + req('/fast') + req('/slow') + `GET /fast HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      const bodies = [...text.matchAll(/\r\n\r\n(slow|fast)/g)].map((m) => m[1]);
      expect(bodies).toEqual(['slow', 'fast', 'slow', 'fast']);
      expect(text.match(/HTTP\/1\.1 200 OK/g)).toHaveLength(4);
    });

    it('refuses bad heads (400, 505, 501), big heads (431) and big bodies (413), and closes', async () => {
      use();
      const a = app({ maxHeaderSize: 1024, maxBodyLength: 1000 }).any('/*', (res) => { res.end('routed'); });
      const { port } = await listen(a);
      const cases: [string, RegExp][] = [
        ['GET / HTTP/1.1\nHost: x\n\n', /^HTTP\/1\.1 400 /],
        ['GET / HTTP/1.1\r\nHost : x\r\n\r\n', /^HTTP\/1\.1 400 /],
        ['get / HTTP/1.1\r\n\r\n', /^HTTP\/1\.1 400 /],
        ['GET / HTTP/2.0\r\n\r\n', /^HTTP\/1\.1 505 /],
        ['POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n', /^HTTP\/1\.1 501 /],
        ['POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n', /^HTTP\/1\.1 400 /],
        ['POST / HTTP/1.1\r\nContent-Length: 1001\r\n\r\n', /^HTTP\/1\.1 413 /],
        ['POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx', /^HTTP\/1\.1 400 /],
        [`GET / HTTP/1.1\r\nX: ${'a'.repeat(2000)}\r\n\r\n`, /^HTTP\/1\.1 431 /],
        ['\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03', /^HTTP\/1\.1 400 /], // a TLS ClientHello
      ];
      for (const [bytes, status] of cases) {
        const { text, closed } = await exchange(port, Buffer.from(bytes, 'latin1'));
        expect(text, JSON.stringify(bytes)).toMatch(status);
        expect(text).not.toContain('routed');
        expect(closed).toBe(true);
      }
      // A head past the limit is refused before it ends: an endless head pins at most maxHeaderSize.
      const endless = await exchange(port, [`GET / HTTP/1.1\r\n`, `X: ${'a'.repeat(600)}\r\n`, `Y: ${'b'.repeat(600)}`]);
      expect(endless.text).toMatch(/^HTTP\/1\.1 431 /);
      expect(endless.closed).toBe(true);
      // Still serving.
      expect(await (await fetch(`http://127.0.0.1:${port}/ok`)).text()).toBe('routed');
    });

    it('chunked request bodies: curl streaming one, pipelined ones, bad chunks (400) and too big (413)', async () => {
      use();
      const a = app({ maxBodyLength: 100_000 }).post('/count', (res) => {
        let n = 0, chunks = 0;
        res.onAborted(() => {});
        res.onData((chunk, isLast) => { n += chunk.byteLength; chunks++; if (isLast) res.end(`${n} bytes`); });
      });
      const { port } = await listen(a);
      if (CURL) {
        const out = await new Promise<string>((resolve, reject) => {
          const p = execFile(CURL!, ['-sS', '-H', 'Transfer-Encoding: chunked', '--data-binary', '@-', `http://127.0.0.1:${port}/count`],
            (err, o, e) => err ? reject(new Error(e)) : resolve(o));
          p.stdin!.end(Buffer.alloc(60_000, 98));
        });
        expect(out).toBe('60000 bytes');
      }
      const req = (body: string): string => `POST /count HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${body}`;
      // Two pipelined, with an extension and a trailer, split across writes.
      const two = await exchange(port, [req('5;name=v\r\nhello\r\n3\r\n wo\r\n0\r\n'), 'X-Trailer: 1\r\n\r\n' + req('A\r\n0123456789\r\n0\r\n\r\n').replace('Host: x', 'Host: x\r\nConnection: close')]);
      expect([...two.text.matchAll(/\r\n\r\n(\d+ bytes)/g)].map((m) => m[1])).toEqual(['8 bytes', '10 bytes']);
      for (const [body, status] of [['5\r\nhello\n0\r\n\r\n', 400], ['zz\r\n', 400], ['5\r\nhelloX\r\n', 400], ['186A1\r\n', 413]] as const) {
        const r = await exchange(port, req(body));
        expect(r.text, body).toMatch(new RegExp(`HTTP/1\\.1 ${status} `));
        expect(r.closed).toBe(true);
      }
    });

    it('a request is valid only during its handler; a response only until it ends', async () => {
      use();
      let kept: HttpRequest | null = null, ended: HttpResponse | null = null;
      const a = app().get('/', (res, req) => { kept = req; res.end('done'); ended = res; });
      const { port } = await listen(a);
      expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe('done');
      expect(() => kept!.getHeader('host')).toThrow(/must not be accessed after await or route handler return/);
      expect(() => kept!.getUrl()).toThrow();
      expect(() => ended!.end('again')).toThrow(/discarded or aborted/);
    });

    it('calls onAborted when the client leaves before the response, and never after it ended', async () => {
      use();
      let aborted = 0, afterEnd = 0;
      let resolveAborted!: () => void;
      const abortedOnce = new Promise<void>((r) => { resolveAborted = r; });
      const a = app()
        .get('/never', (res) => { res.onAborted(() => { aborted++; resolveAborted(); }); })
        .get('/now', (res) => { res.onAborted(() => { afterEnd++; }); res.end('now'); });
      const { port } = await listen(a);
      await exchange(port, 'GET /now HTTP/1.1\r\nHost: x\r\n\r\n', 200);
      const s = net.connect(port, '127.0.0.1', () => s.write('GET /never HTTP/1.1\r\nHost: x\r\n\r\n'));
      s.on('error', () => {});
      setTimeout(() => s.destroy(), 100);
      await abortedOnce;
      expect(aborted).toBe(1);
      expect(afterEnd).toBe(0);
    });

    it('chunked responses with write(), and getRemoteAddressAsText', async () => {
      use();
      const a = app().get('/stream', (res) => {
        res.writeHeader('X-Peer', Buffer.from(res.getRemoteAddressAsText()).toString());
        res.writeHeader('X-Peer-Bytes', Buffer.from(res.getRemoteAddress()).toString('hex'));
        res.write('one,');
        res.write(new Uint8Array(Buffer.from('two,')));
        res.end('three');
      });
      const { port } = await listen(a);
      const r = await fetch(`http://127.0.0.1:${port}/stream`);
      expect(r.headers.get('transfer-encoding')).toBe('chunked');
      expect(r.headers.get('x-peer')).toMatch(/127\.0\.0\.1$/);
      // 127.0.0.1 as 4 bytes, or IPv4-mapped in 16 on a dual-stack listener.
      expect(['7f000001', '00000000000000000000ffff7f000001']).toContain(r.headers.get('x-peer-bytes'));
      expect(await r.text()).toBe('one,two,three');
    });

    it('streams 32 MiB with tryEnd/onWritable/getWriteOffset, waiting for the kernel rather than queueing it all', async () => {
      use();
      const total = 32 * 1024 * 1024, chunk = Buffer.alloc(64 * 1024, 7);
      let writables = 0;
      const a = app().get('/big', (res) => {
        res.onAborted(() => {});
        const pump = (): boolean => {
          for (;;) {
            const [ok, done] = res.tryEnd(chunk.subarray(0, Math.min(chunk.length, total - res.getWriteOffset())), total);
            if (done) return true;
            if (!ok) {
              res.onWritable(() => { writables++; return pump(); });
              return false;
            }
          }
        };
        pump();
      });
      const { port } = await listen(a);
      const r = await fetch(`http://127.0.0.1:${port}/big`);
      expect(r.headers.get('content-length')).toBe(String(total));
      let got = 0;
      const reader = r.body!.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        got += value.length;
      }
      expect(got).toBe(total);
      // The kernel pushed back: the handler waited for onWritable rather than queueing 32 MiB at once.
      expect(writables).toBeGreaterThan(0);
    });

    it('closes a connection that stays silent past httpIdleTimeout (one sweep timer for all)', async () => {
      use();
      const a = app({ httpIdleTimeout: 0.3 }).get('/', (res) => { res.end('x'); });
      const { port } = await listen(a);
      const started = Date.now();
      const half = await exchange(port, 'GET / HT', 3000);
      expect(half.closed).toBe(true);
      expect(Date.now() - started).toBeLessThan(2500);
    });

    it('listen reports false for a port in use; us_listen_socket_close stops accepting', async () => {
      use();
      const a = app().get('/', (res) => { res.end('x'); });
      const { token, port } = await listen(a);
      const b = app();
      const second = await new Promise<ListenSocket | false>((r) => b.listen('127.0.0.1', port, r));
      expect(second).toBe(false);
      us_listen_socket_close(token);
      const refused = await new Promise<boolean>((r) => {
        const s = net.connect(port, '127.0.0.1');
        s.on('connect', () => { s.destroy(); r(false); });
        s.on('error', () => r(true));
      });
      expect(refused).toBe(true);
    });

    it('listen(port, cb) and listen(port, options, cb) take every interface', async () => {
      use();
      const a = app().get('/', (res) => { res.end('all'); });
      const port = await new Promise<number>((r, j) => a.listen(0, (t: ListenSocket | false) => t ? r(us_socket_local_port(t)) : j(new Error('listen'))));
      expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe('all');
      const b = app().get('/', (res) => { res.end('options'); });
      const port2 = await new Promise<number>((r, j) => b.listen(0, 0, (t: ListenSocket | false) => t ? r(us_socket_local_port(t)) : j(new Error('listen'))));
      expect(await (await fetch(`http://127.0.0.1:${port2}/`)).text()).toBe('options');
    });
  });
}

describe("writes are corked on Node's TCP handles", () => {
  it("a handler's status line, headers and several writes leave in one write per request", async () => {
    setAppTransport('tcp');
    const a = app().get('/many', (res) => {
      res.writeStatus('200 OK');
      for (let i = 0; i < 10; i++) res.writeHeader(`X-${i}`, String(i));
      for (let i = 0; i < 5; i++) res.write(`part ${i};`);
      res.end();
    }).get('/async', (res) => {
      res.onAborted(() => {});
      // Outside a read: uncorked writes made in one turn still leave together.
      setTimeout(() => { res.writeStatus('200 OK'); res.write('a'); res.write('b'); res.end('c'); }, 10);
    });
    const { port } = await listen(a);
    const before = tcpStats.writes;
    const { text } = await exchange(port, 'GET /many HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(text).toContain('part 4;');
    expect(tcpStats.writes - before).toBe(1);
    const before2 = tcpStats.writes;
    const r = await exchange(port, 'GET /async HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(r.text).toMatch(/\r\n\r\n1\r\na\r\n1\r\nb\r\n1\r\nc\r\n0\r\n\r\n$/);
    expect(tcpStats.writes - before2).toBe(1);
  });
});

describe('getRemoteAddress: the binary form of an address', () => {
  it('IPv4 in 4 bytes, IPv6 in 16 (compressed, IPv4-mapped), anything else empty', () => {
    const hex = (t: string): string => Buffer.from(addressBytes(t)).toString('hex');
    expect(hex('192.0.2.33')).toBe('c0000221');
    expect(hex('::1')).toBe('00000000000000000000000000000001');
    expect(hex('2001:db8::8:800:200c:417a')).toBe('20010db80000000000080800200c417a');
    expect(hex('::ffff:127.0.0.1')).toBe('00000000000000000000ffff7f000001');
    expect(hex('fe80::')).toBe('fe800000000000000000000000000000');
    expect(hex('localhost')).toBe('');
  });
});
