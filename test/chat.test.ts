// The chat demo (examples/chat) from Node, no browser: the 50-character cut,
// the pages and endpoints, the hello demo, broadcast to every client, and a
// client that stops reading under both backpressure policies.
// The browser side is test/chat.e2e.test.ts.
import { describe, it, expect, beforeAll, afterEach } from 'vitest';
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { isUtf8 } from 'node:buffer';
import net from 'node:net';
import type { Server } from 'node:http';
import { WebSocket, type WebSocketServer } from '../src/index.ts';
import { ensureDist } from './helpers/dist.ts';

// ---- loading the chat (it imports ../../dist/index.js, as `npm start` does) ----

const ROOT = fileURLToPath(new URL('..', import.meta.url));

interface ChatOptions {
  port?: number; host?: string; maxBackpressure?: number; backpressurePolicy?: 'close' | 'skip';
  maxPayload?: number; helloCloseDelay?: number;
}
interface Chat {
  server: Server; wss: WebSocketServer; hello: WebSocketServer; url: string;
  close(options?: { timeout?: number }): Promise<void>;
}
interface ChatModule {
  MAX_CHARS: number;
  cutMessage(text: string, max?: number): string;
  nameFrom(text: string): string;
  createChatServer(options?: ChatOptions): Promise<Chat>;
}
interface BroadcasterCounters { skipped: number; dropped: number; maxBackpressure: number; policy: string }

// A variable specifier: plain JS without type declarations, loaded after ensureDist().
const APP = '../examples/chat/app.mjs';
let app: ChatModule;

beforeAll(async () => {
  ensureDist();
  app = (await import(/* @vite-ignore */ APP)) as ChatModule;
}, 300_000);

const chats: Chat[] = [];
const sockets: Array<{ terminate(): void } | net.Socket> = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) {
    if (s instanceof net.Socket) s.destroy(); else s.terminate();
  }
  await Promise.all(chats.splice(0).map((c) => c.close({ timeout: 200 })));
});

async function startChat(options: ChatOptions = {}): Promise<Chat> {
  const chat = await app.createChatServer({ port: 0, ...options });
  chats.push(chat);
  return chat;
}

function portOf(chat: Chat): number {
  const addr = chat.server.address();
  if (addr === null || typeof addr === 'string') throw new Error('not listening');
  return addr.port;
}

function wsUrl(chat: Chat, path = 'ws'): string {
  return chat.url.replace(/^http/, 'ws') + path;
}

/** No lone surrogate (String.prototype.isWellFormed, not in the ES2022 lib types). */
const wellFormed = (s: string): boolean => !/\p{Surrogate}/u.test(s);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, what: string, timeout = 10_000): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await sleep(5);
  }
}

// ---- clients ----

interface Client {
  ws: WebSocket;
  got: string[];
  closed: Promise<{ code: number; reason: string; wasClean: boolean }>;
}

