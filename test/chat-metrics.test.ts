// The chat demo's GET /metrics, scraped as Prometheus would: `npm start`'s
// server.mjs runs as a child process on 127.0.0.1, ws clients open, close and
// get refused (another origin), and the text exposition counts each of them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { IncomingMessage } from 'node:http';
import { WebSocket as WsClient } from 'ws';
import { ensureDist } from './helpers/dist.ts';
import { T, until, withTimeout } from './helpers/wait.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The value of one sample line (`name{labels} value`) in a Prometheus text exposition, or undefined. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = (m[2] ?? '').split(',').filter(Boolean);
    if (want.every((l) => have.includes(l)) && have.length === want.length) return Number(m[3]);
  }
  return undefined;
}

describe('chat demo /metrics (prom-client)', () => {
  let chat: ChildProcess;
  let url = '';
  let out = '';

  beforeAll(async () => {
    ensureDist();
    chat = spawn(process.execPath, ['examples/chat/server.mjs'], { cwd: ROOT, env: { ...process.env, PORT: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
    chat.stdout!.on('data', (d) => { out += d; });
    chat.stderr!.on('data', (d) => { out += d; });
    await until(() => /Chat running at http:\/\/127\.0\.0\.1:\d+\//.test(out), 30_000, () => `the URL on stdout (got ${JSON.stringify(out)})`);
    url = /Chat running at (\S+)/.exec(out)![1]!;
  }, 60_000);

  afterAll(async () => {
    if (chat && chat.exitCode === null) {
      const exited = once(chat, 'exit');
      chat.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (chat.exitCode === null) chat.kill('SIGKILL');
    }
  });

  function open(path: string, origin?: string): Promise<WsClient | number> {
    const ws = new WsClient(new URL(path, url.replace('http', 'ws')), origin ? { origin } : {});
    ws.on('error', () => {});
    return withTimeout(new Promise((resolve) => {
      ws.once('open', () => resolve(ws));
      ws.once('unexpected-response', (_q, res: IncomingMessage) => { res.resume(); resolve(res.statusCode!); });
    }), T, `${path} handshake`);
  }

  it('counts opens, closes by code, refusals by reason and open connections', async () => {
    const origin = url.slice(0, -1); // the page's own origin: allowed
    const a = await open('/ws', origin) as WsClient;
    const b = await open('/ws') as WsClient; // no Origin: not a browser, allowed
    const hello = await open('/demo/hello', origin) as WsClient;
    expect(await open('/ws', 'http://evil.example')).toBe(403);
    expect(await open('/demo/hello', `http://localhost.evil:${new URL(url).port}`)).toBe(403);
    b.close(1000);
    await withTimeout(once(b, 'close'), T, 'b closed');

    const res = await fetch(new URL('metrics', url));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();
    expect(sample(text, 'wasmsocket_connections_opened_total', { endpoint: 'chat' })).toBe(2);
    expect(sample(text, 'wasmsocket_connections_opened_total', { endpoint: 'hello' })).toBe(1);
    // The server hears b's close a moment after b does: scrape again (bounded) until it is counted.
    let scraped = text;
    for (let i = 0; i < 50 && sample(scraped, 'wasmsocket_connections_closed_total', { endpoint: 'chat', code: '1000' }) !== 1; i++) {
      await new Promise((r) => setTimeout(r, 20));
      scraped = await (await fetch(new URL('metrics', url))).text();
    }
    expect(sample(scraped, 'wasmsocket_connections_closed_total', { endpoint: 'chat', code: '1000' })).toBe(1);
    expect(sample(text, 'wasmsocket_handshakes_refused_total', { endpoint: 'chat', reason: 'origin' })).toBe(1);
    expect(sample(text, 'wasmsocket_handshakes_refused_total', { endpoint: 'hello', reason: 'origin' })).toBe(1);
    expect(sample(scraped, 'wasmsocket_connections', { endpoint: 'chat' })).toBe(1);
    expect(sample(scraped, 'wasmsocket_connections', { endpoint: 'hello' })).toBe(1);
    expect(sample(scraped, 'wasmsocket_budget_closes', { endpoint: 'chat' })).toBe(0);
    expect(text).toMatch(/^chat_process_cpu_user_seconds_total \S+$/m); // prom-client's default process metrics
    a.terminate();
    hello.terminate();
  });
});
