// `npm start`: the chat on http://127.0.0.1:8080 (PORT and HOST from the
// environment). SIGTERM (a deploy) and Ctrl+C drain it with wss.shutdown():
// every client told 1001, spread over SHUTDOWN_SPREAD ms (default 0), those
// not answering within SHUTDOWN_TIMEOUT ms (default 5000) cut off; then it exits.
// HTTPS=1: https:// instead, HTTP/2 for the page and the sockets (HTTP/1.1 too),
// with a self-signed certificate made at start (needs openssl).
// WORKERS=N with REDIS_URL: N processes (node:cluster) sharing the port, joined
// through Redis, so two tabs on different workers chat with each other.
// Without REDIS_URL it stays one process.
// GET /metrics: Prometheus metrics of the process that answers (metrics.mjs).
import cluster from 'node:cluster';

const port = Number(process.env.PORT || 8080);
const host = process.env.HOST || '127.0.0.1';
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`PORT must be a port number (0-65535), not ${JSON.stringify(process.env.PORT)}`);
  process.exit(1);
}
const shutdownTimeout = msFromEnv('SHUTDOWN_TIMEOUT', 5000);
const shutdownSpread = msFromEnv('SHUTDOWN_SPREAD', 0);
if (shutdownSpread > 0 && shutdownSpread >= shutdownTimeout) {
  console.error(`SHUTDOWN_SPREAD (${shutdownSpread} ms) must be below SHUTDOWN_TIMEOUT (${shutdownTimeout} ms)`);
  process.exit(1);
}
const redisUrl = process.env.REDIS_URL || undefined;
// ORIGINS: more origins whose pages may connect, comma-separated: the chat's
// public origin when it runs behind a load balancer or a proxy.
const origins = (process.env.ORIGINS ?? '').split(',').map((o) => o.trim()).filter(Boolean);
const workers = process.env.WORKERS === undefined ? 1 : Number(process.env.WORKERS);
if (!Number.isInteger(workers) || workers < 1 || workers > 256) {
  console.error(`WORKERS must be a number of processes (1-256), not ${JSON.stringify(process.env.WORKERS)}`);
  process.exit(1);
}

function msFromEnv(name, fallback) {
  if (process.env[name] === undefined) return fallback;
  const ms = Number(process.env[name]);
  if (!Number.isInteger(ms) || ms < 0 || ms > 600_000) {
    console.error(`${name} must be a number of milliseconds (0-600000), not ${JSON.stringify(process.env[name])}`);
    process.exit(1);
  }
  return ms;
}

let tls;
if (process.env.CHAT_TLS) {
  // A worker: the primary's certificate, so every worker shows the browser the same one.
  const { key, cert, spki } = JSON.parse(process.env.CHAT_TLS);
  tls = { key: Buffer.from(key, 'base64'), cert: Buffer.from(cert, 'base64'), spki };
} else if (process.env.HTTPS === '1') {
  const { selfSignedCert } = await import('./cert.mjs');
  try {
    tls = selfSignedCert();
  } catch (err) {
    console.error(`HTTPS=1 needs openssl to make a self-signed certificate: ${err.message}`);
    process.exit(1);
  }
}

if (cluster.isPrimary && workers > 1 && redisUrl) await primary();
else await serve();

function printTlsHint(url) {
  if (!tls) return;
  console.log('HTTP/2 with a self-signed certificate: accept the browser\'s warning, or start Chromium with');
  console.log(`  chromium --ignore-certificate-errors-spki-list=${tls.spki} ${url}`);
  console.log('In DevTools > Network the page shows Protocol h2 and the socket is a stream of that connection.');
}

/** node:cluster's primary: forks the workers, prints the URL once all listen, stops them on Ctrl+C. */
async function primary() {
  const env = tls ? { CHAT_TLS: JSON.stringify({ key: tls.key.toString('base64'), cert: tls.cert.toString('base64'), spki: tls.spki }) } : {};
  const listening = [];
  for (let i = 1; i <= workers; i++) {
    const w = cluster.fork({ ...env, CHAT_WORKER: String(i) });
    listening.push(new Promise((resolve) => w.on('message', (m) => { if (m?.type === 'listening') resolve(m.url); })));
  }
  let stopping = false;
  const left = () => Object.keys(cluster.workers).length;
  function stop(code) {
    if (stopping) process.exit(1); // a second Ctrl+C does not wait
    stopping = true;
    for (const w of Object.values(cluster.workers)) w.process.kill('SIGTERM');
    cluster.on('exit', () => { if (left() === 0) process.exit(code); });
    if (left() === 0) process.exit(code);
  }
  cluster.on('exit', (w, code) => {
    if (stopping) return;
    console.error(`worker ${w.process.pid} exited (${code}); stopping`);
    stop(1);
  });
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => stop(0));
  const urls = await Promise.all(listening);
  console.log(`Chat running at ${urls[0]} on ${workers} workers (Redis ${redisUrl})`);
  printTlsHint(urls[0]);
}

async function serve() {
  if (workers > 1 && !redisUrl) console.warn('WORKERS is ignored without REDIS_URL: the chat runs in one process.');
  let createChatServer;
  try {
    ({ createChatServer } = await import('./app.mjs'));
  } catch (err) {
    if (err?.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('dist')) {
      console.error('The package is not built (dist/index.js is missing): run `npm install` or `npm run build` first.');
      process.exit(1);
    }
    throw err;
  }

  const worker = cluster.isWorker ? process.env.CHAT_WORKER : undefined;
  let chat;
  try {
    chat = await createChatServer({ port, host, tls, redisUrl, worker, origins });
  } catch (err) {
    console.error(`Cannot listen on ${host}:${port}: ${err.message}`);
    process.exit(1);
  }
  if (cluster.isWorker) {
    process.send({ type: 'listening', url: chat.url });
  } else {
    console.log(`Chat running at ${chat.url}`);
    console.log(`Hello demo at ${chat.url}demo/hello`);
    printTlsHint(chat.url);
  }

  let stopping = false;
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.on(signal, () => {
      // A second Ctrl+C does not wait (a worker gets Ctrl+C from the terminal and SIGTERM from the primary: it waits).
      if (stopping) { if (!cluster.isWorker) process.exit(1); return; }
      stopping = true;
      chat.close({ timeout: shutdownTimeout, spread: shutdownSpread }).then((r) => {
        console.log(`${signal}: ${r.connections} chat connections drained in ${r.durationMs} ms ` +
          `(${r.closedCleanly} closed cleanly, ${r.closedAbnormally} abnormally, ${r.terminated} terminated; ` +
          `GOAWAY on ${r.http2Sessions} HTTP/2 connections)`);
        process.exit(0);
      });
    });
  }
}
