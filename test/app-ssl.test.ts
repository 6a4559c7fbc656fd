// SSLApp (src/app/node-tls.ts): the App on Node's tls, with `ws` over wss://
// and https on real sockets: echo of every size, topics, plain HTTP on the
// same port, a passphrase-protected key, bad files and passphrases throwing at
// SSLApp(), a peer speaking plain HTTP or garbage to the TLS port, and the
// graceful drain over TLS.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import https from 'node:https';
import { createPrivateKey } from 'node:crypto';
import WebSocket from 'ws';
import { SSLApp, us_socket_local_port, type TemplatedApp, type ListenSocket, type WebSocketBehavior } from '../src/app/index.ts';
import { opensslPath, selfSignedCert } from './helpers/cert.ts';

const haveOpenssl = opensslPath() !== null;
if (!haveOpenssl) console.log('SKIP test/app-ssl.test.ts: openssl is not installed (apt-get install openssl) to make the test certificate');

let dir = '';
const files = { key: '', cert: '', encryptedKey: '' };
beforeAll(() => {
  if (!haveOpenssl) return;
  const { key, cert } = selfSignedCert();
  dir = mkdtempSync(join(tmpdir(), 'app-ssl-'));
  files.key = join(dir, 'key.pem');
  files.cert = join(dir, 'cert.pem');
  files.encryptedKey = join(dir, 'key-1234.pem');
  writeFileSync(files.key, key);
  writeFileSync(files.cert, cert);
  writeFileSync(files.encryptedKey, createPrivateKey(key).export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: '1234' }));
});
afterAll(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

const apps: TemplatedApp[] = [];
afterEach(() => { for (const a of apps.splice(0)) a.close(); });

async function serve(behavior: WebSocketBehavior, keyFile = files.key, passphrase?: string): Promise<{ app: TemplatedApp; port: number }> {
  const app = SSLApp({ key_file_name: keyFile, cert_file_name: files.cert, passphrase })
    .ws('/*', behavior)
    .get('/health', (res) => { res.writeHeader('Content-Type', 'text/plain').end('ok'); });
  apps.push(app);
  const port = await new Promise<number>((resolve, reject) =>
    app.listen('127.0.0.1', 0, (t: ListenSocket | false) => t ? resolve(us_socket_local_port(t)) : reject(new Error('listen failed'))));
  return { app, port };
}

function open(port: number): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`wss://127.0.0.1:${port}/`, { rejectUnauthorized: false });
    ws.on('open', () => resolve(ws));
    ws.on('error', reject);
  });
}
const next = (ws: WebSocket): Promise<{ data: Buffer; isBinary: boolean }> =>
  new Promise((r) => ws.once('message', (data: Buffer, isBinary: boolean) => r({ data, isBinary })));

const echo: WebSocketBehavior = {
  maxPayloadLength: 2 * 1024 * 1024,
  maxBackpressure: 4 * 1024 * 1024,
  open: (ws) => { ws.subscribe('all'); },
  message: (ws, m, isBinary) => {
    if (!isBinary && Buffer.from(m).toString().startsWith('pub:')) ws.publish('all', m, false);
    else ws.send(m, isBinary);
  },
};

