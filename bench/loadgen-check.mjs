// Checks the two load generators against each other and against deliberately wrong servers:
//
//   node bench/loadgen-check.mjs [path of a built bench/loadgen.c]   (default: build it like run.mjs)
//
// For each case an in-process server on 127.0.0.1 answers the upgrade and echoes the client's
// frames, right or wrong in one way (payload byte changed, other opcode, one byte short, close
// 1002, wrong Sec-WebSocket-Accept, masked frames, a frame before the close frame, TCP close
// without close frame), and both bench/loadgen.mjs and bench/loadgen.c run a short window
// against it. A right server must give messages and no errors; a wrong one must show up as
// bad frames, errors or a failed run (never as clean counted messages), and both load
// generators must report the same kind of finding. It also checks that the C one sends the same
// payload bytes as the JS one. Exits 1 if any case disagrees. Takes about 30 s.

import net from 'node:net';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { acceptFor, buildCLoadgen, keyArgs } from './loadgen-c.mjs';

const BENCH = path.dirname(fileURLToPath(import.meta.url));

function cBinary() {
  if (process.argv[2]) return path.resolve(process.argv[2]);
  const built = buildCLoadgen();
  if (built.bin) return built.bin;
  console.error(`loadgen-check: bench/loadgen.c could not be built (${built.why})`);
  process.exit(1);
}
const C_BIN = cBinary();

// ---- the (wrong) server ---------------------------------------------------------------------

function serverFrame(op, payload) {
  const n = payload.length;
  let h;
  if (n < 126) h = Buffer.from([0x80 | op, n]);
  else if (n < 65536) h = Buffer.from([0x80 | op, 126, n >> 8, n & 255]);
  else {
    h = Buffer.alloc(10);
    h[0] = 0x80 | op;
    h[1] = 127;
    h.writeUInt32BE(n, 6);
  }
  return Buffer.concat([h, payload]);
}

