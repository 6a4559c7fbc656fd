// Several wasmsocket/app Apps in worker threads of one process, as uWS.js's
// WorkerThreads example runs them, for test/app-cores.test.ts:
//
//   node test/helpers/app-threads.mjs THREADS [tcp|net]
//
// The first worker listens on port 0 and the others on the port it got (so
// they share it where the platform has SO_REUSEPORT; where a worker cannot
// have it, it listens on a port of its own and says so). Every App has a
// ThreadBroker. A WebSocket on any of them is subscribed to "room" and first
// hears {"thread": id}; a text message "pub:X" is app.publish()ed to "room",
// "exit" ends that worker thread (process.exit in a worker ends the thread
// only). The main thread prints JSON lines: {ready, port, ports, threads,
// exclusiveRefused, sameThreadRefused}, then {exited: id, code} per worker
// that ends; it exits when stdin closes.
import { Worker, isMainThread, parentPort, threadId, workerData } from 'node:worker_threads';
import process from 'node:process';

if (isMainThread) {
  const n = Number(process.argv[2] ?? 2);
  const transport = process.argv[3] ?? 'tcp';
  const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
  const started = [];
  let port = 0;
  for (let i = 0; i < n; i++) {
    const w = new Worker(new URL(import.meta.url), {
      workerData: { port, transport },
      env: { ...process.env, WASMSOCKET_APP_TRANSPORT: transport },
    });
    const info = await new Promise((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    });
    if (i === 0) port = info.port;
    w.on('exit', (code) => out({ exited: info.thread, code }));
    w.on('error', (err) => out({ workerError: String(err?.message ?? err) }));
    started.push(info);
  }
  out({
    ready: true,
    port,
    ports: started.map((s) => s.port),
    threads: started.map((s) => s.thread),
    exclusiveRefused: started.slice(1).every((s) => s.exclusiveRefused),
    sameThreadRefused: started.every((s) => s.sameThreadRefused),
    node: process.version,
  });
  process.stdin.resume();
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('close', () => process.exit(0));
} else {
  const uWS = await import('../../dist/app.js');
  const app = uWS.App().useBroker(new uWS.ThreadBroker({ name: 'app-threads-test' }));
  app.ws('/*', {
    maxPayloadLength: 2 * 1024 * 1024,
    open: (ws) => {
      ws.subscribe('room');
      ws.send(JSON.stringify({ thread: threadId }));
    },
    message: (ws, message, isBinary) => {
      const text = Buffer.from(message).toString();
      if (text === 'exit') process.exit(0);
      else if (text.startsWith('pub:')) app.publish('room', text.slice(4), isBinary);
    },
  });
  const listen = (port, options) => new Promise((resolve) => app.listen(port, options, resolve));
  let token = await listen(workerData.port, uWS.LIBUS_LISTEN_DEFAULT);
  // No SO_REUSEPORT here (Node < 22.12): a port of this thread's own, so the broker is still tested.
  const shared = token !== false || workerData.port === 0;
  if (token === false) token = await listen(0, uWS.LIBUS_LISTEN_DEFAULT);
  const port = uWS.us_socket_local_port(token);
  // An exclusive listen on a port another thread holds is refused; so is a second listen in this thread.
  const exclusive = workerData.port === 0 ? false : await listen(workerData.port, uWS.LIBUS_LISTEN_EXCLUSIVE_PORT);
  const again = await listen(port, uWS.LIBUS_LISTEN_DEFAULT);
  parentPort.postMessage({ thread: threadId, port, shared, exclusiveRefused: exclusive === false, sameThreadRefused: again === false });
}
