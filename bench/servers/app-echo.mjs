// Benchmark server: wasmsocket/app (uWebSockets.js's API), from the built package
// (../../dist/app.js; `npm run build`).
//
//   node --expose-gc bench/servers/app-echo.mjs [--mode echo|broadcast] [--deflate]
//
// The same protocol with bench/run.mjs as wasmsocket-echo.mjs and ws-echo.mjs: one JSON ready
// line on stdout, then the IPC control channel (control.mjs). Each scenario asks the same of it:
//   echo       every message goes back to its sender, text as text, binary as binary;
//   broadcast  every client is subscribed to one topic and a message is published to it with
//              app.publish() (framed once, every client gets it, the sender too, as with
//              wss.broadcast() and ws's loop over wss.clients);
//   --deflate  compression: SHARED_COMPRESSOR (no context kept between messages, uWS.js's usual
//              choice) and every echo sent compressed;
//   setup and idle are echo servers the load generator connects to.
// maxPayloadLength and maxBackpressure are raised past uWS.js's defaults (16 KiB, 64 KiB) so the
// 1 MiB echo (2 replies in flight per connection) is neither refused nor dropped.

import { out, serveControl, serverArgs } from './control.mjs';

const IMPL = 'app';
const { mode, deflate } = serverArgs();

let uWS;
try {
  uWS = await import('../../dist/app.js');
} catch (err) {
  out({ ready: false, impl: IMPL, error: `cannot import ../../dist/app.js: ${err?.message ?? err}` });
  process.exit(1);
}

const TOPIC = 'all';
let clients = 0;
const behavior = {
  compression: deflate ? uWS.SHARED_COMPRESSOR : uWS.DISABLED,
  maxPayloadLength: 16 * 1024 * 1024,
  maxBackpressure: 64 * 1024 * 1024,
  idleTimeout: 0,
  open: (ws) => {
    clients++;
    if (mode === 'broadcast') ws.subscribe(TOPIC);
  },
  close: () => { clients--; },
};
// ---- the benchmarked code ------------------------------------------------------------------
if (mode === 'broadcast') behavior.message = (ws, message, isBinary) => { app.publish(TOPIC, message, isBinary); };
else behavior.message = (ws, message, isBinary) => { ws.send(message, isBinary, deflate); };
// ----------------------------------------------------------------------------------------------

const app = uWS.App().ws('/*', behavior);
app.listen('127.0.0.1', 0, (token) => {
  if (!token) {
    out({ ready: false, impl: IMPL, error: 'listen on 127.0.0.1 failed' });
    process.exit(1);
  }
  out({
    ready: true,
    impl: IMPL,
    port: uWS.us_socket_local_port(token),
    mode,
    deflate,
    broadcastMethod: mode === 'broadcast' ? 'app.publish' : undefined,
    node: process.version,
    pid: process.pid,
  });
});

serveControl(() => clients);
