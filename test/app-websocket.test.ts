// wasmsocket/app's WebSocket side (src/app/websocket.ts on src/core/protocol.ts)
// with `ws` as the peer on real sockets, on both carriers: echo of every size
// and both types, compressed sends, lent messages that fail loudly when kept,
// the close handler for each way a connection ends, maxPayloadLength, send()'s
// 1/0/2 with drain, pings, and frames that come in the same read as the head.
import { afterEach, describe, expect, it } from 'vitest';
import net from 'node:net';
import { Buffer } from 'node:buffer';
import WebSocket from 'ws';
import { App, SHARED_COMPRESSOR, us_socket_local_port, type TemplatedApp, type ListenSocket, type WebSocketBehavior } from '../src/app/index.ts';
import type { WebSocket as AppSocket } from '../src/app/websocket.ts';
import { setAppTransport } from '../src/app/node-platform.ts';
import { tcpStats } from '../src/app/node-tcp.ts';

const apps: TemplatedApp[] = [];
afterEach(() => { for (const a of apps.splice(0)) a.close(); setAppTransport('tcp'); });

async function serve(behavior: WebSocketBehavior): Promise<number> {
  const app = App().ws('/*', behavior);
  apps.push(app);
  return new Promise((resolve, reject) => app.listen('127.0.0.1', 0, (t: ListenSocket | false) => t ? resolve(us_socket_local_port(t)) : reject(new Error('listen failed'))));
}

function open(port: number, options: WebSocket.ClientOptions = {}, path = '/'): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, options);
    ws.on('open', () => resolve(ws));
    ws.on('error', reject);
  });
}

const closed = (ws: WebSocket): Promise<{ code: number; reason: string }> =>
  new Promise((r) => ws.on('close', (code, reason) => r({ code, reason: reason.toString() })));

function nextMessage(ws: WebSocket): Promise<{ data: Buffer; isBinary: boolean }> {
  return new Promise((r) => ws.once('message', (data: Buffer, isBinary: boolean) => r({ data, isBinary })));
}

const echo: WebSocketBehavior = {
  maxPayloadLength: 2 * 1024 * 1024,
  maxBackpressure: 4 * 1024 * 1024,
  message: (ws, message, isBinary) => { ws.send(message, isBinary); },
};

