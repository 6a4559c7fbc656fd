// Handshake limits on the server we create (Node's http enforces them; we set
// them): a request head trickled a byte at a time is dropped at
// handshakeTimeout even though bytes keep coming (headersTimeout counts from
// the first byte, not from the last), and an oversized head gets 431. The
// limits after the upgrade (a peer that never reads) are in heartbeat.test.ts
// (stalled sends, idleTimeout) and budget.test.ts (1008 past the budget).
import { describe, expect, it } from 'vitest';
import { once } from 'node:events';
import net from 'node:net';
import { WebSocketServer } from '../src/index.ts';
import { cleanupList, closeWss, portWhenListening } from './helpers/servers.ts';
import { T, withTimeout } from './helpers/wait.ts';

const cleanups = cleanupList({ bestEffort: true, ms: T });

async function server(opts: Record<string, unknown>): Promise<{ wss: WebSocketServer; port: number }> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', ...opts });
  cleanups.push(() => closeWss(wss));
  return { wss, port: await portWhenListening(wss) };
}

describe('handshake limits', () => {
  it('a handshake trickled one byte every 50 ms is dropped at handshakeTimeout, bytes still coming', async () => {
    const { wss, port } = await server({ handshakeTimeout: 1000 });
    let connections = 0;
    wss.on('connection', () => { connections++; });
    const sock = net.connect(port, '127.0.0.1');
    cleanups.push(() => sock.destroy());
    sock.on('error', () => undefined);
    await once(sock, 'connect');
    const head = 'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      `X-Pad: ${'p'.repeat(400)}\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`;
    let i = 0;
    const t0 = Date.now();
    const drip = setInterval(() => { if (i < head.length && !sock.destroyed) sock.write(head[i++]); }, 50);
    cleanups.push(() => clearInterval(drip));
    await withTimeout(new Promise((r) => sock.once('close', r)), 6000, 'the server to drop the trickling peer');
    clearInterval(drip);
    const elapsed = Date.now() - t0;
    // headersTimeout 1000 ms, checked every connectionsCheckingInterval (1000 ms here).
    expect(elapsed).toBeGreaterThanOrEqual(900);
    expect(elapsed).toBeLessThan(3500);
    expect(i).toBeLessThan(head.length); // it was still sending when dropped
    expect(connections).toBe(0);
  });

  it('a request head over maxHeaderSize gets 431 and no connection', async () => {
    const { wss, port } = await server({ maxHeaderSize: 4096 });
    let connections = 0;
    wss.on('connection', () => { connections++; });
    const sock = net.connect(port, '127.0.0.1');
    cleanups.push(() => sock.destroy());
    await once(sock, 'connect');
    let reply = '';
    sock.on('data', (d) => { reply += d; });
    sock.write('GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      `X-Pad: ${'p'.repeat(8192)}\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    await withTimeout(once(sock, 'close'), T, 'close after 431');
    expect(reply.split('\r\n')[0]).toBe('HTTP/1.1 431 Request Header Fields Too Large');
    expect(connections).toBe(0);
  });
});
