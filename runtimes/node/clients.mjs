// Node clients (ours and the `ws` package, same ws-style API) against an echo
// server running elsewhere (the Deno and Bun ones): text, binary, 64 KiB, ping,
// close codes (client-initiated, and the server's 1007 / 1009 on bad input).
// Every wait is bounded. Returns [{ name, ok, error? }].

const T = 3000;
const te = new TextEncoder();

function bounded(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms); }),
  ]).finally(() => clearTimeout(timer));
}

function toBytes(data) {
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (Array.isArray(data)) return Buffer.concat(data);
  throw new Error('unexpected message data');
}

/** Opens a client and records what it reports. */
async function open(WebSocket, url) {
  const ws = new WebSocket(url);
  const ev = { messages: [], pongs: [], errors: [], close: undefined, waiters: [] };
  const fire = () => { for (const w of ev.waiters.splice(0)) w(); };
  ws.on('message', (data, isBinary) => { ev.messages.push({ data: toBytes(data), isBinary }); fire(); });
  ws.on('pong', (data) => { ev.pongs.push(toBytes(data)); fire(); });
  ws.on('error', (e) => { ev.errors.push(e); fire(); });
  ws.on('close', (code, reason) => { ev.close = { code, reason: Buffer.from(reason).toString() }; fire(); });
  const until = async (get, what) => {
    const deadline = Date.now() + T;
    for (;;) {
      const v = get();
      if (v !== undefined) return v;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await bounded(new Promise((r) => ev.waiters.push(r)), Math.max(1, deadline - Date.now()), what).catch(() => undefined);
    }
  };
  await bounded(new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('close', (code) => reject(new Error(`closed before open (${code}): ${ev.errors.map((e) => e.message).join('; ')}`)));
  }), T, 'open');
  return { ws, ev, until };
}

function sameBytes(a, b, what) {
  if (a.length !== b.length || !Buffer.from(a).equals(Buffer.from(b))) throw new Error(`${what}: got ${a.length} bytes, expected ${b.length}`);
}

function seeded(n, seed) {
  const out = new Uint8Array(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) { x = (Math.imul(x, 1103515245) + 12345) >>> 0; out[i] = x >>> 24; }
  return out;
}

