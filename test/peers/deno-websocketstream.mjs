// Deno's own WebSocketStream (deno run --unstable-net) against a server on
// 127.0.0.1:<port> that echoes, and closes 4003 when sent 'close please'.
// Prints one JSON line with what it saw.
const port = Number(Deno.args[0]);
const WSS = globalThis.WebSocketStream;
if (typeof WSS !== 'function') throw new Error('no WebSocketStream (run with --unstable-net)');

const a = new WSS(`ws://127.0.0.1:${port}/deno`);
const { readable, writable } = await a.opened;
const r = readable.getReader();
const w = writable.getWriter();
await w.write('hello from Deno ✓');
const text = (await r.read()).value;
await w.write(new Uint8Array([1, 2, 3, 250]));
const bin = Array.from((await r.read()).value);
const big = new Uint8Array(1 << 20).map((_, i) => (i * 31) & 0xff);
await w.write(big);
const back = (await r.read()).value;
const bigIntact = back.length === big.length && back.every((v, i) => v === big[i]);
a.close({ closeCode: 4000, reason: 'deno bye' });
const closedByDeno = await a.closed;

const b = new WSS(`ws://127.0.0.1:${port}/deno2`);
const o = await b.opened;
await o.writable.getWriter().write('close please');
const closedByServer = await b.closed;

console.log(JSON.stringify({ text, bin, big: back.length, bigIntact, closedByDeno, closedByServer }));