/** Our Node client, every text message it receives kept in order. */
async function connect(url: string): Promise<Client> {
  const ws = new WebSocket(url);
  sockets.push(ws);
  const got: string[] = [];
  ws.on('message', (data, isBinary) => {
    if (isBinary) throw new Error('the chat sent a binary message');
    got.push(String(data));
  });
  const closed = new Promise<{ code: number; reason: string; wasClean: boolean }>((resolve) => {
    ws.addEventListener('close', (e) => {
      const ev = e as unknown as { code: number; reason: string; wasClean: boolean };
      resolve({ code: ev.code, reason: ev.reason, wasClean: ev.wasClean });
    });
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return { ws, got, closed };
}

/** Writes a handshake by hand; resolves with the status line and what followed the headers. */
async function rawUpgrade(port: number, path: string, headers: Record<string, string> = {}): Promise<{ socket: net.Socket; status: string; rest: Buffer }> {
  const socket = net.connect(port, '127.0.0.1');
  sockets.push(socket);
  socket.on('error', () => {});
  const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`);
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => reject(new Error('no handshake response')), 5000);
    const onData = (chunk: Buffer): void => {
      buf = Buffer.concat([buf, chunk]);
      const end = buf.indexOf('\r\n\r\n');
      if (end === -1) return;
      // Pause before dropping the listener: a flowing socket would lose data.
      socket.pause();
      socket.removeListener('data', onData);
      clearTimeout(timer);
      resolve({ socket, status: buf.subarray(0, buf.indexOf('\r\n')).toString(), rest: buf.subarray(end + 4) });
    };
    socket.on('data', onData);
    socket.once('close', () => { clearTimeout(timer); reject(new Error(`closed before the headers: ${buf.toString()}`)); });
  });
}

/** Unmasked server frames in `buf`, up to the last whole one. */
function parseFrames(buf: Buffer): Array<{ opcode: number; payload: Buffer }> {
  const frames: Array<{ opcode: number; payload: Buffer }> = [];
  let o = 0;
  while (o + 2 <= buf.length) {
    const opcode = buf[o] & 0x0f;
    let len = buf[o + 1] & 0x7f;
    let p = o + 2;
    if (len === 126) {
      if (p + 2 > buf.length) break;
      len = buf.readUInt16BE(p); p += 2;
    } else if (len === 127) {
      if (p + 8 > buf.length) break;
      len = Number(buf.readBigUInt64BE(p)); p += 8;
    }
    if (p + len > buf.length) break;
    frames.push({ opcode, payload: buf.subarray(p, p + len) });
    o = p + len;
  }
  return frames;
}

// ---- the 50-character cut ----

describe('the 50-character cut (cutMessage)', () => {
  const cps = (s: string): number => Array.from(s).length;

  it('keeps messages of up to 50 characters as they are', () => {
    expect(app.MAX_CHARS).toBe(50);
    for (const s of ['', 'hello', 'a'.repeat(50), '😀'.repeat(50), 'é'.repeat(50)]) expect(app.cutMessage(s)).toBe(s);
  });

  it('cuts ASCII to 50 characters', () => {
    expect(app.cutMessage('a'.repeat(60))).toBe('a'.repeat(50));
    expect(app.cutMessage('0123456789'.repeat(6))).toBe('0123456789'.repeat(5));
  });

  it('counts code points, never splitting a surrogate pair: emoji stay valid UTF-8', () => {
    const emoji = '😀'.repeat(60); // 60 code points, 120 UTF-16 units
    const cut = app.cutMessage(emoji);
    expect(cut).toBe('😀'.repeat(50));
    expect(wellFormed(cut)).toBe(true);
    expect(isUtf8(Buffer.from(cut))).toBe(true);
    expect(Buffer.from(cut).toString()).toBe(cut);
    // An odd start: each position of the cut falls right after a pair.
    const mixed = 'x' + '𝒜'.repeat(70);
    const c2 = app.cutMessage(mixed);
    expect(cps(c2)).toBe(50);
    expect(wellFormed(c2)).toBe(true);
    // 50 four-byte characters: the bound on a message's size is 200 bytes.
    expect(Buffer.byteLength(cut)).toBe(200);
  });

  it('(the byte cut it replaces would break UTF-8)', () => {
    const bytes = Buffer.from('😀'.repeat(60)).subarray(0, 50); // the chapter's message.slice(0, 50) on a Buffer
    expect(isUtf8(bytes)).toBe(false);
    expect(wellFormed('😀'.repeat(60).slice(0, 51))).toBe(false); // and a UTF-16 slice splits a pair
  });

  it('does not cut inside a grapheme: combining marks stay with their letter', () => {
    // "é" written as e + U+0301: 2 code points a character as the reader sees it.
    const text = 'a' + 'e\u0301'.repeat(30); // 61 code points
    const cut = app.cutMessage(text);
    expect(cut).toBe('a' + 'e\u0301'.repeat(24)); // 49 code points: the 25th "é" does not fit whole
    expect(cut.endsWith('\u0301')).toBe(true);
    // Exactly at the limit: nothing to move.
    expect(app.cutMessage('e\u0301'.repeat(30))).toBe('e\u0301'.repeat(25));
  });

  it('does not split flags or ZWJ emoji sequences', () => {
    expect(app.cutMessage('a' + '🇫🇷'.repeat(30))).toBe('a' + '🇫🇷'.repeat(24)); // a regional indicator pair is one flag
    const family = '👨‍👩‍👧‍👦'; // 7 code points
    expect(cps(family)).toBe(7);
    expect(app.cutMessage('ab' + family.repeat(10))).toBe('ab' + family.repeat(6)); // 44 code points
    expect(app.cutMessage('a' + family.repeat(10))).toBe('a' + family.repeat(7)); // 50 exactly
  });

  it('still bounds one huge grapheme ("Zalgo"): 50 code points', () => {
    const zalgo = 'Z' + '\u0301'.repeat(500);
    const cut = app.cutMessage(zalgo);
    expect(cps(cut)).toBe(50);
    expect(cut.startsWith('Z')).toBe(true);
  });

  it('takes the name out of "My name is John"', () => {
    expect(app.nameFrom('My name is John')).toBe('John');
    expect(app.nameFrom("I'm Ann!")).toBe('Ann');
    expect(app.nameFrom('Bob')).toBe('Bob');
    expect(app.nameFrom('   ')).toBe('stranger');
    expect(Array.from(app.nameFrom('My name is ' + '😀'.repeat(80))).length).toBe(50);
  });
});

// ---- the server ----

describe('chat server', () => {
  it('serves the chapter page, the hello page and the scripts from one http server', async () => {
    const chat = await startChat();
    expect(chat.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const page = await fetch(chat.url);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('content-security-policy')).toContain("default-src 'self'");
    const html = await page.text();
    expect(html).toContain('<form name="publish"');
    expect(html).toContain('name="message"');
    expect(html).toContain('<div id="messages"');
    expect(html).not.toMatch(/<script[^>]+src="https?:|<link[^>]+href="https?:/); // no external assets
    const js = await fetch(new URL('chat.js', chat.url));
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(await js.text()).toContain('textContent');
    const hello = await fetch(new URL('demo/hello', chat.url));
    expect(hello.status).toBe(200);
    expect(await hello.text()).toContain('/hello.js');
    expect((await fetch(new URL('style.css', chat.url))).status).toBe(200);
    expect((await fetch(new URL('../package.json', new URL('x/', chat.url)))).status).toBe(404);
    expect((await fetch(new URL('nope', chat.url))).status).toBe(404);
    expect((await fetch(chat.url, { method: 'POST', body: 'x' })).status).toBe(405);
  });

  it('accepts WebSocket upgrades on /ws and /demo/hello only, and not from another site', async () => {
    const chat = await startChat();
    const port = portOf(chat);
    expect((await rawUpgrade(port, '/ws')).status).toBe('HTTP/1.1 101 Switching Protocols');
    expect((await rawUpgrade(port, '/demo/hello')).status).toBe('HTTP/1.1 101 Switching Protocols');
    expect((await rawUpgrade(port, '/elsewhere')).status).toBe('HTTP/1.1 404 Not Found');
    expect((await rawUpgrade(port, '/ws', { Origin: 'https://evil.example' })).status).toBe('HTTP/1.1 403 Forbidden');
    expect((await rawUpgrade(port, '/ws', { Origin: `http://127.0.0.1:${port}` })).status).toBe('HTTP/1.1 101 Switching Protocols');
  });

  it('sends every message to every client through wss.broadcast, in one order for all', async () => {
    const chat = await startChat();
    const counts: number[] = [];
    const original = chat.wss.broadcast.bind(chat.wss);
    chat.wss.broadcast = (data, options) => {
      const n = original(data, options);
      counts.push(n);
      return n;
    };
    const clients = await Promise.all([0, 1, 2].map(() => connect(wsUrl(chat))));
    clients.forEach((c, i) => c.ws.send(`hello from ${i}`));
    await until(() => clients.every((c) => c.got.length === 3), 'three messages at each client');
    expect(counts).toEqual([3, 3, 3]); // each message framed once, for three recipients
    expect(new Set(clients[0].got)).toEqual(new Set(['hello from 0', 'hello from 1', 'hello from 2']));
    for (const c of clients) expect(c.got).toEqual(clients[0].got);
  });

  it('cuts what it relays to 50 characters, as valid UTF-8, and relays markup as text', async () => {
    const chat = await startChat();
    const a = await connect(wsUrl(chat));
    const b = await connect(wsUrl(chat));
    const sixty = 'abcdefghij'.repeat(6);
    a.ws.send(sixty);
    a.ws.send('😀'.repeat(60));
    a.ws.send('<b>bold</b>');
    a.ws.send('   '); // nothing to say: not relayed
    a.ws.send('last');
    await until(() => b.got.length === 4, 'four messages');
    // Our client checks UTF-8 (1007 otherwise); it stayed open and got:
    expect(b.got).toEqual([sixty.slice(0, 50), '😀'.repeat(50), '<b>bold</b>', 'last']);
    expect(a.got).toEqual(b.got);
    expect(a.ws.readyState).toBe(WebSocket.OPEN);
  });

  it('closes a client that sends binary (1003) or more than maxPayload (1009); the others stay', async () => {
    const chat = await startChat({ maxPayload: 1024 });
    const a = await connect(wsUrl(chat));
    const b = await connect(wsUrl(chat));
    const c = await connect(wsUrl(chat));
    a.ws.send(Buffer.from([1, 2, 3]));
    expect((await a.closed).code).toBe(1003);
    b.ws.send('x'.repeat(2000));
    expect((await b.closed).code).toBe(1009);
    c.ws.send('still here');
    await until(() => c.got.length === 1, 'a message');
    expect(c.got).toEqual(['still here']);
  });

  it('the hello demo: "My name is John" → "Hello from server, John", then close 1000 after 5 s', async () => {
    const chat = await startChat(); // the default delay, 5 s
    const started = Date.now();
    const c = await connect(wsUrl(chat, 'demo/hello'));
    c.ws.send('My name is John');
    await until(() => c.got.length === 1, 'the answer');
    expect(c.got).toEqual(['Hello from server, John']);
    const closed = await c.closed;
    const elapsed = Date.now() - started;
    expect(closed).toEqual({ code: 1000, reason: 'Bye!', wasClean: true });
    expect(elapsed).toBeGreaterThanOrEqual(4900);
    expect(elapsed).toBeLessThan(8000);
  }, 15_000);

  it('close() says 1001 to the clients and frees the port for a new server', async () => {
    const chat = await startChat();
    const port = portOf(chat);
    const a = await connect(wsUrl(chat));
    const h = await connect(wsUrl(chat, 'demo/hello'));
    await chat.close();
    expect((await a.closed).code).toBe(1001);
    expect((await h.closed).code).toBe(1001);
    const again = await startChat({ port });
    const b = await connect(wsUrl(again));
    b.ws.send('back');
    await until(() => b.got.length === 1, 'a message on the new server');
    expect(b.got).toEqual(['back']);
  });

  it('`npm start` runs examples/chat/server.mjs, which prints the URL and listens on PORT', async () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
    expect(pkg.scripts.start).toBe('node examples/chat/server.mjs');
    const child = spawn(process.execPath, ['examples/chat/server.mjs'], {
      cwd: ROOT, env: { ...process.env, PORT: '0' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      let out = '';
      child.stdout.on('data', (d) => { out += d; });
      child.stderr.on('data', (d) => { out += d; });
      await until(() => /Chat running at http:\/\/127\.0\.0\.1:\d+\/\n[^]*Hello demo at .*\n/.test(out), 'the URLs on stdout', 15_000);
      const url = /Chat running at (http:\/\/127\.0\.0\.1:\d+\/)/.exec(out)![1];
      expect(out).toContain(`Hello demo at ${url}demo/hello`);
      const res = await fetch(url);
      expect(await res.text()).toContain('<form name="publish"');
      const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });

  it('server.mjs refuses a bad PORT', () => {
    let status = 0;
    let stderr = '';
    try {
      execFileSync(process.execPath, ['examples/chat/server.mjs'], { cwd: ROOT, env: { ...process.env, PORT: 'eighty' }, stdio: 'pipe', timeout: 10_000 });
    } catch (err) {
      const e = err as { status: number; stderr: Buffer };
      status = e.status;
      stderr = String(e.stderr);
    }
    expect(status).toBe(1);
    expect(stderr).toContain('PORT must be a port number');
  });
});

// ---- a client that stops reading ----

describe('a slow reader (a raw TCP client that stops reading)', () => {
  // 256 KiB: well above one tick's write batch (64 KiB), so a client that
  // reads is never mistaken for a slow one.
  const MAX_BACKPRESSURE = 256 * 1024;
  const BATCH = 500;
  const MAX_BATCHES = 300; // 150,000 messages at most; ~25,000 fill loopback's buffers
  // 50 characters, the most the chat relays: 7 ASCII + 43 four-byte emoji = 179 bytes.
  const message = (n: number): string => `${String(n).padStart(6, '0')} ${'😀'.repeat(43)}`;
  const seqOf = (text: string): number => Number(text.slice(0, 6));

  async function setUp(policy: 'close' | 'skip') {
    const chat = await startChat({ maxBackpressure: MAX_BACKPRESSURE, backpressurePolicy: policy });
    const bc = (chat.wss as unknown as { _broadcaster: BroadcasterCounters })._broadcaster;
    expect(bc.maxBackpressure).toBe(MAX_BACKPRESSURE);
    expect(bc.policy).toBe(policy);
    const producer = await connect(wsUrl(chat)); // types the messages, and receives them too
    const reader = await connect(wsUrl(chat)); // an ordinary client that reads
    const slow = await rawUpgrade(portOf(chat), '/ws'); // paused after the handshake: reads nothing more
    expect(slow.status).toBe('HTTP/1.1 101 Switching Protocols');
    await until(() => chat.wss.clients.size === 3, 'three clients');
    let seq = 0;
    /** Sends one batch through the chat and waits until both readers have it. */
    const sendBatch = async (): Promise<void> => {
      for (let i = 0; i < BATCH; i++) producer.ws.send(message(++seq));
      await until(() => producer.got.length === seq && reader.got.length === seq, `message ${seq} at both readers`, 20_000);
    };
    return { chat, bc, producer, reader, slow, sendBatch, seq: () => seq };
  }

  function expectAllInOrder(got: string[], total: number): void {
    expect(got.length).toBe(total);
    for (let i = 0; i < total; i++) {
      if (got[i] !== message(i + 1)) expect.fail(`message ${i + 1}: got ${JSON.stringify(got[i])}`);
    }
  }

  it("policy 'close': the slow client is closed and dropped; the others get every message in order", async () => {
    const { chat, bc, producer, reader, slow, sendBatch, seq } = await setUp('close');
    let batches = 0;
    while (bc.dropped === 0 && batches < MAX_BATCHES) { await sendBatch(); batches++; }
    expect(bc.dropped).toBe(1);
    const droppedAt = seq();
    await until(() => chat.wss.clients.size === 2, 'the slow client to leave wss.clients');
    // The chat goes on for the others.
    for (let i = 0; i < 4; i++) await sendBatch();
    expect(bc.dropped).toBe(1);
    expect(bc.skipped).toBe(0);
    expectAllInOrder(producer.got, seq());
    expectAllInOrder(reader.got, seq());
    expect(producer.ws.readyState).toBe(WebSocket.OPEN);
    expect(reader.ws.readyState).toBe(WebSocket.OPEN);

    // The slow client reads at last: what the kernel held, then the end of the
    // connection (the close frame, if any, was behind the unread backlog).
    const chunks: Buffer[] = [slow.rest];
    const ended = new Promise<void>((r) => slow.socket.once('close', () => r()));
    slow.socket.on('data', (c: Buffer) => chunks.push(c));
    slow.socket.resume();
    await Promise.race([ended, sleep(10_000).then(() => { throw new Error('the slow client was not disconnected'); })]);
    const frames = parseFrames(Buffer.concat(chunks));
    const texts = frames.filter((f) => f.opcode === 1).map((f) => f.payload.toString());
    expect(texts.length).toBeGreaterThan(0);
    expect(texts.length).toBeLessThan(droppedAt);
    texts.forEach((t, i) => { if (t !== message(i + 1)) expect.fail(`slow client, message ${i + 1}: ${t}`); });
    for (const f of frames.filter((f) => f.opcode === 8)) expect(f.payload.readUInt16BE(0)).toBe(1008);
  }, 120_000);

  it("policy 'skip': messages are skipped for the slow client, which stays; it gets the rest in order once it reads", async () => {
    const { chat, bc, producer, reader, slow, sendBatch, seq } = await setUp('skip');
    let batches = 0;
    // Until at least a whole batch was skipped for it.
    while (bc.skipped < BATCH && batches < MAX_BATCHES) { await sendBatch(); batches++; }
    expect(bc.skipped).toBeGreaterThanOrEqual(BATCH);
    for (let i = 0; i < 2; i++) await sendBatch();
    expect(bc.dropped).toBe(0);
    expect(chat.wss.clients.size).toBe(3); // still connected
    expectAllInOrder(producer.got, seq());
    expectAllInOrder(reader.got, seq());

    // The slow client reads again: it drains its backlog, then gets new messages.
    const chunks: Buffer[] = [slow.rest];
    slow.socket.on('data', (c: Buffer) => chunks.push(c));
    slow.socket.resume();
    const texts = (): string[] => parseFrames(Buffer.concat(chunks)).map((f) => f.payload.toString());
    // Only skipped messages can be missing, so once the newest message arrived
    // everything before it that was not skipped has arrived too.
    const slowHas = (n: number): boolean => { const t = texts(); return t.length > 0 && seqOf(t[t.length - 1]) === n; };
    for (let round = 0; round < 30 && !slowHas(seq()); round++) {
      await sendBatch();
      await sleep(100);
    }
    const got = texts();
    expect(seqOf(got[got.length - 1])).toBe(seq());
    const frames = parseFrames(Buffer.concat(chunks));
    expect(frames.every((f) => f.opcode === 1)).toBe(true);
    // In order, no message twice, every message whole, and only the skipped ones missing.
    let last = 0;
    for (const t of got) {
      const n = seqOf(t);
      if (!(n > last) || t !== message(n)) expect.fail(`slow client: ${JSON.stringify(t)} after ${last}`);
      last = n;
    }
    expect(got.length).toBe(seq() - bc.skipped);
    expectAllInOrder(producer.got, seq());
    expectAllInOrder(reader.got, seq());
  }, 120_000);
});
