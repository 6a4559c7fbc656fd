// The test certificate: the chat's self-signed one (examples/chat/cert.mjs, made
// with Debian's openssl), once per test process, with its SPKI hash for Chromium.
import { existsSync } from 'node:fs';
// @ts-expect-error: a plain .mjs module without type declarations
import { selfSignedCert as make } from '../../examples/chat/cert.mjs';

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
  made = make(openssl) as TestCert;
  return made;
}