for (const carrier of ['tcp', 'net'] as const) {
  describe(`App WebSockets over ${carrier === 'tcp' ? "Node's TCP handles" : 'net.Server'}`, () => {
    it('echoes text and binary of every size (0 B to 1 MiB), userData reachable in open', async () => {
      setAppTransport(carrier);
      const opened: unknown[] = [];
      const port = await serve({
        ...echo,
        upgrade: (res, req, context) => res.upgrade({ url: req.getUrl() }, req.getHeader('sec-websocket-key'), '', '', context),
        open: (ws) => { opened.push([(ws.getUserData() as { url: string }).url, ws.url]); },
      });
      const ws = await open(port, {}, '/room/1');
      expect(opened).toEqual([['/room/1', '/room/1']]);
      for (const size of [0, 32, 1024, 64 * 1024, 1024 * 1024]) {
        const bin = Buffer.alloc(size, size % 251);
        const got = nextMessage(ws);
        ws.send(bin);
        const m = await got;
        expect(m.isBinary).toBe(true);
        expect(m.data.equals(bin)).toBe(true);
        const text = 'é'.repeat(size / 2);
        const gotText = nextMessage(ws);
        ws.send(text);
        const t = await gotText;
        expect(t.isBinary).toBe(false);
        expect(t.data.toString()).toBe(text);
      }
      const done = closed(ws);
      ws.close(1000);
      expect((await done).code).toBe(1000);
    });

    it('without an upgrade handler getUserData() is one empty object per socket, made when first asked for', async () => {
      setAppTransport(carrier);
      const seen: unknown[] = [];
      const port = await serve({ ...echo, open: (ws) => { seen.push(ws.getUserData(), ws.getUserData()); } });
      const a = await open(port), b = await open(port);
      for (let t = 0; seen.length < 4 && t < 100; t++) await new Promise((r) => setTimeout(r, 10));
      expect(seen).toHaveLength(4);
      expect(seen[0]).toEqual({});
      expect(seen[0]).toBe(seen[1]);
      expect(seen[2]).toEqual({});
      expect(seen[2]).not.toBe(seen[0]);
      a.close(); b.close();
    });

    it('compresses a send when asked (SHARED_COMPRESSOR) and inflates what the client compressed', async () => {
      setAppTransport(carrier);
      const port = await serve({
        compression: SHARED_COMPRESSOR, maxPayloadLength: 1024 * 1024,
        message: (ws, message, isBinary) => { ws.send(message, isBinary, true); },
      });
      const ws = await open(port, { perMessageDeflate: { threshold: 0 } });
      const text = 'the same chat line, again and again. '.repeat(2000); // 74 KB, very compressible
      const before = (ws as unknown as { _socket: net.Socket })._socket.bytesRead;
      const got = nextMessage(ws);
      ws.send(text);
      expect((await got).data.toString()).toBe(text);
      const wireBytes = (ws as unknown as { _socket: net.Socket })._socket.bytesRead - before;
      expect(wireBytes).toBeLessThan(text.length / 10);
      ws.terminate();
    });

    it('lends messages: an ArrayBuffer kept past the handler is detached (empty, new views throw)', async () => {
      setAppTransport(carrier);
      let kept: ArrayBuffer | null = null, view: Uint8Array | null = null, during = -1;
      let resolveSeen!: () => void;
      const seen = new Promise<void>((r) => { resolveSeen = r; });
      const port = await serve({
        message: (_ws, message) => { kept = message; view = new Uint8Array(message); during = view[0]; resolveSeen(); },
      });
      const ws = await open(port);
      ws.send(Buffer.from([7, 8, 9]));
      await seen;
      expect(during).toBe(7);
      expect(kept!.byteLength).toBe(0);
      expect(view!.length).toBe(0);
      expect(() => new Uint8Array(kept!)).toThrow(TypeError);
      ws.terminate();
    });

    it('close handler: the client closing (its code and reason), end(code, message), close() (1006); a closed socket throws', async () => {
      setAppTransport(carrier);
      const closes: [number, string][] = [];
      let last: AppSocket | null = null;
      const port = await serve({
        message: (ws, message) => {
          const cmd = Buffer.from(message).toString();
          if (cmd === 'end') ws.end(4000, 'server says bye');
          if (cmd === 'close') ws.close();
          last = ws;
        },
        close: (_ws, code, message) => { closes.push([code, Buffer.from(message).toString()]); },
      });
      const a = await open(port);
      const aClosed = closed(a);
      a.close(4001, 'client says bye');
      expect(await aClosed).toEqual({ code: 4001, reason: 'client says bye' });
      const b = await open(port);
      const bClosed = closed(b);
      b.send('end');
      expect(await bClosed).toEqual({ code: 4000, reason: 'server says bye' });
      expect(() => last!.send('more')).toThrow(/Invalid access of closed uWS.WebSocket/);
      const c = await open(port);
      const cClosed = closed(c);
      c.send('close');
      expect((await cClosed).code).toBe(1006);
      await new Promise((r) => setTimeout(r, 20));
      expect(closes).toEqual([[4001, 'client says bye'], [4000, 'server says bye'], [1006, '']]);
    });

    it('closes with 1009 a message past maxPayloadLength (uWS.js default 16 KiB)', async () => {
      setAppTransport(carrier);
      const got: number[] = [];
      const port = await serve({ message: (_ws, m) => { got.push(m.byteLength); } });
      const ws = await open(port);
      const done = closed(ws);
      ws.send(Buffer.alloc(16 * 1024));
      ws.send(Buffer.alloc(16 * 1024 + 1));
      expect((await done).code).toBe(1009);
      expect(got).toEqual([16 * 1024]);
    });

    it('send returns 1, then 0 behind backpressure, then 2 past maxBackpressure; drain comes once the client reads', async () => {
      setAppTransport(carrier);
      const statuses: number[] = [];
      let drained = 0, droppedBytes = 0, droppedBinary = false;
      let resolveDrain!: () => void;
      const drainSeen = new Promise<void>((r) => { resolveDrain = r; });
      const chunk = Buffer.alloc(256 * 1024, 1);
      const port = await serve({
        maxBackpressure: 1024 * 1024,
        message: (ws) => {
          // Outside the read's cork, so each send reaches the kernel: bounded to 200 sends.
          const step = (i: number): void => {
            if (i >= 200) return;
            const s = ws.send(chunk, true);
            statuses.push(s);
            if (s !== 2) setImmediate(() => step(i + 1));
          };
          setImmediate(() => step(0));
        },
        drain: () => { drained++; resolveDrain(); },
        dropped: (_ws, message, isBinary) => { droppedBytes += message.byteLength; droppedBinary = isBinary; },
      });
      const ws = await open(port);
      const socket = (ws as unknown as { _socket: net.Socket })._socket;
      socket.pause();
      ws.send('go');
      const deadline = Date.now() + 10_000;
      while (!statuses.includes(2) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect(statuses[0]).toBe(1);
      expect(statuses).toContain(0);
      expect(statuses[statuses.length - 1]).toBe(2);
      expect(droppedBytes).toBe(chunk.length); // the dropped handler had the message
      expect(droppedBinary).toBe(true);
      socket.resume();
      await drainSeen;
      expect(drained).toBeGreaterThan(0);
      ws.terminate();
    });

    it('drain keeps a sender that fills to a mark going (sending while getBufferedAmount() is under 1 KiB)', async () => {
      setAppTransport(carrier);
      let sent = 0, drains = 0;
      const fill = (ws: AppSocket): void => { while (ws.getBufferedAmount() < 1024 && sent < 200_000) { ws.send(`message ${sent}`); sent++; } };
      const port = await serve({ open: fill, drain: (ws) => { drains++; fill(ws); } });
      const ws = await open(port);
      let received = 0;
      ws.on('message', () => { received++; });
      const deadline = Date.now() + 10_000;
      while (received < 20_000 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      // Without drains after a flush the kernel took whole, the flow would stop after the first kilobyte (~70 messages).
      expect(received).toBeGreaterThanOrEqual(20_000);
      expect(drains).toBeGreaterThan(100);
      ws.terminate();
    });

    it('answers pings itself and hands them to the ping handler; ws.ping() reaches the client', async () => {
      setAppTransport(carrier);
      const pings: string[] = [];
      const port = await serve({
        ping: (ws, m) => { pings.push(Buffer.from(m).toString()); ws.ping('back'); },
      });
      const ws = await open(port);
      const pong = new Promise<string>((r) => ws.once('pong', (d: Buffer) => r(d.toString())));
      const ping = new Promise<string>((r) => ws.once('ping', (d: Buffer) => r(d.toString())));
      ws.ping('hello');
      expect(await pong).toBe('hello');
      expect(await ping).toBe('back');
      expect(pings).toEqual(['hello']);
      ws.terminate();
    });

    it('topics: ws.publish reaches the other subscribers, app.publish all of them; counts, getTopics, subscription handler', async () => {
      setAppTransport(carrier);
      const counts: [string, number, number][] = [];
      const app = App().ws('/*', {
        message: (ws, m) => {
          const [cmd, arg] = Buffer.from(m).toString().split(' ');
          if (cmd === 'sub') ws.send(`${ws.subscribe(arg)} ${ws.getTopics().join(',')}`);
          if (cmd === 'unsub') ws.send(`${ws.unsubscribe(arg)} ${ws.isSubscribed(arg)}`);
          if (cmd === 'pub') ws.publish('room', `from ws: ${arg}`);
        },
        subscription: (_ws, topic, newCount, oldCount) => { counts.push([Buffer.from(topic).toString(), newCount, oldCount]); },
      });
      apps.push(app);
      const port = await new Promise<number>((r) => app.listen('127.0.0.1', 0, (t: ListenSocket | false) => r(us_socket_local_port(t as ListenSocket))));
      const clients = await Promise.all([open(port), open(port), open(port)]);
      for (const c of clients) {
        const reply = nextMessage(c);
        c.send('sub room');
        expect((await reply).data.toString()).toBe('true room');
      }
      expect(app.numSubscribers('room')).toBe(3);
      const heard = clients.map((c) => nextMessage(c));
      clients[0].send('pub hi');
      expect((await heard[1]).data.toString()).toBe('from ws: hi');
      expect((await heard[2]).data.toString()).toBe('from ws: hi');
      // The publisher did not hear itself: its next message is the App's publish.
      app.publish('room', Buffer.from('from app'), true);
      const all = await Promise.all(clients.map((c, i) => i === 0 ? heard[0] : nextMessage(c)));
      expect(all.map((m) => [m.data.toString(), m.isBinary])).toEqual([['from app', true], ['from app', true], ['from app', true]]);
      const unsub = nextMessage(clients[1]);
      clients[1].send('unsub room');
      expect((await unsub).data.toString()).toBe('true false');
      expect(app.numSubscribers('room')).toBe(2);
      const gone = closed(clients[2]);
      clients[2].close();
      await gone;
      await new Promise((r) => setTimeout(r, 20));
      expect(app.numSubscribers('room')).toBe(1);
      expect(counts).toEqual([['room', 1, 0], ['room', 2, 1], ['room', 3, 2], ['room', 2, 3]]);
      clients[0].terminate();
      clients[1].terminate();
    });

    it('idleTimeout: a silent peer is closed after 1-1.25x the timeout; one that answers the automatic pings stays', async () => {
      setAppTransport(carrier);
      const quiet = await serve({ idleTimeout: 1, sendPingsAutomatically: false });
      const a = await open(quiet);
      // ws answers pings by itself; without pings from us it sends nothing.
      const started = Date.now();
      const aClosed = await closed(a);
      const took = Date.now() - started;
      expect(aClosed.code).toBe(1006);
      expect(took).toBeGreaterThan(700);
      expect(took).toBeLessThan(4000);
      const pinging = await serve({ idleTimeout: 1 });
      const b = await open(pinging);
      let pings = 0;
      b.on('ping', () => { pings++; });
      await new Promise((r) => setTimeout(r, 2500));
      expect(b.readyState).toBe(WebSocket.OPEN);
      expect(pings).toBeGreaterThan(0);
      b.terminate();
    });

    it('hostile frames: an unmasked frame is answered with close 1002 and FIN; garbage in bulk does not take the process down', async () => {
      setAppTransport(carrier);
      const closes: number[] = [];
      const port = await serve({ close: (_ws, code) => { closes.push(code); } });
      const upgradeRequest = 'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';
      const rawSession = (after: Buffer): Promise<Buffer> => new Promise((resolve) => {
        const s = net.connect(port, '127.0.0.1', () => s.write(Buffer.concat([Buffer.from(upgradeRequest), after])));
        const parts: Buffer[] = [];
        s.on('data', (d) => parts.push(d));
        s.on('error', () => {});
        s.on('close', () => resolve(Buffer.concat(parts)));
        setTimeout(() => s.destroy(), 3000);
      });
      const unmasked = await rawSession(Buffer.from([0x81, 0x02, 0x68, 0x69]));
      const head = unmasked.indexOf('\r\n\r\n') + 4;
      expect(unmasked.subarray(head, head + 4)).toEqual(Buffer.from([0x88, 0x02, 0x03, 0xea]));
      // Seeded garbage: whatever the core makes of it, the connection ends and the App keeps serving.
      let x = 0x2545f491;
      const garbage = Buffer.from(new Uint8Array(256 * 1024).map(() => { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; return x & 0xff; }));
      await rawSession(garbage);
      const ws = await open(port);
      const done = closed(ws);
      ws.close(1000);
      expect((await done).code).toBe(1000);
      await new Promise((r) => setTimeout(r, 20));
      expect(closes).toHaveLength(3);
      expect(closes[0]).toBe(1006); // a failed connection: no close frame came from the peer
    });

    it('maxLifetime (minutes) closes even a busy socket once it has been open that long', async () => {
      setAppTransport(carrier);
      const port = await serve({ idleTimeout: 0, maxLifetime: 0.02, message: (ws, m) => { ws.send(m); } }); // 1.2 s
      const ws = await open(port);
      const started = Date.now();
      const talk = setInterval(() => { if (ws.readyState === WebSocket.OPEN) ws.send('still here'); }, 50);
      const done = await closed(ws);
      clearInterval(talk);
      expect(done.code).toBe(1006);
      expect(Date.now() - started).toBeGreaterThan(1000);
    });

    it('takes frames sent in the same packet as the upgrade request', async () => {
      setAppTransport(carrier);
      let resolveMsg!: (s: string) => void;
      const msg = new Promise<string>((r) => { resolveMsg = r; });
      const port = await serve({ message: (_ws, m) => resolveMsg(Buffer.from(m).toString()) });
      const payload = Buffer.from('early');
      const mask = Buffer.from([1, 2, 3, 4]);
      const frame = Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, Buffer.from(payload.map((b, i) => b ^ mask[i % 4]))]);
      const s = net.connect(port, '127.0.0.1', () => s.write(Buffer.concat([Buffer.from(
        'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n'), frame])));
      s.on('error', () => {});
      expect(await msg).toBe('early');
      s.destroy();
    });
  });
}

