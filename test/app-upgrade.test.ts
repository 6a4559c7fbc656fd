// wasmsocket/app's upgrade path up to the handshake, with `ws` as the client
// on real sockets, on both carriers: the 101 (ws checks the accept value
// itself), subprotocol and permessage-deflate negotiation per uWS.js's
// compression options, sync and async upgrade handlers with res.upgrade(),
// onAborted for an upgrade the client gave up on, 426/400 refusals.
// test/app-websocket.test.ts covers what comes after the 101.
import { afterEach, describe, expect, it } from 'vitest';
import net from 'node:net';
import WebSocket from 'ws';
import {
  App, DEDICATED_COMPRESSOR_4KB, DEDICATED_DECOMPRESSOR_8KB, DISABLED, SHARED_COMPRESSOR, us_socket_local_port,
  type TemplatedApp, type ListenSocket,
} from '../src/app/index.ts';
import { setAppTransport } from '../src/app/node-platform.ts';

const apps: TemplatedApp[] = [];
afterEach(() => { for (const a of apps.splice(0)) a.close(); setAppTransport('tcp'); });

function listen(app: TemplatedApp): Promise<number> {
  apps.push(app);
  return new Promise((resolve, reject) => app.listen('127.0.0.1', 0, (t: ListenSocket | false) => t ? resolve(us_socket_local_port(t)) : reject(new Error('listen failed'))));
}

interface Seen { headers: Record<string, string | string[] | undefined>; protocol: string; extensions: string; closeCode: number; closeReason: string }

// Connects, then closes from the client once open: resolves with what the
// handshake gave and the code the closing handshake ended with.
function connect(url: string, protocols?: string[], options: WebSocket.ClientOptions = {}): Promise<Seen> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, options);
    let headers: Seen['headers'] = {};
    ws.on('upgrade', (res) => { headers = res.headers; });
    ws.on('open', () => ws.close(1000, 'bye'));
    ws.on('unexpected-response', (_req, res) => reject(new Error(`unexpected ${res.statusCode}`)));
    ws.on('error', reject);
    ws.on('close', (code, reason) => resolve({ headers, protocol: ws.protocol, extensions: ws.extensions, closeCode: code, closeReason: reason.toString() }));
  });
}

function rawUpgrade(port: number, lines: string[]): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(`GET /ws HTTP/1.1\r\nHost: x\r\n${lines.join('\r\n')}\r\n\r\n`));
    let out = '';
    s.on('data', (d) => { out += d.toString('latin1'); });
    s.on('error', () => {});
    s.on('close', () => resolve(out));
  });
}

for (const carrier of ['tcp', 'net'] as const) {
  describe(`upgrade over ${carrier === 'tcp' ? "Node's TCP handles" : 'net.Server'}`, () => {
    it('upgrades without an upgrade handler: 101 with the accept value ws checks, SHARED_COMPRESSOR negotiated, the closing handshake echoed', async () => {
      setAppTransport(carrier);
      const port = await listen(App().ws('/*', { compression: SHARED_COMPRESSOR }));
      const seen = await connect(`ws://127.0.0.1:${port}/room`);
      expect(seen.headers['sec-websocket-accept']).toBeTruthy();
      // A shared compressor keeps no context; a shared decompressor needs the client to keep none.
      expect(seen.extensions).toBe('permessage-deflate');
      expect(seen.headers['sec-websocket-extensions']).toBe('permessage-deflate; server_no_context_takeover; client_no_context_takeover');
      expect(seen.closeCode).toBe(1000);
      expect(seen.closeReason).toBe('bye');
    });

    it('an async upgrade handler copies what it needs from req, upgrades later with userData, a subprotocol and extra headers', async () => {
      setAppTransport(carrier);
      const upgraded: unknown[] = [];
      const port = await listen(App().ws<{ url: string }>('/chat/:room', {
        compression: DISABLED,
        upgrade: (res, req, context) => {
          const url = req.getUrl(), room = req.getParameter('room');
          const key = req.getHeader('sec-websocket-key'), protocol = req.getHeader('sec-websocket-protocol');
          const extensions = req.getHeader('sec-websocket-extensions');
          let aborted = false;
          res.onAborted(() => { aborted = true; });
          setTimeout(() => {
            if (aborted) return;
            upgraded.push({ url, room });
            res.cork(() => {
              res.writeStatus('101 Switching Protocols').writeHeader('X-Room', room);
              res.upgrade({ url }, key, protocol, extensions, context);
            });
          }, 30);
        },
      }));
      const seen = await connect(`ws://127.0.0.1:${port}/chat/lobby`, ['chat.v2', 'chat.v1']);
      expect(upgraded).toEqual([{ url: '/chat/lobby', room: 'lobby' }]);
      expect(seen.protocol).toBe('chat.v2');
      expect(seen.extensions).toBe(''); // DISABLED: the offer is declined
      expect(seen.headers['sec-websocket-extensions']).toBeUndefined();
      expect(seen.headers['x-room']).toBe('lobby');
      expect(seen.closeCode).toBe(1000);
    });

    it('dedicated compressor and decompressor windows become server_max_window_bits and client_max_window_bits', async () => {
      setAppTransport(carrier);
      const port = await listen(App().ws('/*', { compression: DEDICATED_COMPRESSOR_4KB | DEDICATED_DECOMPRESSOR_8KB }));
      const seen = await connect(`ws://127.0.0.1:${port}/`);
      expect(seen.headers['sec-websocket-extensions']).toBe('permessage-deflate; server_max_window_bits=9; client_max_window_bits=13');
    });

    it('calls onAborted for an async upgrade whose client left, and upgrades nothing', async () => {
      setAppTransport(carrier);
      let resolveAborted!: () => void;
      const aborted = new Promise<void>((r) => { resolveAborted = r; });
      let upgradedLate = false;
      const port = await listen(App().ws('/ws', {
        upgrade: (res, req, context) => {
          const key = req.getHeader('sec-websocket-key');
          res.onAborted(() => resolveAborted());
          setTimeout(() => { try { res.upgrade({}, key, '', '', context); upgradedLate = true; } catch { /* aborted: throws */ } }, 150);
        },
      }));
      const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
      ws.on('error', () => {});
      setTimeout(() => ws.terminate(), 30);
      await aborted;
      await new Promise((r) => setTimeout(r, 200));
      expect(upgradedLate).toBe(false);
    });

    it('refuses a wrong version (426 naming 13) and a bad key (400); a plain GET on a ws-only path is 404', async () => {
      setAppTransport(carrier);
      const port = await listen(App().ws('/ws', {}));
      const v12 = await rawUpgrade(port, ['Upgrade: websocket', 'Connection: Upgrade', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version: 12']);
      expect(v12).toMatch(/^HTTP\/1\.1 426 Upgrade Required\r\n/);
      expect(v12).toMatch(/Sec-WebSocket-Version: 13\r\n/);
      const badKey = await rawUpgrade(port, ['Upgrade: websocket', 'Connection: Upgrade', 'Sec-WebSocket-Key: short', 'Sec-WebSocket-Version: 13']);
      expect(badKey).toMatch(/^HTTP\/1\.1 400 /);
      const plain = await fetch(`http://127.0.0.1:${port}/ws`);
      expect(plain.status).toBe(404);
    });
  });
}