export async function clientScenarios(WebSocket, label, port, limitedPort, limit) {
  const url = `ws://127.0.0.1:${port}/`;
  const results = [];
  const open1 = [];
  const check = async (name, fn) => {
    try {
      await fn();
      results.push({ name: `${label}: ${name}`, ok: true });
    } catch (e) {
      results.push({ name: `${label}: ${name}`, ok: false, error: e && e.message ? e.message : String(e) });
    }
  };
  const echo = async (name, payload, binary) => check(name, async () => {
    const c = await open(WebSocket, url);
    open1.push(c.ws);
    c.ws.send(payload, { binary });
    const m = await c.until(() => c.ev.messages[0], 'the echo');
    if (m.isBinary !== binary) throw new Error(`isBinary ${m.isBinary}, expected ${binary}`);
    sameBytes(m.data, typeof payload === 'string' ? te.encode(payload) : payload, 'echo');
    c.ws.close(1000);
    await c.until(() => c.ev.close, 'close');
  });

  await echo('text echo', 'hello ✓ from Node', false);
  await echo('binary echo (1 KiB)', seeded(1024, 1), true);
  await echo('binary echo (64 KiB)', seeded(64 * 1024, 2), true);
  await echo('text echo (64 KiB, multi-byte)', 'ü✓😀 '.repeat(6554), false);
  await echo('empty binary message', new Uint8Array(0), true);

  await check('permessage-deflate negotiated; 200 KB of text compressed both ways', async () => {
    const c = await open(WebSocket, url);
    open1.push(c.ws);
    if (!String(c.ws.extensions).includes('permessage-deflate')) throw new Error(`extensions: '${c.ws.extensions}'`);
    const text = 'compress me, echo me, compress me again; '.repeat(5000);
    c.ws.send(text, { binary: false });
    const m = await c.until(() => c.ev.messages[0], 'the echo');
    sameBytes(m.data, te.encode(text), 'echo');
    c.ws.close(1000);
    await c.until(() => c.ev.close, 'close');
  });

  await check('100 messages echoed in order', async () => {
    const c = await open(WebSocket, url);
    open1.push(c.ws);
    for (let i = 0; i < 100; i++) c.ws.send(`#${i}`);
    await c.until(() => (c.ev.messages.length >= 100 ? true : undefined), '100 echoes');
    const got = c.ev.messages.map((m) => Buffer.from(m.data).toString());
    if (got.join(',') !== Array.from({ length: 100 }, (_, i) => `#${i}`).join(',')) throw new Error('out of order: ' + got.slice(0, 5).join(','));
    c.ws.close(1000);
    await c.until(() => c.ev.close, 'close');
  });

  await check('ping -> pong with the same payload', async () => {
    const c = await open(WebSocket, url);
    open1.push(c.ws);
    c.ws.ping(Buffer.from('are you there?'));
    const p = await c.until(() => c.ev.pongs[0], 'the pong');
    sameBytes(p, te.encode('are you there?'), 'pong payload');
    c.ws.close(1000);
    await c.until(() => c.ev.close, 'close');
  });

  for (const code of [1000, 1001, 3000, 4000, 4999]) {
    await check(`close ${code}: the server echoes code and reason`, async () => {
      const c = await open(WebSocket, url);
      open1.push(c.ws);
      c.ws.close(code, `reason ${code}`);
      const ce = await c.until(() => c.ev.close, 'the close event');
      if (ce.code !== code || ce.reason !== `reason ${code}`) throw new Error(`close event ${ce.code} '${ce.reason}'`);
    });
  }

  await check('close without a code: the close event reports 1005', async () => {
    const c = await open(WebSocket, url);
    open1.push(c.ws);
    c.ws.close();
    const ce = await c.until(() => c.ev.close, 'the close event');
    if (ce.code !== 1005) throw new Error(`close event ${ce.code}`);
  });

  await check('invalid UTF-8 in a text message: the server closes with 1007', async () => {
    const c = await open(WebSocket, url);
    open1.push(c.ws);
    c.ws.send(Buffer.from([0x61, 0xff, 0x62]), { binary: false });
    const ce = await c.until(() => c.ev.close, 'the close event');
    if (ce.code !== 1007) throw new Error(`close event ${ce.code}`);
  });

  if (limitedPort) {
    await check(`a message over the server's maxPayload (${limit}): the server closes with 1009`, async () => {
      const c = await open(WebSocket, `ws://127.0.0.1:${limitedPort}/`);
      open1.push(c.ws);
      // Uncompressed: ws compresses any size under context takeover, and random
      // bytes deflate to a few bytes more than maxPayload (counted on the wire, as ws does).
      c.ws.send(seeded(limit, 3), { compress: false });
      const m = await c.until(() => c.ev.messages[0], 'the echo of exactly maxPayload bytes');
      sameBytes(m.data, seeded(limit, 3), 'echo');
      c.ws.send(seeded(limit + 1, 4), { compress: false });
      const ce = await c.until(() => c.ev.close, 'the close event');
      if (ce.code !== 1009) throw new Error(`close event ${ce.code}`);
    });
    await check(`a compressed message inflating past maxPayload (${limit}): 1009 from the inflater`, async () => {
      const c = await open(WebSocket, `ws://127.0.0.1:${limitedPort}/`);
      open1.push(c.ws);
      if (!String(c.ws.extensions).includes('permessage-deflate')) throw new Error(`extensions: '${c.ws.extensions}'`);
      c.ws.send('z'.repeat(limit * 50), { compress: true }); // a few dozen bytes on the wire
      const ce = await c.until(() => c.ev.close, 'the close event');
      if (ce.code !== 1009) throw new Error(`close event ${ce.code}`);
    });
  }

  for (const ws of open1) { try { ws.terminate(); } catch { /* closed */ } }
  return results;
}
