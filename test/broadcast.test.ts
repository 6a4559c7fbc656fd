// Frame-once broadcast and topics: ordering against a fragmented send in progress.
import { expect, it } from 'vitest';
import type { AddressInfo } from 'node:net';
import WS from 'ws';
import { WebSocketServer, type WebSocket } from '../src/index.ts';
import { cleanupList } from './helpers/servers.ts';

const cleanups = cleanupList();

async function server(): Promise<{ wss: WebSocketServer; url: string; next: () => Promise<WebSocket> }> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  const waiting: Array<(ws: WebSocket) => void> = [];
  wss.on('connection', (ws) => waiting.shift()?.(ws));
  await new Promise((r) => wss.once('listening', r));
  cleanups.push(() => new Promise((r) => { for (const c of wss.clients) c.terminate(); wss.close(() => r(undefined)); }));
  return { wss, url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, next: () => new Promise((r) => waiting.push(r)) };
}

function client(url: string): Promise<{ c: WS; messages: string[] }> {
  const c = new WS(url);
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
