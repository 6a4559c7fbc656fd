// wasmsocket/app takes wasmsocket/redis on the same broker seam as the ThreadBroker
// (app.useBroker): two Apps, each with its own RedisBroker on one real
// redis-server, as two processes or machines would be; a publish on one reaches
// the other's subscribers, and a topic nobody subscribes to on the other App is
// not delivered there. Skips with a printed reason without redis-server.
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { App, us_listen_socket_close, us_socket_local_port, type ListenSocket, type TemplatedApp } from '../src/app/index.ts';
import { redisBroker } from '../src/redis/index.ts';
import { HAS_REDIS, NO_REDIS_REASON, RedisServer } from './helpers/redis.ts';

const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => { for (const f of cleanup.splice(0).reverse()) await f(); });

async function roomApp(url: string, prefix: string): Promise<{ app: TemplatedApp; port: number }> {
  const broker = redisBroker({ url, prefix });
  const app = App().useBroker(broker);
  app.ws('/:room', {
    upgrade: (res, req, context) => {
      res.upgrade({ room: req.getParameter(0) }, req.getHeader('sec-websocket-key'), req.getHeader('sec-websocket-protocol'),
        req.getHeader('sec-websocket-extensions'), context);
    },
    open: (ws) => { ws.subscribe((ws.getUserData() as { room: string }).room); },
    message: (ws, message, isBinary) => { ws.publish((ws.getUserData() as { room: string }).room, message, isBinary); },
  });
  const token = await new Promise<ListenSocket | false>((r) => app.listen('127.0.0.1', 0, r));
  if (!token) throw new Error('listen failed');
  cleanup.push(() => { us_listen_socket_close(token); app.close(); });
  await broker.ready;
  return { app, port: us_socket_local_port(token) };
}

function client(port: number, room: string): Promise<{ ws: WebSocket; got: string[] }> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/${room}`);
  const got: string[] = [];
  ws.on('message', (d) => got.push(String(d)));
  cleanup.push(() => { ws.terminate(); });
  return new Promise((resolve, reject) => { ws.on('open', () => resolve({ ws, got })); ws.on('error', reject); });
}

async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

if (!HAS_REDIS) console.log(`skipping the App over Redis test: ${NO_REDIS_REASON}`);

describe.skipIf(!HAS_REDIS)('wasmsocket/app with the Redis broker', () => {
  it('a publish on one App reaches the subscribers of another through Redis, and only theirs', async () => {
    const redis = await RedisServer.start();
    cleanup.push(() => redis.stop());
    const prefix = `app-${process.pid}-${Date.now()}`;
    const one = await roomApp(redis.url, prefix);
    const two = await roomApp(redis.url, prefix);
    const a = await client(one.port, 'red');
    const b = await client(two.port, 'red');
    const c = await client(two.port, 'blue');
    // Subscriptions reach Redis asynchronously: publish until the other App hears one.
    for (let i = 0; i < 100 && b.got.length === 0; i++) {
      a.ws.send(`hello ${i}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    await until(() => b.got.length > 0, 'the other App got the publish');
    expect(b.got[0]).toMatch(/^hello \d+$/);
    expect(a.got).toEqual([]); // ws.publish leaves out the sender, as in uWS.js
    b.ws.send('back');
    await until(() => a.got.includes('back'), 'the publish came back to the first App');
    expect(c.got).toEqual([]);
    expect(one.app.numSubscribers('red')).toBe(1);
  }, 60_000);
});
