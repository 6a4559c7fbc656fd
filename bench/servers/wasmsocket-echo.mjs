// Benchmark server: wasmsocket, from the built package (../../dist/index.js; `npm run build`).
//
//   node --expose-gc bench/servers/wasmsocket-echo.mjs [--mode echo|broadcast] [--deflate [--server-no-context-takeover]]
//
// Listens on 127.0.0.1, port 0, and prints one JSON line to stdout:
//   {"ready":true,"impl":"wasmsocket","port":PORT,...}   or   {"ready":false,"error":"..."}
// When started with an IPC channel (bench/run.mjs does), it answers
//   {cmd:'stats', id, gc}  with  {id, cpu, rss, heapUsed, external, arrayBuffers, maxRSS, clients, t}
//   {cmd:'exit'}           by exiting,
// and exits by itself when the channel goes away or after BENCH_SERVER_MAX_MS (default 15 min).
//
// The connection handler below is kept character-for-character the same as the one in
// ws-echo.mjs; only the import differs. Broadcast uses wss.broadcast() when the server has it,
// else the same loop over wss.clients that ws documents.

import { out, serveControl, serverArgs } from './control.mjs';

const IMPL = 'wasmsocket';
const { args, mode, deflate } = serverArgs();

const native = undefined;

let lib;
try {
  lib = await import('../../dist/index.js');
} catch (err) {
  out({ ready: false, impl: IMPL, error: `cannot import ../../dist/index.js: ${err?.message ?? err}` });
  process.exit(1);
}
const { WebSocketServer, WebSocket } = lib;
const OPEN = WebSocket?.OPEN ?? 1;

let wss;
try {
  // BENCH_DEFLATE_SHARED=1: the shared-compressor mode (one compressor per process).
  // --server-no-context-takeover: every reply compressed from scratch (issue 23's deflate row).
  const pmd = deflate && process.env.BENCH_DEFLATE_SHARED === '1' ? { sharedCompressor: true }
    : deflate && args.includes('--server-no-context-takeover') ? { serverNoContextTakeover: true } : deflate;
  wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: pmd });
} catch (err) {
  out({ ready: false, impl: IMPL, error: `new WebSocketServer failed: ${err?.message ?? err}` });
  process.exit(1);
}
const hasBroadcast = typeof wss.broadcast === 'function';

// ---- the benchmarked code (identical in both servers) --------------------------------------
const noop = () => {};
if (mode === 'broadcast') {
  if (hasBroadcast) {
    wss.on('connection', (ws) => {
      ws.on('error', noop);
      ws.on('message', (data, isBinary) => wss.broadcast(data, { binary: isBinary }));
    });
  } else {
    wss.on('connection', (ws) => {
      ws.on('error', noop);
      ws.on('message', (data, isBinary) => {
        for (const client of wss.clients) {
          if (client.readyState === OPEN) client.send(data, { binary: isBinary });
        }
      });
    });
  }
} else {
  wss.on('connection', (ws) => {
    ws.on('error', noop);
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  });
}
// ----------------------------------------------------------------------------------------------

wss.on('error', (err) => {
  out({ ready: false, impl: IMPL, error: `server error: ${err?.message ?? err}` });
  process.exit(1);
});
wss.on('listening', () => {
  out({
    ready: true,
    impl: IMPL,
    port: wss.address().port,
    mode,
    deflate,
    broadcastMethod: mode === 'broadcast' ? hasBroadcast : undefined,
    native,
    node: process.version,
    pid: process.pid,
  });
});

// ---- control channel -------------------------------------------------------------------------
serveControl(() => (wss.clients ? wss.clients.size : undefined));
