// A self-signed certificate for 127.0.0.1/localhost made with Debian's openssl,
// once per test process, plus its SPKI hash for Chromium's pin flag.
import { execFileSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestCert { key: Buffer; cert: Buffer; spki: string }

let made: TestCert | null = null;

/** The openssl binary, or null (tests needing it skip with a reason). */
export function opensslPath(): string | null {
  for (const p of ['/usr/bin/openssl', '/usr/local/bin/openssl']) if (existsSync(p)) return p;
  return null;
}

export function selfSignedCert(): TestCert {
  if (made) return made;
  const openssl = opensslPath();
  if (!openssl) throw new Error('openssl is not installed');
  const dir = mkdtempSync(join(tmpdir(), 'wasmsocket-cert-'));
  try {
    execFileSync(openssl, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
      '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
    const key = readFileSync(join(dir, 'key.pem'));
    const cert = readFileSync(join(dir, 'cert.pem'));
    const der = new X509Certificate(cert).publicKey.export({ type: 'spki', format: 'der' });
    made = { key, cert, spki: createHash('sha256').update(der).digest('base64') };
    return made;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