/** Echo server that is wrong in one way (`mode`); the first masked frame it saw goes to onFirst. */
function startServer(mode, onFirst) {
  const server = net.createServer((s) => {
    s.setNoDelay(true);
    s.on('error', () => {});
    let acc = Buffer.alloc(0);
    let upgraded = false;
    let count = 0;
    s.on('data', (d) => {
      acc = Buffer.concat([acc, d]);
      if (!upgraded) {
        const e = acc.indexOf('\r\n\r\n');
        if (e < 0) return;
        const key = /Sec-WebSocket-Key: *(\S+)/i.exec(acc.toString('latin1', 0, e))[1];
        const accept = mode === 'bad-accept' ? acceptFor(key + 'x') : acceptFor(key);
        s.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
        acc = acc.subarray(e + 4);
        upgraded = true;
      }
      if (mode === 'masked') {
        s.write(acc);
        acc = Buffer.alloc(0);
        return;
      }
      const out = [];
      for (;;) {
        if (acc.length < 2) break;
        const l7 = acc[1] & 0x7f;
        const hl = (l7 === 126 ? 4 : l7 === 127 ? 10 : 2) + 4;
        if (acc.length < hl) break;
        const len = l7 === 126 ? acc.readUInt16BE(2) : l7 === 127 ? Number(acc.readBigUInt64BE(2)) : l7;
        if (acc.length < hl + len) break;
        const payload = Buffer.from(acc.subarray(hl, hl + len));
        for (let i = 0; i < len; i++) payload[i] ^= acc[hl - 4 + (i & 3)];
        const op = acc[0] & 15;
        acc = acc.subarray(hl + len);
        if (op === 8) {
          if (mode === 'frame-before-close') out.push(serverFrame(1, Buffer.from('hi')));
          if (mode !== 'no-close-frame') out.push(serverFrame(8, payload));
          s.end(Buffer.concat(out));
          return;
        }
        if (count++ === 0) onFirst?.(op, payload);
        if (mode === 'close-1002' && count === 50) {
          out.push(serverFrame(8, Buffer.from([0x03, 0xea])));
          s.end(Buffer.concat(out));
          return;
        }
        if (mode === 'flip') payload[0] ^= 1;
        const outOp = mode === 'opcode' ? (op === 1 ? 2 : 1) : op;
        out.push(serverFrame(outOp, mode === 'short' ? payload.subarray(1) : payload));
      }
      if (out.length) s.write(Buffer.concat(out));
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

// ---- one load generator run -----------------------------------------------------------------

function runLoadgen(which, cfg) {
  const child = which === 'c'
    ? spawn(C_BIN, [JSON.stringify(cfg), ...keyArgs()], { stdio: ['pipe', 'pipe', 'inherit'] })
    : spawn(process.execPath, [path.join(BENCH, 'loadgen.mjs'), JSON.stringify(cfg)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  return new Promise((resolve) => child.on('close', () => {
    // The JS one without IPC prints only the result; the C one prints progress lines first.
    const lines = out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
    resolve(lines.find((m) => m.type === 'result' || m.type === undefined) ?? { error: 'no result' });
  }));
}

/** What a result says: 'clean' (counted, no findings), or the kinds of findings. */
function verdict(r) {
  if (r.error) return `failed: ${r.error}`;
  const found = [];
  if (r.badFrames > 0) found.push(`bad frames: ${r.badSample}`);
  if (r.errors > 0) found.push(`errors: ${r.errorSamples.join('; ')}`);
  const n = r.msgs ?? r.ops ?? 0;
  return found.length ? found.join(' / ') : n > 0 ? 'clean' : 'nothing counted';
}

const window = { warmupMs: 200, durationMs: 500, hardDeadlineMs: 8000 };
const echo32 = { kind: 'echo', size: 32, binary: false, conns: 4, inflight: 4, refill: 1, ...window };
const echo64k = { kind: 'echo', size: 65536, binary: true, conns: 2, inflight: 2, ...window };
const echo1m = { kind: 'echo', size: 1 << 20, binary: true, conns: 2, inflight: 2, ...window };
const bcast = { kind: 'broadcast', size: 64, binary: false, conns: 8, inflight: 4, ...window };
const setup = { kind: 'setup', concurrency: 4, ...window };
const CASES = [
  // [server mode, config, expected: 'clean' or a substring every load generator's verdict must contain]
  ['right', echo32, 'clean'],
  ['right', echo64k, 'clean'],
  ['right', echo1m, 'clean'],
  ['right', setup, 'clean'],
  ['flip', echo32, 'echoed payload differs'],
  ['flip', echo64k, 'echoed payload differs'],
  ['opcode', echo32, 'bad frames: opcode 2, length 32 (expected opcode 1'],
  ['short', echo32, 'bad frames: opcode 1, length 31 (expected opcode 1, length 32)'],
  ['short', echo1m, 'length 1048575 (expected opcode 2, length 1048576)'],
  ['close-1002', echo32, 'server sent close 1002'],
  ['bad-accept', echo32, 'bad Sec-WebSocket-Accept'],
  ['masked', echo32, 'server frame is masked'],
  ['masked', { ...echo32, maskedEcho: true }, 'clean'], // the tcp ceiling's echo, accepted only with maskedEcho
  ['flip', bcast, 'echoed payload differs'], // a broadcast server that changes what it sends
  ['frame-before-close', setup, 'unexpected frame 0x81 before the close frame'],
  ['no-close-frame', setup, 'closed without close frame'],
  ['bad-accept', setup, 'handshake failed'],
];

// Broadcast against an echo server: each client gets its own frames back, so a right echo server
// would not complete broadcasts; only the wrong ('flip') case is meaningful, and it must be caught.
let failures = 0;
const firstPayload = {};
for (const [mode, cfg, expected] of CASES) {
  const cells = [];
  for (const which of ['js', 'c']) {
    const server = await startServer(mode, (op, payload) => {
      const k = `${cfg.size}/${cfg.binary}`;
      (firstPayload[k] ??= {})[which] ??= payload;
    });
    const r = await runLoadgen(which, { ...cfg, port: server.address().port });
    server.close();
    const v = verdict(r);
    const ok = expected === 'clean' ? v === 'clean' : v !== 'clean' && v.includes(expected);
    if (!ok) failures++;
    cells.push(`${which}: ${ok ? 'ok' : 'WRONG'} (${v.slice(0, 110)})`);
  }
  console.log(`${cfg.kind} ${cfg.size ?? ''}${cfg.maskedEcho ? ' maskedEcho' : ''}, server ${mode}:\n  ${cells.join('\n  ')}`);
}
for (const [k, p] of Object.entries(firstPayload)) {
  if (!p.js || !p.c) continue;
  const same = p.js.equals(p.c);
  if (!same) failures++;
  console.log(`payload ${k}: the C load generator's bytes are ${same ? 'identical to' : 'DIFFERENT from'} the JS one's`);
}
console.log(failures ? `${failures} disagreement(s)` : 'both load generators report every case as expected');
process.exit(failures ? 1 : 0);
