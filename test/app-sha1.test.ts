// The App's SHA-1 fallback (src/app/sha1.ts, for runtimes without a
// synchronous node:crypto) against Node's own SHA-1: every length around the
// block boundaries and random inputs, and the accept value of RFC 6455's
// example; and what edgeAcceptKey() picks here (node:crypto's).
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { sha1 } from '../src/app/sha1.ts';
import { edgeAcceptKey, ownAcceptKey } from '../src/app/edge-accept-key.ts';
import { prng } from './helpers/prng.ts';

const nodeSha1 = (b: Uint8Array) => createHash('sha1').update(b).digest('hex');
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('SHA-1 of our own', () => {
  it('matches node:crypto for every length 0-300 and 500 random inputs up to 5,000 bytes', () => {
    for (let n = 0; n <= 300; n++) {
      const b = randomBytes(n);
      expect(hex(sha1(b)), `length ${n}`).toBe(nodeSha1(b));
    }
    const rand = prng(23);
    for (let i = 0; i < 500; i++) {
      const b = randomBytes(Math.floor(rand() * 5000));
      expect(hex(sha1(b)), `length ${b.length}`).toBe(nodeSha1(b));
    }
  });

  it('gives RFC 6455 §1.3\'s accept value, and the same as node:crypto for 1,000 random keys', () => {
    expect(ownAcceptKey('dGhlIHNhbXBsZSBub25jZQ==')).toBe('s3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
    const fast = edgeAcceptKey();
    for (let i = 0; i < 1000; i++) {
      const key = randomBytes(16).toString('base64');
      expect(ownAcceptKey(key)).toBe(fast(key));
    }
  });

  it('edgeAcceptKey uses node:crypto through process.getBuiltinModule where the runtime has it', () => {
    expect(typeof (process as { getBuiltinModule?: unknown }).getBuiltinModule).toBe('function');
    expect(edgeAcceptKey()).not.toBe(ownAcceptKey);
  });
});
