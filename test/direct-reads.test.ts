// Server sockets read straight into the decoder's wasm memory (transport-net.ts
// readDirect) where Node allows it, 'data' events otherwise. Every case runs on
// both paths: messages of every length class, fragments, frames and control
// frames split across reads at random points (the carried tail goes in front of
// the next read), pause/resume, the close handshake, and frames that arrive with
// the upgrade request (those connections take the 'data' path).
import { describe, expect, it } from 'vitest';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import WS from 'ws';
import type { WebSocket } from '../src/index.ts';
import { directReadStats, readsDirect, setDirectReads } from '../src/node/transport/net.ts';
import { cleanupList, trackedServer } from './helpers/servers.ts';
import { prng } from './helpers/prng.ts';

const cleanups = cleanupList();

const echoServer = () => trackedServer(cleanups, (ws) => ws.on('message', (data, isBinary) => ws.send(data as Buffer, { binary: isBinary })));

function open(port: number): Promise<WS> {
  const c = new WS(`ws://127.0.0.1:${port}`);
  cleanups.push(() => c.terminate());
  return new Promise((r, j) => { c.once('open', () => r(c)); c.once('error', j); });
}

function collect(c: WS): Array<{ data: Buffer; isBinary: boolean }> {
  const got: Array<{ data: Buffer; isBinary: boolean }> = [];
  c.on('message', (data, isBinary) => got.push({ data: data as Buffer, isBinary }));
  return got;
}

const until = async (cond: () => boolean, ms = 15_000) => {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
};

/** A masked client frame. */
function frame(opcode: number, payload: Buffer, fin = true): Buffer {
  const len = payload.length;
  const hl = len < 126 ? 2 : len < 65536 ? 4 : 10;
  const out = Buffer.alloc(hl + 4 + len);
  out[0] = (fin ? 0x80 : 0) | opcode;
  if (len < 126) out[1] = 0x80 | len;
  else if (len < 65536) { out[1] = 0x80 | 126; out.writeUInt16BE(len, 2); }
  else { out[1] = 0x80 | 127; out.writeUInt32BE(0, 2); out.writeUInt32BE(len, 6); }
  const key = randomBytes(4);
  key.copy(out, hl);
  for (let i = 0; i < len; i++) out[hl + 4 + i] = payload[i] ^ key[i & 3];
  return out;
}

