// Frame-once broadcast and topics: ordering against a fragmented send in progress,
// compress-once for permessage-deflate peers interleaved with their own compressed sends.
import { expect, it } from 'vitest';
import type { AddressInfo } from 'node:net';
import WS from 'ws';
import { WebSocketServer, type ServerOptions, type WebSocket } from '../src/index.ts';
import { cleanupList } from './helpers/servers.ts';

const cleanups = cleanupList();

async function server(options: ServerOptions = {}): Promise<{ wss: WebSocketServer; url: string; next: () => Promise<WebSocket> }> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', ...options });
  const waiting: Array<(ws: WebSocket) => void> = [];
  wss.on('connection', (ws) => waiting.shift()?.(ws));
  await new Promise((r) => wss.once('listening', r));
  cleanups.push(() => new Promise((r) => { for (const c of wss.clients) c.terminate(); wss.close(() => r(undefined)); }));
  return { wss, url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, next: () => new Promise((r) => waiting.push(r)) };
}

function client(url: string, options: WS.ClientOptions = {}): Promise<{ c: WS; messages: string[] }> {
  const c = new WS(url, options);
  cleanups.push(() => c.terminate());
  const messages: string[] = [];
  c.on('message', (d) => messages.push(String(d)));
  return new Promise((r, j) => { c.once('open', () => r({ c, messages })); c.once('error', j); });
}

const until = async (cond: () => boolean) => { for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 10)); };

it('a broadcast waits for a fragmented send in progress to finish', async () => {
  const { wss, url, next } = await server();
  const pending = next();
  const a = await client(url);
  const ws = await pending;
  let errored = false;
  a.c.on('error', () => { errored = true; });
  ws.send('part one, ', { fin: false });
  expect(wss.broadcast('broadcast')).toBe(1);
  await new Promise((r) => setTimeout(r, 20));
  ws.send('part two', { fin: true });
  await until(() => a.messages.length === 2);
  expect(errored).toBe(false);
  expect(a.messages).toEqual(['part one, part two', 'broadcast']);
});

it('publish reaches subscribers once; except and unsubscribe leave sockets out', async () => {
  const { wss, url, next } = await server();
  const peers: Array<{ ws: WebSocket; messages: string[] }> = [];
  for (let i = 0; i < 3; i++) {
    const pending = next();
    const { messages } = await client(url);
    peers.push({ ws: await pending, messages });
  }
  peers.forEach((p) => p.ws.subscribe('news'));
  peers[2].ws.unsubscribe('news');
  expect(wss.publish('news', 'n1')).toBe(2);
  expect(wss.publish('news', 'n2', { except: peers[0].ws })).toBe(1);
  expect(wss.broadcast('all')).toBe(3);
  await until(() => peers[0].messages.length === 2 && peers[1].messages.length === 3 && peers[2].messages.length === 1);
  expect(peers.map((p) => p.messages)).toEqual([['n1', 'all'], ['n1', 'n2', 'all'], ['all']]);
  expect(peers[0].ws.getTopics()).toEqual(['news']);
});

it('with permessage-deflate a broadcast is compressed once and interleaves with each peer\'s own compressed sends', async () => {
  // threshold 0: everything compresses; ws clients keep context takeover (their default)
  const { wss, url, next } = await server({ perMessageDeflate: { threshold: 0 } });
  const peers: Array<{ ws: WebSocket; c: WS; messages: string[] }> = [];
  for (let i = 0; i < 3; i++) {
    const pending = next();
    const { c, messages } = await client(url, { perMessageDeflate: true });
    const ws = await pending;
    expect(ws.extensions).toContain('permessage-deflate');
    let errored: Error | null = null;
    c.on('error', (e) => { errored = e; });
    peers.push({ ws, c, messages, get errored() { return errored; } } as never);
  }
  const plain = new WS(url, { perMessageDeflate: false });
  cleanups.push(() => plain.terminate());
  const plainMessages: string[] = [];
  plain.on('message', (d) => plainMessages.push(String(d)));
  await new Promise((r) => plain.once('open', r));

  const bytesBefore = peers.map((p) => (p.ws as unknown as { _socket: { bytesWritten: number } })._socket.bytesWritten);
  const expected: string[][] = peers.map(() => []);
  const line = (tag: string, i: number) => `${tag} ${i} `.repeat(400); // ~4 KB, compressible
  for (let round = 0; round < 20; round++) {
    // each peer's own stream (context takeover) ...
    peers.forEach((p, k) => { const m = line(`unicast ${k}`, round); p.ws.send(m); expected[k].push(m); });
    // ... then a frame deflated once for all, which their streams never saw
    const b = line('broadcast', round);
    expect(wss.broadcast(b)).toBe(4);
    peers.forEach((_, k) => expected[k].push(b));
  }
  await until(() => peers.every((p) => p.messages.length === 40) && plainMessages.length === 20);
  peers.forEach((p, k) => {
    expect((p as unknown as { errored: Error | null }).errored).toBeNull();
    expect(p.messages).toEqual(expected[k]);
  });
  expect(plainMessages).toEqual(expected[0].filter((m) => m.startsWith('broadcast')));
  // 40 messages of ~4 KB each went out compressed to every deflate peer
  peers.forEach((p, k) => {
    const written = (p.ws as unknown as { _socket: { bytesWritten: number } })._socket.bytesWritten - bytesBefore[k];
    expect(written).toBeLessThan(40 * 4000 / 5);
  });
});