describe("a WebSocket on Node's TCP handles reads straight into the codec's wasm memory", () => {
  it('reads after the upgrade land in the decoder\'s input area (the counter moves), messages intact', async () => {
    setAppTransport('tcp');
    const port = await serve(echo);
    const ws = await open(port);
    const before = tcpStats.directReads;
    for (const size of [5, 70_000, 300_000]) {
      const bin = Buffer.alloc(size, size % 253);
      const got = nextMessage(ws);
      ws.send(bin);
      expect((await got).data.equals(bin)).toBe(true);
    }
    expect(tcpStats.directReads - before).toBeGreaterThanOrEqual(3);
    ws.terminate();
  });
});

describe("a WebSocket's sends are corked on Node's TCP handles", () => {
  it("ten sends in one message handler leave in one write", async () => {
    setAppTransport('tcp');
    const port = await serve({ message: (ws) => { for (let i = 0; i < 10; i++) ws.send(`reply ${i}`); } });
    const ws = await open(port);
    const replies: string[] = [];
    const all = new Promise<void>((r) => ws.on('message', (d: Buffer) => { replies.push(d.toString()); if (replies.length === 10) r(); }));
    await new Promise((r) => setTimeout(r, 20));
    const before = tcpStats.writes;
    ws.send('go');
    await all;
    expect(tcpStats.writes - before).toBe(1);
    expect(replies[9]).toBe('reply 9');
    ws.terminate();
  });
});
