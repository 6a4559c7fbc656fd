// permessage-deflate with python-websockets (Debian's python3-websockets,
// /usr/bin/python3), both directions, over real sockets: its client against our
// server, our client against its server (which imposes 12-bit windows both
// ways). Socket byte counts show both sides really compressed.
import { spawn, spawnSync } from 'node:child_process';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from '../src/index.ts';

const PYTHON = '/usr/bin/python3';
const probe = spawnSync(PYTHON, ['-c', 'import websockets; print(websockets.__version__)'], { encoding: 'utf8' });
const VERSION = probe.status === 0 ? probe.stdout.trim() : '';
const why = VERSION ? `python-websockets ${VERSION}` : `skipped: ${PYTHON} has no websockets module (apt-get install python3-websockets)`;

const cleanups: Array<() => unknown> = [];
afterEach(async () => { for (const c of cleanups.splice(0).reverse()) await c(); });

/** Runs a Python script (bounded), returns its stdout. */
function python(script: string, args: string[], ms = 20_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn(PYTHON, ['-c', script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => { p.kill(); reject(new Error(`python timed out: ${err}`)); }, ms);
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { err += d; });
    p.on('close', (code) => { clearTimeout(timer); if (code === 0) resolve(out); else reject(new Error(`python exited ${code}: ${err}`)); });
  });
}

const LINE = 'python and node compress this line again and again; ';
const TEXT = LINE.repeat(4000); // ~200 KB

const CLIENT = `
import asyncio, json, sys, websockets
async def main():
    async with websockets.connect(sys.argv[1], max_size=None) as ws:
        ext = [type(e).__name__ + repr(vars(e)) for e in ws.extensions]
        text = ${JSON.stringify(LINE)} * 4000
        binary = bytes(i % 7 for i in range(100000))
        await ws.send(text)
        await ws.send(binary)
        got_text = await ws.recv()
        got_binary = await ws.recv()
        print(json.dumps({"ext": ext, "text": got_text == text, "binary": got_binary == binary}))
asyncio.run(main())
`;

const SERVER = `
import asyncio, sys, websockets
async def echo(ws, path=None):
    async for m in ws:
        await ws.send(m)
async def main():
    async with websockets.serve(echo, "127.0.0.1", 0, max_size=None) as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        await asyncio.sleep(float(sys.argv[1]))
asyncio.run(main())
`;

describe.skipIf(!VERSION)(`permessage-deflate with ${why}`, () => {
  it('its client against our server: negotiated, both sides compress, text and binary round trip', async () => {
    const sockets: Socket[] = [];
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: { threshold: 0 } });
    wss.on('connection', (ws, req) => {
      sockets.push(req.socket as Socket);
      ws.on('message', (d: Buffer, isBinary: boolean) => ws.send(d, { binary: isBinary }));
    });
    await new Promise((r) => wss.once('listening', r));
    cleanups.push(() => new Promise((r) => wss.close(() => r(undefined))));
    const out = JSON.parse(await python(CLIENT, [`ws://127.0.0.1:${(wss.address() as AddressInfo).port}/`]));
    expect(out.ext.join()).toContain('PerMessageDeflate');
    expect(out.text).toBe(true);
    expect(out.binary).toBe(true);
    // ~300 KB of payload each way; compressed, each direction is a few KB.
    expect(sockets[0]!.bytesRead).toBeLessThan(30_000);
    expect(sockets[0]!.bytesWritten).toBeLessThan(30_000);
  });

  it('our client against its server (12-bit windows both ways): negotiated, both sides compress', async () => {
    const p = spawn(PYTHON, ['-c', SERVER, '15'], { stdio: ['ignore', 'pipe', 'pipe'] });
    cleanups.push(() => p.kill());
    const port = await new Promise<number>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('python server did not start')), 10_000);
      p.stdout.once('data', (d) => { clearTimeout(t); resolve(Number(String(d).trim())); });
    });
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: { threshold: 0 } });
    cleanups.push(() => ws.terminate());
    await new Promise((r, j) => { ws.once('open', r); ws.once('error', j); });
    expect(ws.extensions).toContain('permessage-deflate');
    expect(ws.extensions).toContain('server_max_window_bits=12');
    expect(ws.extensions).toContain('client_max_window_bits=12');
    const binary = Buffer.from(Array.from({ length: 100_000 }, (_, i) => i % 7));
    const got: Buffer[] = [];
    const done = new Promise<void>((r) => ws.on('message', (d: Buffer) => { got.push(d); if (got.length === 2) r(); }));
    ws.send(TEXT);
    ws.send(binary);
    await done;
    expect(got[0]!.toString()).toBe(TEXT);
    expect(got[1]!.equals(binary)).toBe(true);
    const socket = (ws as unknown as { _socket: Socket })._socket;
    expect(socket.bytesRead).toBeLessThan(30_000);
    expect(socket.bytesWritten).toBeLessThan(30_000);
    ws.close();
  });
});