const UPGRADE = (port: number) => `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
  'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';

/** A raw client: the upgrade (optionally with bytes after it in the same write), then everything it reads. */
async function rawClient(port: number, withHead: Buffer | null = null): Promise<{ sock: net.Socket; read: () => Buffer }> {
  const sock = net.connect(port, '127.0.0.1');
  cleanups.push(() => sock.destroy());
  let buf = Buffer.alloc(0);
  sock.on('data', (d) => { buf = Buffer.concat([buf, d]); });
  await new Promise((r) => sock.once('connect', r));
  sock.setNoDelay(true);
  sock.write(withHead ? Buffer.concat([Buffer.from(UPGRADE(port)), withHead]) : UPGRADE(port));
  await until(() => buf.indexOf('\r\n\r\n') >= 0);
  const start = buf.indexOf('\r\n\r\n') + 4;
  return { sock, read: () => buf.subarray(start) };
}

/** Server frames (unmasked) in a byte stream: [opcode, payload]. */
function parseServerFrames(b: Buffer): Array<[number, Buffer]> {
  const out: Array<[number, Buffer]> = [];
  let i = 0;
  while (i + 2 <= b.length) {
    let len = b[i + 1] & 0x7f;
    let o = i + 2;
    if (len === 126) { len = b.readUInt16BE(o); o += 2; } else if (len === 127) { len = b.readUInt32BE(o + 4); o += 8; }
    if (o + len > b.length) break;
    out.push([b[i] & 0x0f, b.subarray(o, o + len)]);
    i = o + len;
  }
  return out;
}

for (const direct of [true, false]) {
  describe(direct ? 'reads straight into wasm memory' : "reads through 'data' events (the fallback)", () => {
    const use = async () => {
      setDirectReads(direct);
      cleanups.push(() => setDirectReads(true));
      const s = await echoServer();
      return s;
    };
    const checkPath = (ws: WebSocket) => {
      const sock = (ws as unknown as { _socket: net.Socket })._socket;
      // Every supported Node has the slots (test/fast-paths.test.ts says so per version).
      if (direct) expect(readsDirect(sock)).toBe(true);
      if (!direct) expect(readsDirect(sock)).toBe(false);
    };

    it('echoes messages of every length class, text and binary, whole and fragmented', async () => {
      const { port, conns } = await use();
      const c = await open(port);
      const got = collect(c);
      await until(() => conns.length === 1);
      checkPath(conns[0]);
      const readsBefore = directReadStats.reads;
      const rand = prng(direct ? 1 : 2);
      const sizes = [0, 1, 125, 126, 1000, 65535, 65536, 65544, 200_000, (1 << 20) + 3];
      const sent: Array<{ data: Buffer; isBinary: boolean }> = [];
      for (const n of sizes) {
        const bin = Buffer.from(Array.from({ length: n }, () => (rand() * 256) | 0));
        const text = Buffer.from('é'.repeat(n >> 1) + 'x'.repeat(n & 1));
        c.send(bin, { binary: true });
        c.send(text.toString(), { binary: false });
        sent.push({ data: bin, isBinary: true }, { data: text, isBinary: false });
      }
      // A fragmented message: three pieces.
      c.send('one ', { fin: false });
      c.send(Buffer.from('two '), { fin: false, binary: false });
      c.send('three', { fin: true });
      sent.push({ data: Buffer.from('one two three'), isBinary: false });
      await until(() => got.length >= sent.length);
      expect(got.length).toBe(sent.length);
      got.forEach((g, i) => {
        expect(g.isBinary).toBe(sent[i].isBinary);
        expect(Buffer.compare(g.data, sent[i].data)).toBe(0);
      });
      // The reads went the way checkPath said: counted by the direct path's callback only.
      if (direct) expect(directReadStats.reads).toBeGreaterThan(readsBefore);
      else expect(directReadStats.reads).toBe(readsBefore);
    });

    it('frames and pings split across reads at random points arrive whole, pongs answer the pings', async () => {
      const { port, conns } = await use();
      const { sock, read } = await rawClient(port);
      await until(() => conns.length === 1);
      checkPath(conns[0]);
      const rand = prng(direct ? 3 : 4);
      const want: Buffer[] = [];
      const pings: Buffer[] = [];
      const parts: Buffer[] = [];
      for (let i = 0; i < 60; i++) {
        const p = Buffer.from(`message ${i} ` + 'z'.repeat((rand() * 300) | 0));
        parts.push(frame(1, p));
        want.push(p);
        if (i % 7 === 0) {
          const ping = Buffer.from(`ping ${i} ` + 'p'.repeat((rand() * 100) | 0));
          parts.push(frame(9, ping));
          pings.push(ping);
        }
      }
      const stream = Buffer.concat(parts);
      for (let o = 0; o < stream.length;) {
        const n = 1 + ((rand() * 40) | 0);
        sock.write(stream.subarray(o, o + n));
        o += n;
        await new Promise((r) => setTimeout(r, 1)); // a separate read, mostly
      }
      await until(() => parseServerFrames(read()).length >= want.length + pings.length);
      const frames = parseServerFrames(read());
      expect(frames.filter(([op]) => op === 1).map(([, p]) => p.toString())).toEqual(want.map(String));
      expect(frames.filter(([op]) => op === 10).map(([, p]) => p.toString())).toEqual(pings.map(String));
    });

    it('pause() holds messages back, resume() delivers them in order', async () => {
      const { port, conns } = await use();
      const c = await open(port);
      await until(() => conns.length === 1);
      const ws = conns[0];
      checkPath(ws);
      const seen: string[] = [];
      ws.on('message', (d) => seen.push(String(d)));
      ws.pause();
      for (let i = 0; i < 20; i++) c.send(`p${i}`);
      await new Promise((r) => setTimeout(r, 100));
      expect(seen).toEqual([]);
      ws.resume();
      await until(() => seen.length === 20);
      expect(seen).toEqual(Array.from({ length: 20 }, (_, i) => `p${i}`));
    });

    it('the close handshake completes both ways and the socket ends', async () => {
      const { port, conns } = await use();
      const c = await open(port);
      await until(() => conns.length === 1);
      checkPath(conns[0]);
      const serverClosed = new Promise<[number, string]>((r) => conns[0].once('close', (code, reason) => r([code, String(reason)])));
      const clientClosed = new Promise<[number, string]>((r) => c.once('close', (code, reason) => r([code, String(reason)])));
      c.close(4000, 'bye');
      expect(await serverClosed).toEqual([4000, 'bye']);
      expect(await clientClosed).toEqual([4000, 'bye']);
    });

    it("frames sent with the upgrade request are read (that connection takes the 'data' path)", async () => {
      const { port, conns } = await use();
      const { read } = await rawClient(port, Buffer.concat([frame(1, Buffer.from('early')), frame(2, Buffer.from([1, 2, 3]))]));
      await until(() => parseServerFrames(read()).length >= 2);
      expect(readsDirect((conns[0] as unknown as { _socket: net.Socket })._socket)).toBe(false);
      expect(parseServerFrames(read()).map(([op, p]) => [op, [...p]])).toEqual([[1, [...Buffer.from('early')]], [2, [1, 2, 3]]]);
    });
  });
}
