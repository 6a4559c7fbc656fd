// What SSLApp (Node's tls) costs against App (plain TCP): 1 KiB binary echo,
// server CPU per message from the server process's own process.cpuUsage(), and
// messages per second, rounds interleaved. Smoke-level (a ws client in this
// process drives it, so the rate is the client's as much as the server's; the
// CPU per message is the server's alone). Needs `npm run build` and openssl.
//
//   node bench/app-tls-cost.mjs [rounds=3] [messages=40000]
import { fork } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

if (process.argv[2] === '--server') {
  const [kind, keyFile, certFile] = process.argv.slice(3);
  const uWS = await import('../dist/app.js');
  const app = (kind === 'tls' ? uWS.SSLApp({ key_file_name: keyFile, cert_file_name: certFile }) : uWS.App())
    .ws('/*', { maxPayloadLength: 64 * 1024, maxBackpressure: 1024 * 1024, idleTimeout: 0, message: (ws, m, b) => { ws.send(m, b); } });
  app.listen('127.0.0.1', 0, (t) => process.send({ port: uWS.us_socket_local_port(t) }));
  process.on('message', (m) => { if (m === 'cpu') process.send({ cpu: process.cpuUsage() }); if (m === 'exit') process.exit(0); });
} else {
  const WebSocket = require('ws');
  const { selfSignedCert } = await import('../examples/chat/cert.mjs');
  const rounds = Number(process.argv[2] ?? 3), total = Number(process.argv[3] ?? 40_000);
  const dir = mkdtempSync(join(tmpdir(), 'tls-cost-'));
  const { key, cert } = selfSignedCert('/usr/bin/openssl');
  writeFileSync(join(dir, 'key.pem'), key);
  writeFileSync(join(dir, 'cert.pem'), cert);
  const CONNS = 8, IN_FLIGHT = 16, payload = Buffer.alloc(1024, 7);

  async function round(kind) {
    const child = fork(fileURLToPath(import.meta.url), ['--server', kind, join(dir, 'key.pem'), join(dir, 'cert.pem')]);
    const ask = (what) => new Promise((r) => { child.once('message', r); child.send(what); });
    const { port } = await new Promise((r) => child.once('message', r));
    const url = `${kind === 'tls' ? 'wss' : 'ws'}://127.0.0.1:${port}/`;
    const socks = await Promise.all(Array.from({ length: CONNS }, () => new Promise((res, rej) => {
      const ws = new WebSocket(url, { rejectUnauthorized: false, perMessageDeflate: false });
      ws.on('open', () => res(ws)); ws.on('error', rej);
    })));
    const before = (await ask('cpu')).cpu;
    const t0 = performance.now();
    let done = 0;
    await new Promise((resolve) => {
      const per = total / CONNS;
      for (const ws of socks) {
        let sent = 0, got = 0;
        ws.on('message', () => {
          got++; done++;
          if (sent < per) { ws.send(payload); sent++; }
          if (got === per && done === total) resolve();
        });
        for (let i = 0; i < IN_FLIGHT; i++) { ws.send(payload); sent++; }
      }
      setTimeout(resolve, 60_000).unref(); // bounded in time too
    });
    const secs = (performance.now() - t0) / 1000;
    const after = (await ask('cpu')).cpu;
    for (const ws of socks) ws.terminate();
    child.send('exit');
    const cpuUs = after.user - before.user + after.system - before.system;
    return { kind, rate: Math.round(done / secs), cpuPerMsgUs: cpuUs / done };
  }

  const rows = { plain: [], tls: [] };
  for (let i = 0; i < rounds; i++) for (const kind of ['plain', 'tls']) rows[kind].push(await round(kind));
  rmSync(dir, { recursive: true, force: true });
  const median = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  for (const kind of ['plain', 'tls']) {
    console.log(`${kind.padEnd(5)} echo 1 KiB: ${median(rows[kind].map((r) => r.rate)).toLocaleString('en')} msg/s, ` +
      `server CPU ${median(rows[kind].map((r) => r.cpuPerMsgUs)).toFixed(2)} us/msg (median of ${rounds}; rounds ${rows[kind].map((r) => r.cpuPerMsgUs.toFixed(2)).join(', ')})`);
  }
  const ratio = median(rows.tls.map((r) => r.cpuPerMsgUs)) / median(rows.plain.map((r) => r.cpuPerMsgUs));
  console.log(`TLS costs ${ratio.toFixed(2)}x the server CPU per message of plain TCP`);
}
