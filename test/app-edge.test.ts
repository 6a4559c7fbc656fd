// wasmsocket/app in Deno (Deno.listen) and Bun (Bun.listen): the same program,
// runtimes/app/server.ts, run by each runtime from src/ (src/entries/app-deno.ts,
// app-bun.ts), against real peers on 127.0.0.1: undici's fetch, curl, raw TCP
// sockets for what a client library would not send, and ws for the upgrade.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import { Buffer } from 'node:buffer';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { opensslPath, selfSignedCert } from './helpers/cert.ts';
import { CURL, curl, exchange } from './helpers/raw-http.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

const RUNTIMES = {
  deno: [`${ROOT}node_modules/.bin/deno`, ['run', '--allow-net=127.0.0.1', '--allow-read', '--config', 'runtimes/deno/deno.json', 'runtimes/app/server.ts']],
  bun: [`${ROOT}node_modules/.bin/bun`, ['runtimes/app/server.ts']],
} as const;

interface Server { child: ChildProcess; port: number; limitedPort: number; tlsPort?: number; stderr: () => string }

// The test certificate as PEM files for SSLApp (null without openssl: the TLS tests skip, saying so).
const tlsFiles = (() => {
  if (!opensslPath()) return null;
  const { key, cert } = selfSignedCert();
  const dir = mkdtempSync(join(tmpdir(), 'wasmsocket-app-edge-'));
  writeFileSync(join(dir, 'key.pem'), key);
  writeFileSync(join(dir, 'cert.pem'), cert);
  return { dir, key: join(dir, 'key.pem'), cert: join(dir, 'cert.pem') };
})();
if (!tlsFiles) console.log('SSLApp tests skipped: openssl is not installed (apt-get install openssl)');
afterAll(() => { if (tlsFiles) rmSync(tlsFiles.dir, { recursive: true, force: true }); });

/** Starts runtimes/app/server.ts in `runtime`; resolves once its Apps listen (bounded). */
function startServer(runtime: keyof typeof RUNTIMES): Promise<Server> {
  const [cmd, baseArgs] = RUNTIMES[runtime];
  const args = tlsFiles ? [...baseArgs, `--tls-key=${tlsFiles.key}`, `--tls-cert=${tlsFiles.cert}`] : baseArgs;
  const count = tlsFiles ? 3 : 2;
  return new Promise((resolve, reject) => {
    const env: Record<string, string | undefined> = { ...process.env, NO_COLOR: '1', DENO_NO_UPDATE_CHECK: '1' };
    for (const k of Object.keys(env)) if (k.startsWith('VITEST') || k === 'NODE_OPTIONS') delete env[k];
    const child = spawn(cmd, [...args], { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
    const ports: number[] = [];
    let out = '';
    let err = '';
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`${runtime} did not listen in 30 s: ${err}`)); }, 30_000);
    child.stdout!.on('data', (d) => {
      out += d;
      for (const m of out.matchAll(/^LISTENING (\{.*\})$/gm)) ports.push(JSON.parse(m[1]).port);
      out = out.slice(out.lastIndexOf('\n') + 1);
      if (ports.length >= count) {
        clearTimeout(timer);
        resolve({ child, port: ports[0], limitedPort: ports[1], tlsPort: ports[2], stderr: () => err });
      }
    });
    child.stderr!.on('data', (d) => { err += d; });
    child.on('close', (code) => { clearTimeout(timer); reject(new Error(`${runtime} exited (${code}): ${err}`)); });
  });
}

function stopServer(s: Server | undefined): Promise<void> {
  if (!s || s.child.exitCode !== null || s.child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => s.child.kill('SIGKILL'), 3000);
    s.child.once('close', () => { clearTimeout(t); resolve(); });
    s.child.stdin!.end();
  });
}


