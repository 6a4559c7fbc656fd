// Plain-HTTP peers for the App's tests: a raw socket that sends bytes (in
// parts, to split heads across reads) and collects the answer, and curl.
import net from 'node:net';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';

/** curl's path, or undefined where it is not installed (tests that need it skip). */
export const CURL = ['/usr/bin/curl', '/usr/local/bin/curl'].find((p) => existsSync(p));

/** Sends `bytes` (parts 15 ms apart) on a raw socket; collects the answer until the server closes or `ms` pass. */
export function exchange(port: number, bytes: string | Buffer | (string | Buffer)[], ms = 3000): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    const parts: Buffer[] = [];
    const chunks = Array.isArray(bytes) ? bytes : [bytes];
    s.on('connect', async () => {
      for (const c of chunks) {
        s.write(c);
        if (chunks.length > 1) await new Promise((r) => setTimeout(r, 15));
      }
    });
    s.on('data', (d) => parts.push(d));
    s.on('error', () => {});
    const timer = setTimeout(() => { s.destroy(); resolve({ text: Buffer.concat(parts).toString('latin1'), closed: false }); }, ms);
    s.on('close', () => { clearTimeout(timer); resolve({ text: Buffer.concat(parts).toString('latin1'), closed: true }); });
  });
}

/** curl with `args` (silent, errors shown, 10 s at most); resolves with its output. */
export function curl(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => execFile(CURL!, ['-sS', '--max-time', '10', ...args], (err, out, errOut) => (err ? reject(new Error(errOut || String(err))) : resolve(out))));
}
