// The javascript.info WebSocket chapter (https://javascript.info/websocket),
// run in Node against our server: the "hello" demo server (ws API, noServer +
// handleUpgrade) and the browser-style client (onopen/onmessage/onclose/onerror),
// code kept as in the chapter apart from `alert` -> log and the port.
import { beforeAll, describe, expect, it } from 'vitest';
import { once } from 'node:events';
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import ws from '../src/index.ts';
import { WebSocket } from '../src/index.ts';
import { buildCjsIfMissing } from './helpers/dist.ts';
import { cleanupList, listenLocal } from './helpers/servers.ts';
import { T, withTimeout } from './helpers/wait.ts';

const ROOT = new URL('..', import.meta.url).pathname;

const cleanups = cleanupList({ bestEffort: true });

// ---------------------------------------------------------------------------
// the chapter's demo server (demo/hello/server.js), with our package as `ws`

interface Demo { server: http.Server; wss: InstanceType<typeof ws.WebSocketServer>; port: number; conns: WebSocket[] }

async function startDemoServer(closeAfterMs = 5000): Promise<Demo> {
  const wss = new ws.WebSocketServer({ noServer: true });
  const conns: WebSocket[] = [];

  function accept(req: http.IncomingMessage, res: http.ServerResponse): void {
    // all incoming requests must be websockets
    if (!req.headers.upgrade || req.headers.upgrade.toLowerCase() != 'websocket') {
      res.end();
      return;
    }

    // can be Connection: keep-alive, Upgrade
    if (!req.headers.connection!.match(/\bupgrade\b/i)) {
      res.end();
      return;
    }

    wss.handleUpgrade(req, req.socket, Buffer.alloc(0), onConnect);
  }

  function onConnect(ws: WebSocket): void {
    conns.push(ws);
    ws.on('message', function (message: Buffer | string) {
      message = message.toString();
      const name = message.match(/([\p{Alpha}\p{M}\p{Nd}\p{Pc}\p{Join_C}]+)$/gu) || 'Guest';
      ws.send(`Hello from server, ${name}!`);

      setTimeout(() => ws.close(1000, 'Bye!'), closeAfterMs);
    });
  }

  const server = http.createServer(accept);
  const port = await listenLocal(server);
  cleanups.push(async () => {
    for (const c of conns) c.terminate();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    await new Promise<void>((r) => wss.close(() => r()));
  });
  return { server, wss, port, conns };
}

// ---------------------------------------------------------------------------
// the chapter's client, with `alert` writing to a log

interface ClientRun { socket: WebSocket; log: string[]; events: Array<{ type: string; at: number; code?: number; reason?: string; wasClean?: boolean; data?: unknown }>; closed: Promise<void> }

function runChapterClient(url: string): ClientRun {
  const log: string[] = [];
  const events: ClientRun['events'] = [];
  const alert = (s: string): void => { log.push(s); };
  let resolveClosed!: () => void;
  const closed = new Promise<void>((r) => { resolveClosed = r; });

  const socket = new WebSocket(url);
  cleanups.push(() => socket.terminate());

  socket.onopen = function (_e) {
    events.push({ type: 'open', at: Date.now() });
    alert('[open] Connection established');
    alert('Sending to server');
    socket.send('My name is John');
  };

  socket.onmessage = function (event: any) {
    events.push({ type: 'message', at: Date.now(), data: event.data });
    alert(`[message] Data received from server: ${event.data}`);
  };

  socket.onclose = function (event: any) {
    events.push({ type: 'close', at: Date.now(), code: event.code, reason: event.reason, wasClean: event.wasClean });
    if (event.wasClean) {
      alert(`[close] Connection closed cleanly, code=${event.code} reason=${event.reason}`);
    } else {
      // e.g. server process killed or network down
      // event.code is usually 1006 in this case
      alert('[close] Connection died');
    }
    resolveClosed();
  };

  socket.onerror = function (_error) {
    events.push({ type: 'error', at: Date.now() });
    alert(`[error]`);
  };

  return { socket, log, events, closed };
}

