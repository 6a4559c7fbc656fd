// libwebsockets (Debian's libwebsockets-dev, 4.1) against us, both roles, with
// permessage-deflate on: a small C peer (test/peers/lws-peer.c) is built with
// gcc at setup. Empty messages between others are the case that used to slip:
// our server sent them uncompressed under context takeover and lws 4.1 lost
// them (issue 11, group 10). Skips, saying why, without gcc or libwebsockets.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, WebSocket } from '../src/index.ts';
import { T, withTimeout } from './helpers/wait.ts';

const SOURCE = new URL('./peers/lws-peer.c', import.meta.url).pathname;

/** Builds the peer; null with the reason when the toolchain or the library is missing. */
function build(dir: string): { bin: string } | { skip: string } {
  let flags: string[];
  try {
    flags = execFileSync('pkg-config', ['--cflags', '--libs', 'libwebsockets'], { encoding: 'utf8' }).trim().split(/\s+/).filter(Boolean);
  } catch {
    return { skip: 'libwebsockets not found by pkg-config (Debian: libwebsockets-dev)' };
  }
  const bin = join(dir, 'lws-peer');
  try {
    execFileSync('gcc', ['-O1', '-o', bin, SOURCE, ...flags], { stdio: 'pipe', timeout: 60_000 });
  } catch (e) {
    return { skip: `gcc could not build the libwebsockets peer: ${(e as Error).message.split('\n')[0]}` };
  }
  return { bin };
}

const dir = mkdtempSync(join(tmpdir(), 'wasmsocket-lws-'));
const built = build(dir);
if ('skip' in built) console.log(`[lws-interop] skipped: ${built.skip}`);
const bin = 'bin' in built ? built.bin : '';

/** Runs the peer; resolves with its exit code and stdout once it exits (bounded). */
function run(args: string[]): { proc: ChildProcess; done: Promise<{ code: number | null; out: string }>; line: (re: RegExp) => Promise<RegExpMatchArray> } {
  const proc = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const waiters: Array<() => void> = [];
  proc.stdout!.on('data', (d) => { out += d; for (const w of waiters.splice(0)) w(); });
  proc.stderr!.on('data', (d) => { out += `stderr: ${d}`; });
  const done = withTimeout(new Promise<{ code: number | null; out: string }>((resolve) => {
    proc.on('exit', (code) => resolve({ code, out }));
  }), 20_000, 'the libwebsockets peer to exit').finally(() => proc.kill());
  const line = (re: RegExp): Promise<RegExpMatchArray> => withTimeout(new Promise((resolve) => {
    const check = (): void => { const m = out.match(re); if (m) resolve(m); else waiters.push(check); };
    check();
  }), T, `${re} from the libwebsockets peer`);
  return { proc, done, line };
}

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(!bin)('libwebsockets 4.1 with permessage-deflate', () => {
  it('its client against our server: pushed empty messages arrive in place, every echo matches', async () => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: true });
    await once(wss, 'listening');
    let extensions = '';
    let rsv1Frames = 0;
    wss.on('connection', (ws) => {
      extensions = ws.extensions;
      // Count the compressed frames we send: with context takeover every message compresses, as in ws.
      const write = ws._socket!.write.bind(ws._socket!);
      (ws._socket as unknown as { write: typeof write }).write = ((chunk: Buffer, ...rest: unknown[]) => {
        for (let o = 0; o + 1 < chunk.length; o += 1) if (chunk[o] === 0xc1 || chunk[o] === 0xc2) { rsv1Frames++; break; }
        return (write as (...a: unknown[]) => boolean)(chunk, ...rest);
      }) as typeof write;
      for (const m of ['', 'push-1', '', 'push-2']) ws.send(m);
      ws.on('message', (m, isBinary) => ws.send(m as Buffer, { binary: isBinary }));
    });
    try {
      const peer = run(['client', String((wss.address() as AddressInfo).port)]);
      const { code, out } = await peer.done;
      expect(out).toContain('PUSH 0 OK 0\nPUSH 1 OK 6\nPUSH 2 OK 0\nPUSH 3 OK 6\n');
      expect(out).toMatch(/ECHO 0 OK 0\nECHO 1 OK 5\nECHO 2 OK 3000\nECHO 3 OK 1000\nECHO 4 OK 70000\nECHO 5 OK 4\nDONE 6\n/);
      expect(code).toBe(0);
      expect(extensions).toMatch(/^permessage-deflate/);
      expect(rsv1Frames).toBeGreaterThan(0);
    } finally {
      await new Promise<void>((r) => wss.close(() => r()));
    }
  });

  it('our client against its server: every message echoed (an empty one first), compressed on the wire', async () => {
    const peer = run(['server']);
    try {
      const [, port] = await peer.line(/LISTENING (\d+)\n/);
      const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: true });
      await withTimeout(once(ws, 'open'), T, 'open');
      expect(ws.extensions).toMatch(/^permessage-deflate/);
      const got: Array<{ data: Buffer; isBinary: boolean }> = [];
      ws.on('message', (data: Buffer, isBinary: boolean) => got.push({ data, isBinary }));
      const big = Buffer.from('abcdefghijklmnopqrstuvwxyz'.repeat(4000));
      const sent: Array<[Buffer | string, boolean]> = [
        // Empty only first: lws 4.1 asserts when it must send (echo) an empty message mid-stream (see lws-peer.c).
        ['', false], ['hello', false], [big.subarray(0, 3000).toString(), false],
        [Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 7) & 0xff)), true], [big.toString(), false], ['last', false],
      ];
      for (const [m, binary] of sent) ws.send(m, { binary });
      await withTimeout((async () => { while (got.length < sent.length) await new Promise((r) => setTimeout(r, 5)); })(), T, 'every echo');
      expect(got.map((g) => [g.data.toString('hex'), g.isBinary])).toEqual(sent.map(([m, b]) => [Buffer.from(m).toString('hex'), b]));
      // About 100 KiB went out compressed: far fewer bytes crossed the socket.
      expect((ws._socket as import("node:net").Socket).bytesWritten).toBeLessThan(20_000);
      const closed = once(ws, 'close');
      ws.close(1000, 'done');
      const [code] = await withTimeout(closed, T, 'close');
      expect(code).toBe(1000);
    } finally {
      peer.proc.kill();
    }
  });
});
