// Hostile peers against wasmsocket/app beyond test/robustness.test.ts's garbage
// (which runs over the App too): slowloris request heads that trickle a byte at
// a time, a flood of connections that never send, and oversized heads, while a
// ws client keeps echoing. Every loop bounded in count and time.
import { afterEach, describe, expect, it } from 'vitest';
import net from 'node:net';
import WebSocket from 'ws';
import { App, SHARED_COMPRESSOR, us_socket_local_port, type TemplatedApp } from '../src/app/index.ts';
import { prng } from './helpers/prng.ts';

const apps: TemplatedApp[] = [];
const sockets: net.Socket[] = [];
afterEach(() => { for (const a of apps.splice(0)) a.close(); for (const s of sockets.splice(0)) s.destroy(); });

async function echoApp(httpIdleTimeout: number): Promise<number> {
  const app = App({ httpIdleTimeout }).ws('/*', { idleTimeout: 0, compression: SHARED_COMPRESSOR, message: (ws, m, b) => { ws.send(m, b); } });
  apps.push(app);
  return new Promise((resolve, reject) => app.listen('127.0.0.1', 0, (t) => t ? resolve(us_socket_local_port(t)) : reject(new Error('listen failed'))));
}

function connect(port: number): Promise<net.Socket & { closedAt: Promise<number> }> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1') as net.Socket & { closedAt: Promise<number> };
    sockets.push(s);
    s.closedAt = new Promise((r) => s.on('close', () => r(performance.now())));
    s.on('error', () => {});
    s.resume();
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

async function echoes(port: number): Promise<string> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
  await new Promise((r, j) => { ws.once('open', r); ws.once('error', j); });
  const got = new Promise<string>((r) => ws.once('message', (d) => r(d.toString())));
  ws.send('still echoing');
  const text = await got;
  ws.close();
  return text;
}

describe('wasmsocket/app against hostile peers', () => {
  it('a slowloris head (a byte every 200 ms) is closed within a few idle timeouts, not kept while it trickles', async () => {
    const port = await echoApp(1); // 1 s: the head must be whole within 1-1.5 s of its first byte
    const s = await connect(port);
    const head = `GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX-Pad: ${'a'.repeat(200)}\r\n\r\n`;
    const t0 = performance.now();
    let sent = 0;
    let closed = false;
    void s.closedAt.then(() => { closed = true; });
    // At most 60 bytes over 12 s: bounded in count and time.
    while (!closed && sent < 60 && performance.now() - t0 < 12_000) {
      s.write(head[sent++]!);
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(closed, `still open after ${sent} bytes`).toBe(true);
    expect((await s.closedAt) - t0).toBeLessThan(6_000);
    expect(await echoes(port)).toBe('still echoing');
  });

  it('500 connections that never send are closed by the idle sweep; the App goes on echoing', async () => {
    const port = await echoApp(1);
    const flood = await Promise.all(Array.from({ length: 500 }, () => connect(port)));
    expect(await echoes(port)).toBe('still echoing');
    const t0 = performance.now();
    const ends = await Promise.all(flood.map((s) => Promise.race([s.closedAt, new Promise<number>((r) => setTimeout(() => r(-1), 10_000))])));
    expect(ends.filter((t) => t < 0).length).toBe(0);
    expect(Math.max(...ends) - t0).toBeLessThan(5_000);
  });

  it('an endless head (16 KiB+ without its end) is answered 431 and closed', async () => {
    const port = await echoApp(10);
    const s = await connect(port);
    let answer = '';
    s.on('data', (d) => { answer += d.toString('latin1'); });
    s.write(`GET / HTTP/1.1\r\nHost: x\r\nX-Big: `);
    // 64 writes of 1 KiB: bounded.
    for (let i = 0; i < 64 && !s.destroyed; i++) s.write('b'.repeat(1024));
    await s.closedAt;
    expect(answer.startsWith('HTTP/1.1 431')).toBe(true);
    expect(await echoes(port)).toBe('still echoing');
  });

  it('1,000 seeded hostile Sec-WebSocket-Protocol / Sec-WebSocket-Extensions values: each answered 101 or 400, never a crash', async () => {
    // An invalid subprotocol offer used to throw out of the read and take the process down.
    const uncaught: unknown[] = [];
    const onUncaught = (e: unknown): void => { uncaught.push(e); };
    process.on('uncaughtException', onUncaught);
    try {
      const port = await echoApp(10);
      const rnd = prng(0x5ec_b07);
      const alphabet = ['a', 'chat', 'permessage-deflate', 'x-webkit-deflate-frame', ';', ',', '=', '"', '\\', ' ', '\t', '(', ')', '/', '@',
        'client_max_window_bits', 'server_max_window_bits', 'server_no_context_takeover', '15', '8', '99', '0x9', '\u00e9', '\u{1f600}'];
      const value = (): string => Array.from({ length: 1 + Math.floor(rnd() * 12) }, () => alphabet[Math.floor(rnd() * alphabet.length)]).join('');
      const statuses: Record<string, number> = {};
      const one = async (): Promise<void> => {
        const s = await connect(port);
        let answer = '';
        s.on('data', (d) => { answer += d.toString('latin1'); });
        s.write(Buffer.from(`GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n` +
          `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ${value()}\r\nSec-WebSocket-Extensions: ${value()}\r\n\r\n`, 'utf8'));
        for (let i = 0; i < 100 && !answer.includes('\r\n'); i++) await new Promise((r) => setTimeout(r, 20));
        const status = answer.slice(9, 12) || 'none';
        statuses[status] = (statuses[status] ?? 0) + 1;
        s.destroy();
      };
      let next = 0;
      await Promise.all(Array.from({ length: 16 }, async () => { while (next++ < 1_000) await one(); }));
      console.log(`[app upgrade header fuzz] statuses ${JSON.stringify(statuses)}`);
      expect(Object.keys(statuses).every((k) => k === '101' || k === '400')).toBe(true);
      expect(uncaught).toEqual([]);
      expect(await echoes(port)).toBe('still echoing');
    } finally {
      process.removeListener('uncaughtException', onUncaught);
    }
  });
});