for (const runtime of Object.keys(RUNTIMES) as (keyof typeof RUNTIMES)[]) {
  const binary = RUNTIMES[runtime][0];
  describe.skipIf(!existsSync(binary))(`wasmsocket/app on ${runtime === 'deno' ? 'Deno.listen' : 'Bun.listen'}`, () => {
    if (!existsSync(binary)) console.log(`skipped: ${binary} is not installed (npm install puts it there)`);
    let server: Server;
    beforeAll(async () => { server = await startServer(runtime); }, 40_000);
    afterAll(async () => {
      const err = server?.stderr().trim();
      await stopServer(server);
      expect(err ?? '', 'the server printed nothing on stderr').toBe('');
    });
    const url = (path: string) => `http://127.0.0.1:${server.port}${path}`;

    it('answers a health check, a page, a route parameter and a JSON POST (fetch)', async () => {
      const health = await fetch(url('/health'));
      expect(health.status).toBe(200);
      expect(await health.text()).toBe('ok');
      expect(health.headers.get('content-length')).toBe('2');
      const page = await fetch(url('/page'));
      expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(await page.text()).toBe('<h1>héllo</h1>');
      expect(await (await fetch(url('/users/42'))).text()).toBe('user 42');
      const posted = await fetch(url('/json'), { method: 'POST', body: JSON.stringify({ a: 2, b: 40 }), headers: { 'content-type': 'application/json' } });
      expect(posted.headers.get('content-type')).toBe('application/json');
      expect(await posted.json()).toEqual({ sum: 42, runtime });
      const missing = await fetch(url('/nowhere'));
      expect(missing.status).toBe(404);
      expect(await missing.text()).toBe('nothing here');
    });

    it('gives the handler the query, headers and method (curl), and answers HEAD without a body', async () => {
      expect(await curl(['-H', 'X-Probe: yes', url('/query?a=1&b=2')])).toBe('a=1&b=2|yes|get');
      const head = await curl(['-I', url('/health')]);
      expect(head).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
      expect(head).toMatch(/\r\nContent-Length: 2\r\n\r\n$/i);
      // uWS.js's routing: HEAD goes to .head() or .any() routes, never to .get().
      expect(await curl(['-I', url('/page')])).toMatch(/^HTTP\/1\.1 404 Not Found\r\n/);
    }, 20_000);

    it('reads a large POST body in chunks across many reads (1 MiB through 2 KiB and 64 KiB buffers)', async () => {
      const a = 'x'.repeat(1 << 20);
      const posted = await fetch(url('/json'), { method: 'POST', body: JSON.stringify({ a, b: 'y' }) });
      const body = await posted.json();
      expect(body.sum.length).toBe((1 << 20) + 1);
      expect(body.sum.endsWith('xy')).toBe(true);
    });

    it('keeps the connection for pipelined requests, answered in order, and reads a head split across reads', async () => {
      const two = 'GET /users/1 HTTP/1.1\r\nHost: x\r\n\r\nGET /users/2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n';
      const r = await exchange(server.port, two);
      expect(r.closed).toBe(true);
      expect(r.text.indexOf('user 1')).toBeGreaterThan(0);
      expect(r.text.indexOf('user 2')).toBeGreaterThan(r.text.indexOf('user 1'));
      const split = await exchange(server.port, ['GET /hea', 'lth HTTP/1.1\r\nHo', 'st: x\r\nConnection: close\r', '\n\r\n']);
      expect(split.text).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nok$/);
      expect(split.closed).toBe(true);
    });

    it('refuses bad heads and closes: 400 malformed, 431 too large, 505 HTTP/2.0', async () => {
      const bad = await exchange(server.port, 'GET / HTTP/1.1\nHost: x\n\n');
      expect(bad.text).toMatch(/^HTTP\/1\.1 400 /);
      expect(bad.closed).toBe(true);
      const big = await exchange(server.port, `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
      expect(big.text).toMatch(/^HTTP\/1\.1 431 /);
      expect(big.closed).toBe(true);
      const version = await exchange(server.port, 'GET / HTTP/2.0\r\nHost: x\r\n\r\n');
      expect(version.text).toMatch(/^HTTP\/1\.1 505 /);
    });

    it('a peer that leaves mid-request or sends garbage does not take the server down', async () => {
      await exchange(server.port, 'POST /json HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"a"', 200);
      await exchange(server.port, Buffer.from([0x16, 0x03, 0x01, 0x00, 0xff, 0, 1, 2, 3]), 500);
      const s = net.connect(server.port, '127.0.0.1');
      await new Promise((r) => s.once('connect', r));
      s.resetAndDestroy();
      const health = await fetch(url('/health'));
      expect(await health.text()).toBe('ok');
    });

    it('answers the upgrade with a 101 that ws verifies (accept value, permessage-deflate)', async () => {
      const c = await client(server.port, '/');
      expect(c.ws.extensions).toMatch(/^permessage-deflate/);
      c.ws.terminate();
    });

    it('echoes text and binary of every length class, compressed and not (ws client)', async () => {
      for (const perMessageDeflate of [true, false]) {
        const c = await client(server.port, '/', { perMessageDeflate });
        for (const n of [0, 1, 125, 126, 65535, 65536, 1 << 20, 16 << 20]) {
          const bytes = seeded(n, n + 1);
          c.ws.send(bytes, { binary: true });
          const m = await c.next(`binary echo of ${n} bytes`, 20_000);
          expect(m.isBinary).toBe(true);
          expect(Buffer.compare(m.data, Buffer.from(bytes)), `${n} bytes`).toBe(0);
        }
        const text = 'héllo wörld '.repeat(2000);
        c.ws.send(text);
        const m = await c.next('text echo');
        expect(m.isBinary).toBe(false);
        expect(m.data.toString()).toBe(text);
        await c.close(1000);
      }
    }, 60_000);

    it('closes with the code and reason the server gives, and answers the client\'s close with its code', async () => {
      const a = await client(server.port, '/cmd');
      a.ws.send('close-me 4001');
      expect(await a.closed()).toEqual({ code: 4001, reason: 'server bye' });
      const b = await client(server.port, '/cmd');
      b.ws.send('ping me');
      expect((await b.next('echo')).data.toString()).toBe('ping me');
      expect(await b.close(3000, 'client bye')).toEqual({ code: 3000, reason: 'client bye' });
    });

    it('closes 1009 past maxPayloadLength and 1007 on invalid UTF-8, and keeps serving', async () => {
      const big = await client(server.limitedPort, '/');
      big.ws.send(new Uint8Array(1001));
      expect((await big.closed()).code).toBe(1009);
      const bad = await client(server.port, '/', { perMessageDeflate: false });
      // A text frame whose payload is not UTF-8, sent as raw bytes under ws's masking.
      (bad.ws as unknown as { _sender: { sendFrame(list: Buffer[], cb?: () => void): void } })._sender.sendFrame(
        [Buffer.from([0x81, 0x82, 0, 0, 0, 0, 0xc3, 0x28])]);
      expect((await bad.closed()).code).toBe(1007);
      const ok = await client(server.port, '/');
      ok.ws.send('still here');
      expect((await ok.next('echo')).data.toString()).toBe('still here');
      await ok.close(1000);
    });

    it('publishes to the subscribers of a topic only (app.publish)', async () => {
      const [s1, s2, other, publisher] = await Promise.all([1, 2, 3, 4].map(() => client(server.port, '/cmd')));
      for (const s of [s1, s2]) {
        s.ws.send('sub news');
        expect((await s.next('subscribed')).data.toString()).toBe('subscribed news');
      }
      other.ws.send('sub sport');
      expect((await other.next('subscribed')).data.toString()).toBe('subscribed sport');
      publisher.ws.send('pub news extra extra');
      for (const s of [s1, s2]) expect((await s.next('published message')).data.toString()).toBe('extra extra');
      publisher.ws.send('pub sport goal');
      expect((await other.next('published message')).data.toString()).toBe('goal');
      expect(s1.messages.length + s2.messages.length + publisher.messages.length).toBe(0);
      for (const c of [s1, s2, other, publisher]) await c.close(1000);
    });

    it('holds what a client that stops reading cannot take, reports it, drains in order and calls drain', async () => {
      const c = await client(server.port, '/cmd', { perMessageDeflate: false });
      const socket = (c.ws as unknown as { _socket: net.Socket })._socket;
      socket.pause();
      const count = 64, size = 256 * 1024; // 16 MiB: far past what loopback's socket buffers hold
      c.ws.send(`flood ${count} ${size}`);
      await new Promise((r) => setTimeout(r, 300));
      c.ws.send('buffered');
      await new Promise((r) => setTimeout(r, 300));
      socket.resume();
      for (let i = 0; i < count; i++) {
        const m = await c.next(`flood message ${i}`, 20_000);
        expect(m.data.length).toBe(size);
        expect(m.data[0] === (i & 0xff) && m.data[size - 1] === (i & 0xff), `message ${i} in order`).toBe(true);
      }
      const buffered = Number(/^buffered (\d+)$/.exec((await c.next('buffered')).data.toString())?.[1]);
      expect(buffered, 'getBufferedAmount() while the client did not read').toBeGreaterThan(1024 * 1024);
      expect((await c.next('drained', 10_000)).data.toString()).toBe('drained');
      await c.close(1000);
    }, 60_000);

    it.skipIf(!tlsFiles)('SSLApp: the same routes and WebSocket echo over TLS (curl -k, ws over wss://)', async () => {
      const base = `https://127.0.0.1:${server.tlsPort}`;
      expect(await curl(['-k', `${base}/health`])).toBe('ok');
      expect(await curl(['-k', '-X', 'POST', '--data', '{"a":1,"b":2}', `${base}/json`])).toBe(JSON.stringify({ sum: 3, runtime }));
      const ws = new WebSocket(`wss://127.0.0.1:${server.tlsPort}/cmd`, { rejectUnauthorized: false });
      const got = await new Promise<string[]>((resolve, reject) => {
        const seen: string[] = [];
        ws.on('open', () => { ws.send('over tls'); ws.send(new Uint8Array(300_000).fill(7)); ws.send('close-me 4002'); });
        ws.on('message', (d: Buffer, isBinary: boolean) => seen.push(isBinary ? `binary ${d.length} ${d[299_999]}` : d.toString()));
        ws.on('close', (code: number, reason: Buffer) => resolve([...seen, `close ${code} ${reason}`]));
        ws.on('error', reject);
        setTimeout(() => reject(new Error(`timed out; got ${seen.join(', ')}`)), 10_000);
      });
      expect(got).toEqual(['over tls', 'binary 300000 7', 'close 4002 server bye']);
    }, 20_000);

    it('answers a burst of 16 pipelined 1 KiB messages with no more writes than reads (corked per read)', async () => {
      const s = net.connect(server.port, '127.0.0.1');
      s.setNoDelay(true);
      let got = Buffer.alloc(0);
      s.on('data', (d) => { got = Buffer.concat([got, d]); });
      s.on('error', () => {});
      await new Promise((r) => s.once('connect', r));
      s.write('GET /cmd HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
      const frames = (): { op: number; data: Buffer }[] => {
        const out = [];
        let p = got.indexOf('\r\n\r\n') + 4;
        while (p > 3 && p + 2 <= got.length) {
          let len = got[p + 1] & 0x7f, h = 2;
          if (len === 126) { len = got.readUInt16BE(p + 2); h = 4; }
          if (p + h + len > got.length) break;
          out.push({ op: got[p] & 0x0f, data: got.subarray(p + h, p + h + len) });
          p += h + len;
        }
        return out;
      };
      // Client frames, masked with a zero key (the payload goes as it is).
      const frame = (op: number, payload: Buffer) => Buffer.concat([
        Buffer.from(payload.length < 126 ? [0x80 | op, 0x80 | payload.length] : [0x80 | op, 0x80 | 126, payload.length >> 8, payload.length & 0xff]),
        Buffer.alloc(4), payload]);
      const until = async (n: number, what: string) => {
        const deadline = Date.now() + 10_000;
        while (frames().length < n) {
          if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
          await new Promise((r) => setTimeout(r, 10));
        }
      };
      s.write(frame(1, Buffer.from('platform-stats')));
      await until(1, 'the first stats');
      const burst = Buffer.concat(Array.from({ length: 16 }, (_, i) => frame(2, Buffer.alloc(1024, i))));
      s.write(burst);
      await until(17, '16 echoes');
      s.write(frame(1, Buffer.from('platform-stats')));
      await until(18, 'the second stats');
      const all = frames();
      for (let i = 0; i < 16; i++) expect(all[1 + i].data.equals(Buffer.alloc(1024, i)), `echo ${i}`).toBe(true);
      const [a, b] = [JSON.parse(all[0].data.toString()), JSON.parse(all[17].data.toString())];
      // Between the two: the first stats' reply, the burst's reads and writes, the second request's read.
      const reads = b.reads - a.reads, writes = b.writes - a.writes;
      expect(reads).toBeGreaterThanOrEqual(2);
      expect(writes, `${writes} writes for ${reads} reads`).toBeLessThanOrEqual(reads);
      s.destroy();
    });

    it('serves 200 connections at once, each echoing 20 messages in its own order', async () => {
      const clients = await Promise.all(Array.from({ length: 200 }, () => client(server.port, '/', { perMessageDeflate: false })));
      await Promise.all(clients.map(async (c, i) => {
        for (let k = 0; k < 20; k++) c.ws.send(`${i}:${k}:${'x'.repeat(k * 50)}`);
        for (let k = 0; k < 20; k++) expect((await c.next(`echo ${k} of client ${i}`, 20_000)).data.toString()).toBe(`${i}:${k}:${'x'.repeat(k * 50)}`);
      }));
      for (const c of clients) c.ws.terminate();
    }, 60_000);
  });
}

describe('wasmsocket/app entries for Deno and Bun', () => {
  it.each([['deno', 'dist/app-deno.js'], ['bun', 'dist/app-bun.js'], ['', 'dist/app.js']])(
    'condition "%s" resolves wasmsocket/app to %s', async (condition, file) => {
      const args = [...(condition ? [`--conditions=${condition}`] : []), '--input-type=module', '-e', "console.log(import.meta.resolve('wasmsocket/app'))"];
      const out = await new Promise<string>((resolve, reject) => execFile(process.execPath, args, { cwd: ROOT }, (err, o) => (err ? reject(err) : resolve(o))));
      expect(out.trim()).toBe(new URL(file, `file://${ROOT}`).href);
    });

  it('export the same names as the Node entry, with App bound to their own listener', async () => {
    const node = await import('../src/app/index.ts');
    for (const entry of [await import('../src/entries/app-deno.ts'), await import('../src/entries/app-bun.ts')]) {
      expect(Object.keys(entry).sort()).toEqual(Object.keys(node).sort());
    }
  });

  it.skipIf(!existsSync(`${ROOT}dist/app-deno.js`))('the built entries import nothing from Node', async () => {
    const { readFileSync } = await import('node:fs');
    for (const f of ['dist/app-deno.js', 'dist/app-bun.js']) {
      // The entry and the chunks it imports.
      const seen = new Set<string>();
      const visit = (file: string): void => {
        if (seen.has(file)) return;
        seen.add(file);
        const js = readFileSync(`${ROOT}dist/${file}`, 'utf8');
        expect(js, file).not.toMatch(/from ['"](node:|fs|net|http|stream|crypto|zlib)['"]|require\(/);
        for (const m of js.matchAll(/from ['"]\.\/([^'"]+)['"]|import ['"]\.\/([^'"]+)['"]/g)) visit(m[1] ?? m[2]);
      };
      visit(f.slice('dist/'.length));
      expect(seen.size).toBeGreaterThan(1);
    }
  });
});

interface Message { data: Buffer; isBinary: boolean }

/** A ws client on `path` that queues what it receives; next()/closed()/close() wait, bounded. */
async function client(port: number, path: string, options: WebSocket.ClientOptions = {}) {
  const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, { maxPayload: 0, ...options });
  const messages: Message[] = [];
  let wake: (() => void) | null = null;
  let closeInfo: { code: number; reason: string } | null = null;
  ws.on('message', (data: Buffer, isBinary: boolean) => { messages.push({ data: Buffer.isBuffer(data) ? data : Buffer.from(data as ArrayBuffer), isBinary }); wake?.(); });
  ws.on('close', (code: number, reason: Buffer) => { closeInfo = { code, reason: reason.toString() }; wake?.(); });
  ws.on('error', () => {});
  const wait = async <R>(get: () => R | null, what: string, ms = 5000): Promise<R> => {
    const deadline = Date.now() + ms;
    for (;;) {
      const v = get();
      if (v !== null) return v;
      if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
      await new Promise<void>((r) => { wake = r; setTimeout(r, 50); });
    }
  };
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('close', (code: number) => reject(new Error(`closed before open (${code})`)));
    setTimeout(() => reject(new Error('timed out opening')), 5000);
  });
  return {
    ws, messages,
    next: (what: string, ms?: number) => wait(() => messages.shift() ?? null, what, ms),
    closed: () => wait(() => closeInfo, 'close'),
    close: (code: number, reason?: string) => { ws.close(code, reason); return wait(() => closeInfo, 'close reply'); },
  };
}

// Reproducible bytes (an LCG), so a mismatch names the same bytes every run.
function seeded(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) { x = (Math.imul(x, 1103515245) + 12345) >>> 0; out[i] = x >>> 24; }
  return out;
}
