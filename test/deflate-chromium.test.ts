// permessage-deflate with a real browser: Chromium (playwright-core, Debian's
// chromium) against our server, compressing both ways. Socket byte counts prove
// each side really compressed: a 200 KB repetitive message crosses the wire in
// a few KB.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Browser } from 'playwright-core';
import { WebSocketServer } from '../src/index.ts';
import { CHROMIUM, HAS_CHROMIUM, launchChromium } from './helpers/chromium.ts';

describe.skipIf(!HAS_CHROMIUM)(`permessage-deflate with Chromium (${HAS_CHROMIUM ? CHROMIUM : 'skipped: no /usr/bin/chromium'})`, () => {
  let browser: Browser;
  let server: http.Server;
  let wss: WebSocketServer;
  let url: string;
  const sockets: Socket[] = [];
  const received: Array<{ length: number; extensions: string }> = [];

  beforeAll(async () => {
    browser = await launchChromium();
    server = http.createServer((_req, res) => res.end('<!doctype html><title>deflate</title>'));
    wss = new WebSocketServer({ server, perMessageDeflate: { threshold: 0 } });
    wss.on('connection', (ws, req) => {
      sockets.push(req.socket);
      ws.on('message', (data: Buffer, isBinary: boolean) => {
        received.push({ length: data.length, extensions: ws.extensions });
        ws.send(data, { binary: isBinary });
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    for (const c of wss?.clients ?? []) c.terminate();
    await new Promise((r) => server?.close(r));
  });

  it('negotiates, and both sides compress: text and binary round trips', async () => {
    const page = await browser.newPage();
    await page.goto(url);
    const result = await page.evaluate(async (wsUrl) => {
      const ws = new WebSocket(wsUrl);
      ws.binaryType = 'arraybuffer';
      await new Promise((r, j) => { ws.onopen = r; ws.onerror = j; });
      const text = 'chromium compresses this line again and again. '.repeat(4200); // ~200 KB
      const bin = new Uint8Array(100_000).map((_, i) => i % 7);
      const replies: Array<string | ArrayBuffer> = [];
      const done = new Promise<void>((r) => { ws.onmessage = (e) => { replies.push(e.data); if (replies.length === 2) r(); }; });
      ws.send(text);
      ws.send(bin);
      await done;
      const back = new Uint8Array(replies[1] as ArrayBuffer);
      const same = back.length === bin.length && back.every((b, i) => b === bin[i]);
      ws.close(1000, 'done');
      return { extensions: ws.extensions, textOk: replies[0] === text, binOk: same, textLength: text.length };
    }, url.replace('http', 'ws'));
    expect(result.extensions).toContain('permessage-deflate');
    expect(result.textOk).toBe(true);
    expect(result.binOk).toBe(true);
    expect(received.map((r) => r.length)).toEqual([result.textLength, 100_000]);
    // ~300 KB of payload each way; compressed, each direction is a few KB.
    const socket = sockets.at(-1)!;
    expect(socket.bytesRead).toBeLessThan(30_000);
    expect(socket.bytesWritten).toBeLessThan(30_000);
    await page.close();
  });
});