describe('javascript.info WebSocket chapter', () => {
  it('the hello demo: open -> message -> clean close 1000 "Bye!" about 5 s later', async () => {
    const demo = await startDemoServer();
    const run = runChapterClient(`ws://127.0.0.1:${demo.port}/article/websocket/demo/hello`);
    await withTimeout(run.closed, 9000, 'the server to close the connection');
    expect(run.log).toEqual([
      '[open] Connection established',
      'Sending to server',
      '[message] Data received from server: Hello from server, John!',
      '[close] Connection closed cleanly, code=1000 reason=Bye!',
    ]);
    expect(run.events.map((e) => e.type)).toEqual(['open', 'message', 'close']);
    const [, message, close] = run.events;
    expect(typeof message.data).toBe('string');
    expect(close).toMatchObject({ code: 1000, reason: 'Bye!', wasClean: true });
    // the server closes 5 s after the message (setTimeout in onConnect)
    expect(close.at - message.at).toBeGreaterThanOrEqual(4900);
    expect(close.at - message.at).toBeLessThan(7000);
    expect(run.socket.readyState).toBe(WebSocket.CLOSED);
  }, 15_000);

  it('a name the regexp cannot find: the server answers Guest', async () => {
    const demo = await startDemoServer(10);
    const run = runChapterClient(`ws://127.0.0.1:${demo.port}/`);
    run.socket.onopen = () => run.socket.send('?!');
    await withTimeout(run.closed, T, 'close');
    expect(run.events.map((e) => e.type)).toEqual(['message', 'close']);
    expect(run.events[0].data).toBe('Hello from server, Guest!');
    expect(run.events[1]).toMatchObject({ code: 1000, reason: 'Bye!', wasClean: true });
  });

  it('a plain HTTP request to the demo server gets an empty answer', async () => {
    const demo = await startDemoServer();
    const res = await fetch(`http://127.0.0.1:${demo.port}/`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('');
  });

  it('connection died: the server-side socket is destroyed without a close frame -> wasClean false, 1006', async () => {
    const demo = await startDemoServer(60_000);
    const run = runChapterClient(`ws://127.0.0.1:${demo.port}/`);
    await withTimeout(new Promise<void>((r) => run.socket.addEventListener('message', () => r(), { once: true })), T, 'the answer');
    const serverSide = demo.conns[0] as unknown as { _socket: { destroy(): void } };
    serverSide._socket.destroy();
    await withTimeout(run.closed, T, 'close');
    const close = run.events.find((e) => e.type === 'close')!;
    expect(close).toMatchObject({ code: 1006, wasClean: false, reason: '' });
    expect(run.log.at(-1)).toBe('[close] Connection died');
    expect(run.events.filter((e) => e.type !== 'error').map((e) => e.type)).toEqual(['open', 'message', 'close']);
  });

  describe('server process killed with SIGKILL', () => {
    beforeAll(() => buildCjsIfMissing(), 130_000);

    it('the client sees wasClean false and code 1006', async () => {
      // The chapter's server.js as a CommonJS program, `ws` being our built package.
      const script = `
        const http = require('http');
        const ws = require('./dist/index.cjs');
        const wss = new ws.WebSocketServer({noServer: true});
        function accept(req, res) {
          if (!req.headers.upgrade || req.headers.upgrade.toLowerCase() != 'websocket') { res.end(); return; }
          if (!req.headers.connection.match(/\\bupgrade\\b/i)) { res.end(); return; }
          wss.handleUpgrade(req, req.socket, Buffer.alloc(0), onConnect);
        }
        function onConnect(ws) {
          ws.on('message', function (message) {
            message = message.toString();
            let name = message.match(/([\\p{Alpha}\\p{M}\\p{Nd}\\p{Pc}\\p{Join_C}]+)$/gu) || "Guest";
            ws.send(\`Hello from server, \${name}!\`);
            setTimeout(() => ws.close(1000, "Bye!"), 5000);
          });
        }
        const server = http.createServer(accept).listen(0, '127.0.0.1', () => console.log('PORT ' + server.address().port));
        setTimeout(() => process.exit(3), 20000).unref();`;
      const child: ChildProcess = spawn(process.execPath, ['-e', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      cleanups.push(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); });
      let out = '';
      let err = '';
      child.stderr!.on('data', (d) => { err += d; });
      const port = await withTimeout(new Promise<number>((resolve, reject) => {
        child.stdout!.on('data', (d) => {
          out += d;
          const m = /PORT (\d+)/.exec(out);
          if (m) resolve(Number(m[1]));
        });
        child.once('exit', (code) => reject(new Error(`server exited early (${code}): ${err}`)));
      }), 10_000, 'the child server');

      const run = runChapterClient(`ws://127.0.0.1:${port}/`);
      await withTimeout(new Promise<void>((r) => run.socket.addEventListener('message', () => r(), { once: true })), T, 'the answer');
      expect(run.events.find((e) => e.type === 'message')!.data).toBe('Hello from server, John!');
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      const [, signal] = await withTimeout(exited, T, 'the child to die');
      expect(signal).toBe('SIGKILL');
      await withTimeout(run.closed, T, 'close');
      const close = run.events.find((e) => e.type === 'close')!;
      expect(close).toMatchObject({ code: 1006, wasClean: false });
      expect(run.log.at(-1)).toBe('[close] Connection died');
      expect(run.events.filter((e) => e.type !== 'error').map((e) => e.type)).toEqual(['open', 'message', 'close']);
    });
  });
});
