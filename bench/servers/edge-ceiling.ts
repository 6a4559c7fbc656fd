// The ceilings of bench/edge.mjs --ceiling, run by Deno or Bun:
//
//   deno run --allow-net=127.0.0.1 bench/servers/edge-ceiling.ts tcp|lend
//   bun bench/servers/edge-ceiling.ts tcp|lend
//
// tcp:  the runtime's raw TCP listener (Deno.listen with conn.read/conn.write,
//       Bun.listen's data callback and socket.write) answering the upgrade with
//       a hand-written 101, then writing every read back as it came (the
//       client's masked frames return masked; the load generator accepts that
//       with maskedEcho). What moving the bytes costs in this runtime, with no
//       WebSocket work at all, as bench/servers/ceiling.mjs is for Node.
// lend: the same, plus the least uWebSockets.js's API asks for each message:
//       the frame headers are walked and every message gets an ArrayBuffer of
//       its payload's length, detached after (ArrayBuffer.prototype.transfer),
//       as a handler's lent message is. No copy, unmasking, decoding or framing.
//
// Prints {"ready":true,"impl":..,"port":N}; answers 'stats' lines (memory
// after a full GC, for bench/edge-idle.mjs); exits when stdin closes.
/* eslint-disable @typescript-eslint/no-explicit-any -- two runtimes' globals */
const g = globalThis as any;
const argv: string[] = g.Deno ? g.Deno.args : g.Bun.argv.slice(2);
const lend = argv[0] === 'lend';
if (argv[0] !== 'tcp' && !lend) throw new Error(`usage: edge-ceiling.ts tcp|lend (got ${argv[0]})`);
const crypto = g.process.getBuiltinModule('node:crypto');
const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const latin1 = new TextDecoder('latin1');
const utf8 = new TextEncoder();

/** The upgrade, then frames counted: one state per connection. */
class Conn {
  upgraded = false;
  /** Bytes of the current frame still to come (header included while it is read). */
  private left = 0;
  /** A header split across reads: its bytes so far. */
  private head = new Uint8Array(14);
  private headLen = 0;

  /** The 101 for a complete request head, or null while it is incomplete. */
  upgrade(b: Uint8Array): Uint8Array | null {
    const text = latin1.decode(b);
    if (!text.includes('\r\n\r\n')) return null;
    const key = /sec-websocket-key:\s*(\S+)/i.exec(text)?.[1] ?? '';
    this.upgraded = true;
    return utf8.encode('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      `Sec-WebSocket-Accept: ${crypto.createHash('sha1').update(key + GUID).digest('base64')}\r\n\r\n`);
  }

  /** Walks the frames of a read; each one that starts here is lent its ArrayBuffer. */
  frames(b: Uint8Array, end: number): void {
    let p = 0;
    while (p < end) {
      if (this.left > 0) {
        const n = Math.min(this.left, end - p);
        this.left -= n;
        p += n;
        continue;
      }
      // A header: whole in this read (the usual case), or byte by byte across reads.
      const h = this.headLen > 0 ? this.head : b;
      const at = this.headLen > 0 ? 0 : p;
      if (this.headLen > 0 || end - p < 14) {
        while (p < end && this.headLen < 14) {
          this.head[this.headLen++] = b[p++];
          if (this.headLen >= 2 && this.headLen >= headerLength(this.head, 0)) break;
        }
        if (this.headLen < 2 || this.headLen < headerLength(this.head, 0)) continue;
        this.message(payloadLength(this.head, 0));
        this.left = payloadLength(this.head, 0);
        this.headLen = 0;
        continue;
      }
      const hl = headerLength(h, at);
      const len = payloadLength(h, at);
      this.message(len);
      p += hl;
      this.left = len;
    }
  }

  private message(len: number): void {
    if (!lend) return;
    const ab = new ArrayBuffer(len);
    (ab as any).transfer();
  }
}

function headerLength(b: Uint8Array, p: number): number {
  const l7 = b[p + 1] & 0x7f;
  return 2 + (l7 === 126 ? 2 : l7 === 127 ? 8 : 0) + ((b[p + 1] & 0x80) !== 0 ? 4 : 0);
}

function payloadLength(b: Uint8Array, p: number): number {
  const l7 = b[p + 1] & 0x7f;
  if (l7 === 126) return (b[p + 2] << 8) | b[p + 3];
  if (l7 === 127) return (b[p + 6] * 2 ** 24) + ((b[p + 7] << 16) | (b[p + 8] << 8) | b[p + 9]);
  return l7;
}

async function denoServer(): Promise<number> {
  const listener = g.Deno.listen({ hostname: '127.0.0.1', port: 0 });
  (async () => {
    for (;;) {
      let conn: any;
      try { conn = await listener.accept(); } catch { return; }
      conn.setNoDelay(true);
      (async () => {
        const c = new Conn();
        const buf = new Uint8Array(64 * 1024);
        try {
          for (;;) {
            const n = await conn.read(buf);
            if (n === null) break;
            if (!c.upgraded) { const r = c.upgrade(buf.subarray(0, n)); if (r) await conn.write(r); continue; }
            c.frames(buf, n);
            for (let off = 0; off < n;) off += await conn.write(buf.subarray(off, n));
          }
        } catch { /* reset */ }
        try { conn.close(); } catch { /* closed */ }
      })();
    }
  })();
  return listener.addr.port;
}

function bunServer(): number {
  return g.Bun.listen({
    hostname: '127.0.0.1', port: 0,
    socket: {
      open(s: any) { s.data = new Conn(); s.setNoDelay(true); },
      data(s: any, d: Uint8Array) {
        const c: Conn = s.data;
        if (!c.upgraded) { const r = c.upgrade(d); if (r) s.write(r); return; }
        c.frames(d, d.length);
        s.write(d); // a loopback socket that the load generator reads keeps up: no backpressure handling here
      },
    },
  }).port;
}

const port = g.Deno ? await denoServer() : bunServer();
console.log(JSON.stringify({ ready: true, impl: argv[0], port }));

// Each line 'stats' is answered after a full GC with the process's memory, so
// bench/edge-idle.mjs measures what a bare connection costs here:
// EDGE_SCRIPT=bench/servers/edge-ceiling.ts node bench/edge-idle.mjs --impls tcp
// (Deno needs --v8-flags=--expose-gc for the GC, which edge-idle passes.)
(async () => {
  const text = new TextDecoder();
  try {
    for await (const chunk of g.Deno ? g.Deno.stdin.readable : g.Bun.stdin.stream()) {
      if (!text.decode(chunk).includes('stats')) continue;
      if (g.Bun) g.Bun.gc(true); else if (typeof g.gc === 'function') { g.gc(); g.gc(); }
      const m = g.process.memoryUsage();
      console.log(JSON.stringify({ rss: m.rss, heapUsed: m.heapUsed, external: m.external }));
    }
  } catch { /* no stdin */ }
  if (g.Deno) g.Deno.exit(0); else g.process.exit(0);
})();
