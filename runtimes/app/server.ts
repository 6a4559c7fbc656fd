// The same wasmsocket/app program on Deno and on Bun (test/app-edge.test.ts
// and bench/edge.mjs run it):
//   deno run --allow-net=127.0.0.1 --allow-read --config runtimes/deno/deno.json runtimes/app/server.ts [--dist | --package]
//   bun runtimes/app/server.ts [--dist | --package]
// It imports the App from src/entries/app-deno.ts or app-bun.ts (--dist: the
// built dist/app-deno.js or dist/app-bun.js; --package: 'wasmsocket/app' as
// installed, which runtimes/run-all.mjs does from the packed package), listens on a free 127.0.0.1 port
// and prints `LISTENING {"port":..,"runtime":..}`; a second App with
// maxPayloadLength 1000 prints a second line (what test/conformance's limit
// cases need); with --tls-key=<file> --tls-cert=<file>, a third line for an
// SSLApp with the same routes. It exits when its stdin closes.
//
// HTTP: GET and HEAD /health, GET /page, POST /json ({a, b} -> {sum}), GET /users/:id,
// GET /query (echoes the query string and a header), anything else 404.
// WebSocket (SHARED_COMPRESSOR) on /*: echo. On /cmd, echo but for a few
// texts: 'close-me <code>' ends with that code and 'server bye', 'sub <topic>'
// subscribes (answers 'subscribed <topic>'), 'pub <topic> <text>' publishes
// <text> to the topic through app.publish, 'flood <n> <bytes>' sends n
// binary messages at once, 'buffered' answers getBufferedAmount(),
// 'platform-stats' the platform's read and write counts (src/ only); the
// drain handler sends 'drained' once after a flood.
/* eslint-disable @typescript-eslint/no-explicit-any -- two runtimes' globals */
const g = globalThis as any;
const runtime: 'deno' | 'bun' = g.Deno ? 'deno' : 'bun';
const argv: string[] = g.Deno ? g.Deno.args : g.Bun.argv.slice(2);
const from = argv.includes('--package') ? 'package' : argv.includes('--dist') ? 'dist' : 'src';
const mod: any = from === 'package' ? await import('wasmsocket/app') // the package's "deno" / "bun" condition
  : runtime === 'deno' ? await import(from === 'dist' ? '../../dist/app-deno.js' : '../../src/entries/app-deno.ts')
    : await import(from === 'dist' ? '../../dist/app-bun.js' : '../../src/entries/app-bun.ts');
const { App, us_socket_local_port: localPort } = mod;
// The platform's counters (reads, writes), from src/ only: 'platform-stats' on /cmd answers them.
const platformStats: Record<string, number> | null = from !== 'src' ? null : runtime === 'deno'
  ? (await import('../../src/app/deno-platform.ts')).denoStats : (await import('../../src/app/bun-platform.ts')).bunStats;
const text = new TextDecoder();

// Sockets that flooded and have not drained yet.
const flooded = new Set<unknown>();

function makeApp(maxPayloadLength?: number, tls?: object): any {
  const app = tls ? mod.SSLApp(tls) : App();
  app.get('/health', (res: any) => { res.end('ok'); })
    .head('/health', (res: any) => { res.end('ok'); })
    .get('/page', (res: any) => { res.writeStatus('200 OK').writeHeader('Content-Type', 'text/html; charset=utf-8').end('<h1>héllo</h1>'); })
    .get('/users/:id', (res: any, req: any) => { res.end(`user ${req.getParameter(0)}`); })
    .get('/query', (res: any, req: any) => { res.end(`${req.getQuery()}|${req.getHeader('x-probe')}|${req.getMethod()}`); })
    .post('/json', (res: any) => {
      const parts: Uint8Array[] = [];
      res.onAborted(() => {});
      res.onData((chunk: ArrayBuffer, isLast: boolean) => {
        parts.push(new Uint8Array(chunk.slice(0)));
        if (!isLast) return;
        let all = '';
        for (const p of parts) all += text.decode(p, { stream: true });
        const body = JSON.parse(all);
        res.writeHeader('Content-Type', 'application/json').end(JSON.stringify({ sum: body.a + body.b, runtime }));
      });
    })
    .any('/*', (res: any) => { res.writeStatus('404 Not Found').end('nothing here'); });
  // Plain echo on every path (what test/conformance connects to) but /cmd.
  // Limits as the other runtimes' echo servers have them (ws's 100 MiB), so
  // test/conformance runs unchanged; backpressure room for a 16 MiB echo.
  const common = { maxPayloadLength: maxPayloadLength ?? 100 * 1024 * 1024, maxBackpressure: 64 * 1024 * 1024, compression: mod.SHARED_COMPRESSOR };
  app.ws('/cmd', {
    ...common,
    message(ws: any, message: ArrayBuffer, isBinary: boolean) {
      if (!isBinary && message.byteLength < 200) {
        const t = text.decode(message);
        let m = /^close-me (\d+)$/.exec(t);
        if (m) { ws.end(Number(m[1]), 'server bye'); return; }
        m = /^sub (\S+)$/.exec(t);
        if (m) { ws.subscribe(m[1]); ws.send(`subscribed ${m[1]}`); return; }
        m = /^pub (\S+) (.*)$/.exec(t);
        if (m) { app.publish(m[1], m[2]); return; }
        m = /^flood (\d+) (\d+)$/.exec(t);
        if (m) {
          for (let i = 0; i < Number(m[1]); i++) ws.send(new Uint8Array(Number(m[2])).fill(i & 0xff), true);
          flooded.add(ws);
          return;
        }
        if (t === 'buffered') { ws.send(`buffered ${ws.getBufferedAmount()}`); return; }
        if (t === 'platform-stats') { ws.send(JSON.stringify(platformStats)); return; }
      }
      ws.send(message, isBinary);
    },
    drain(ws: any) {
      if (flooded.delete(ws)) ws.send('drained');
    },
  });
  app.ws('/*', { ...common, message(ws: any, message: ArrayBuffer, isBinary: boolean) { ws.send(message, isBinary); } });
  return app;
}

function listen(app: any, maxPayload: number): Promise<void> {
  return new Promise((resolve, reject) => {
    app.listen('127.0.0.1', 0, (token: unknown) => {
      if (!token) { reject(new Error('listen failed')); return; }
      console.log(`LISTENING ${JSON.stringify({ port: localPort(token), maxPayload, runtime })}`);
      resolve();
    });
  });
}

await listen(makeApp(), 100 * 1024 * 1024);
await listen(makeApp(1000), 1000);
// --tls-key=<file> --tls-cert=<file>: a third App, SSLApp with the same routes.
const flag = (name: string) => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
if (flag('tls-key')) await listen(makeApp(undefined, { key_file_name: flag('tls-key'), cert_file_name: flag('tls-cert') }), 100 * 1024 * 1024);

// Exit when stdin closes (the parent went away).
(async () => {
  try {
    if (runtime === 'deno') { for await (const _ of g.Deno.stdin.readable) { /* nothing */ } }
    else { for await (const _ of g.Bun.stdin.stream()) { /* nothing */ } }
  } catch { /* no stdin */ }
  if (runtime === 'deno') g.Deno.exit(0); else g.process.exit(0);
})();
