// Benchmark server for bench/cores.mjs: wasmsocket/app echo servers in THREADS worker
// threads of one process, all listening on one port (SO_REUSEPORT, as uWS.js's WorkerThreads
// example; needs Node >= 22.12), from the built package (../../dist/app.js).
//
//   node --expose-gc bench/servers/app-threads.mjs --threads N
//
// Each worker runs bench/servers/app-echo.mjs's echo (ws.send of the lent message, text as
// text). The main thread only starts them and answers the control channel (control.mjs):
// process.cpuUsage() there is the whole process's, every thread included.
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import process from 'node:process';

if (isMainThread) {
  const { serveControl } = await import('./control.mjs');
  const args = process.argv.slice(2);
  const i = args.indexOf('--threads');
  const n = Math.max(1, Number(i >= 0 ? args[i + 1] : 1) || 1);
  const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
  let port = 0;
  for (let t = 0; t < n; t++) {
    const w = new Worker(new URL(import.meta.url), { workerData: { port } });
    const m = await new Promise((resolve) => { w.once('message', resolve); w.once('error', (e) => resolve({ error: String(e) })); });
    if (m.error || m.port === undefined) {
      out({ ready: false, impl: 'app-threads', error: m.error ?? `thread ${t + 1} could not listen on port ${port} (no SO_REUSEPORT in Node ${process.version}?)` });
      process.exit(1);
    }
    port = m.port;
    w.on('error', (e) => process.stderr.write(`app-threads: a worker failed: ${e?.message ?? e}\n`));
  }
  out({ ready: true, impl: 'app-threads', threads: n, port, node: process.version, pid: process.pid });
  serveControl(() => undefined);
} else {
  const uWS = await import('../../dist/app.js');
  const app = uWS.App().ws('/*', {
    maxPayloadLength: 16 * 1024 * 1024,
    maxBackpressure: 64 * 1024 * 1024,
    idleTimeout: 0,
    message: (ws, message, isBinary) => { ws.send(message, isBinary); },
  });
  app.listen('127.0.0.1', workerData.port, (token) => {
    parentPort.postMessage(token ? { port: uWS.us_socket_local_port(token) } : { error: `listen on 127.0.0.1:${workerData.port} failed` });
  });
}
