// The accept value (RFC 6455 §4.2.2), synchronously, for the App outside
// Node: node:crypto's one-shot hash where the runtime offers its Node modules
// through process.getBuiltinModule (Deno 2, Bun; no permission needed in
// Deno), else our SHA-1 over the bytes (sha1.ts). No Node imports.
import { sha1 } from './sha1.js';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

interface NodeCrypto {
  hash?: (alg: string, data: string, enc: 'base64') => string;
  createHash?: (alg: string) => { update(s: string): { digest(enc: 'base64'): string } };
}

function builtinCrypto(): NodeCrypto | null {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  try {
    const c = proc?.getBuiltinModule?.('node:crypto') as NodeCrypto | undefined;
    return c && (typeof c.hash === 'function' || typeof c.createHash === 'function') ? c : null;
  } catch {
    return null;
  }
}

/** base64(SHA-1(key + GUID)) with the best synchronous SHA-1 this runtime has. */
export function edgeAcceptKey(): (key: string) => string {
  const c = builtinCrypto();
  if (c?.hash) { const hash = c.hash; return (key) => hash('sha1', key + GUID, 'base64'); }
  if (c?.createHash) { const create = c.createHash; return (key) => create('sha1').update(key + GUID).digest('base64'); }
  return ownAcceptKey;
}

const utf8 = new TextEncoder();

/** @internal The fallback, exported for its test. */
export function ownAcceptKey(key: string): string {
  const d = sha1(utf8.encode(key + GUID));
  let s = '';
  for (const b of d) s += String.fromCharCode(b);
  return btoa(s);
}