describe.skipIf(!haveOpenssl)('SSLApp on Node tls', () => {
  it('echoes 0 B to 1 MiB over wss://, publishes to the others, serves https on the same port', async () => {
    const { port } = await serve(echo);
    const ws = await open(port);
    for (const size of [0, 125, 1024, 64 * 1024, 1024 * 1024]) {
      const payload = Buffer.alloc(size, size % 251);
      const got = next(ws);
      ws.send(payload);
      const m = await got;
      expect(m.isBinary).toBe(true);
      expect(m.data.equals(payload)).toBe(true);
    }
    const other = await open(port);
    const heard = next(other);
    ws.send('pub:hello');
    expect((await heard).data.toString()).toBe('pub:hello');
    const body = await new Promise<string>((resolve, reject) => {
      https.get({ host: '127.0.0.1', port, path: '/health', rejectUnauthorized: false }, (res) => {
        let s = '';
        res.on('data', (d) => { s += d; });
        res.on('end', () => resolve(`${res.statusCode} ${s}`));
      }).on('error', reject);
    });
    expect(body).toBe('200 ok');
    ws.close(); other.close();
  });

  it('takes a passphrase-protected key; a wrong passphrase or a missing file throws at SSLApp()', async () => {
    const { port } = await serve(echo, files.encryptedKey, '1234');
    const ws = await open(port);
    const got = next(ws);
    ws.send('secret');
    expect((await got).data.toString()).toBe('secret');
    ws.close();
    expect(() => SSLApp({ key_file_name: files.encryptedKey, cert_file_name: files.cert, passphrase: 'wrong' })).toThrow();
    expect(() => SSLApp({ key_file_name: join(dir, 'missing.pem'), cert_file_name: files.cert })).toThrow(/ENOENT/);
    expect(() => SSLApp({ cert_file_name: files.cert })).toThrow(/key_file_name/);
  });

  it('ca_file_name: a client without a certificate signed by it is refused; one with it connects', async () => {
    // The test certificate is self-signed: it is its own CA, and the client presents it.
    const app = SSLApp({ key_file_name: files.key, cert_file_name: files.cert, ca_file_name: files.cert }).ws('/*', echo);
    apps.push(app);
    const port = await new Promise<number>((resolve, reject) =>
      app.listen('127.0.0.1', 0, (t: ListenSocket | false) => t ? resolve(us_socket_local_port(t)) : reject(new Error('listen failed'))));
    const refused = await new Promise<string>((resolve) => {
      const ws = new WebSocket(`wss://127.0.0.1:${port}/`, { rejectUnauthorized: false });
      ws.on('open', () => { ws.close(); resolve('opened'); });
      ws.on('error', () => resolve('refused'));
    });
    expect(refused).toBe('refused');
    const { key, cert } = selfSignedCert();
    const ws = await new Promise<WebSocket>((resolve, reject) => {
      const c = new WebSocket(`wss://127.0.0.1:${port}/`, { rejectUnauthorized: false, key, cert });
      c.on('open', () => resolve(c));
      c.on('error', reject);
    });
    const got = next(ws);
    ws.send('with a certificate');
    expect((await got).data.toString()).toBe('with a certificate');
    ws.close();
  });

  it('a plain-text or garbage peer on the TLS port is dropped; the App goes on', async () => {
    const { port } = await serve(echo);
    for (const junk of ['GET / HTTP/1.1\r\nHost: x\r\n\r\n', '\x16\x03\x01\x00\x05hello', '\x00'.repeat(4096)]) {
      const s = net.connect(port, '127.0.0.1');
      await new Promise((r) => s.once('connect', r));
      s.on('error', () => {});
      s.resume(); // read tls's alert and FIN
      s.write(junk, 'latin1');
      await new Promise<void>((r) => { s.once('close', () => r()); });
    }
    const ws = await open(port);
    const got = next(ws);
    ws.send('alive');
    expect((await got).data.toString()).toBe('alive');
    ws.close();
  });

  it('a peer stalling its TLS handshake is dropped after httpIdleTimeout', async () => {
    const app = SSLApp({ key_file_name: files.key, cert_file_name: files.cert, httpIdleTimeout: 1 }).ws('/*', echo);
    apps.push(app);
    const port = await new Promise<number>((resolve, reject) =>
      app.listen('127.0.0.1', 0, (t: ListenSocket | false) => t ? resolve(us_socket_local_port(t)) : reject(new Error('listen failed'))));
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => {});
    s.resume();
    await new Promise((r) => s.once('connect', r));
    const t0 = performance.now();
    s.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01])); // a ClientHello record's first bytes, then nothing
    await new Promise<void>((r) => { s.once('close', () => r()); });
    const took = performance.now() - t0;
    expect(took).toBeGreaterThanOrEqual(900);
    expect(took).toBeLessThan(10_000); // not tls's default 120 s
  });

  it('shutdown() drains wss:// clients with 1001', async () => {
    const { app, port } = await serve(echo);
    const clients = await Promise.all(Array.from({ length: 20 }, () => open(port)));
    const codes = clients.map((ws) => new Promise<number>((r) => ws.on('close', (code) => r(code))));
    const result = await app.shutdown({ timeout: 10_000 });
    expect(await Promise.all(codes)).toEqual(Array(20).fill(1001));
    expect(result).toMatchObject({ connections: 20, closedCleanly: 20, terminated: 0 });
  });
});
