// The request-head fuzzer's parts: a seeded generator of heads (valid, mutated
// and hostile), our reader/parser (src/app/http-head.ts) fed under splits,
// llhttp (Node's own HTTP parser, the one behind node:http) as the reference,
// and the comparison, which accepts the differences named in DIFFERENCES and
// nothing else.
import { createRequire } from 'node:module';
import { DIFFERENCES, HeadReader, RequestHead, SCAN_MORE, parseHead } from '../../src/app/http-head.ts';
import { prng } from './prng.ts';

export const MAX_HEADER_SIZE = 16 * 1024;
export const MAX_HEADERS = 100;
const MAX_BODY = 16 * 1024 * 1024;

export type Outcome =
  | { t: 'accepted'; status: number; method: string; url: string; minor: number; headers: string[]; end: number }
  | { t: 'refused'; status: number }
  | { t: 'incomplete' };

const latin1 = (b: Uint8Array, s: number, e: number): string => Buffer.from(b.buffer, b.byteOffset + s, e - s).toString('latin1');

const table = new RequestHead(MAX_HEADERS);

/**
 * Our outcome for bytes b[from, to) fed in pieces ending at each of `cuts`
 * (ascending, inside (from, to)), then the rest. 413 is an accepted head (the
 * refusal is a policy on the body), like llhttp, which does not bound it.
 */
export function ours(b: Uint8Array, from: number, to: number, cuts: number[] = []): Outcome {
  const reader = new HeadReader();
  let p = from, r = SCAN_MORE;
  for (const q of [...cuts, to]) {
    r = reader.readHead(b, p, q, MAX_HEADER_SIZE);
    if (r !== SCAN_MORE) break;
    p = q;
  }
  if (r === SCAN_MORE) return { t: 'incomplete' };
  if (r < 0) return { t: 'refused', status: -r };
  const status = parseHead(reader.headBuffer, reader.headStart, reader.headEnd, table, MAX_BODY);
  if (status !== 0 && status !== 413) return { t: 'refused', status };
  const hb = reader.headBuffer, headers: string[] = [];
  for (let i = 0; i < table.count; i++) {
    const k = i * 4;
    headers.push(latin1(hb, table.fields[k], table.fields[k + 1]), latin1(hb, table.fields[k + 2], table.fields[k + 3]));
  }
  return { t: 'accepted', status, method: table.method, url: latin1(hb, table.targetStart, table.targetEnd), minor: table.minor, headers, end: r - from };
}

// ---- the reference: llhttp through node:http's own binding ----

interface Parser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  execute(b: Buffer): number | Error;
  [k: number]: unknown;
}
const { HTTPParser, methods } = createRequire(import.meta.url)('_http_common') as {
  HTTPParser: (new () => Parser) & Record<string, number>;
  methods: string[];
};
// llhttp's method numbers index its whole method table (allMethods: QUERY is 46),
// not node:http's shorter list; only the deprecated binding has it, and Node 24
// dropped that: there the method is the head's first token, which is what an
// accepting llhttp matched.
let allMethods: string[] | null = null;
try {
  allMethods = (process as unknown as { binding(n: string): { allMethods?: string[] } }).binding('http_parser').allMethods ?? null;
} catch { /* Node >= 24 */ }
const firstToken = (b: Uint8Array): string => /^[\r\n]*([^ ]*)/.exec(Buffer.from(b).toString('latin1'))![1];

/** llhttp's outcome: accepted once on_headers_complete ran without an error before it. */
export function llhttp(b: Uint8Array): Outcome {
  const p = new HTTPParser();
  p.initialize(HTTPParser.REQUEST, {}, MAX_HEADER_SIZE, HTTPParser.kLenientNone);
  let done: Outcome | null = null, headers: string[] = [], url = '';
  p[HTTPParser.kOnHeaders] = (h: string[], u: string) => { headers = headers.concat(h); url += u; };
  p[HTTPParser.kOnHeadersComplete] = (major: number, minor: number, h: string[], method: number, u: string) => {
    done = { t: 'accepted', status: 0, method: allMethods?.[method] ?? firstToken(b), url: url + u, minor: major === 1 ? minor : -1, headers: headers.concat(h), end: -1 };
    return 1; // no body: the head is what is compared
  };
  p[HTTPParser.kOnBody] = () => {};
  p[HTTPParser.kOnMessageComplete] = () => {};
  p[HTTPParser.kOnExecute] = () => {};
  const r = p.execute(Buffer.from(b));
  if (done !== null) return done;
  return r instanceof Error ? { t: 'refused', status: 400 } : { t: 'incomplete' };
}

// ---- the generator ----

const METHODS = methods;
const SPECIAL = [0, 9, 10, 13, 32, 34, 40, 44, 58, 59, 127, 128, 0xff, 0x2f, 0x3f, 0x2a];
const NAMES = ['Host', 'Content-Length', 'content-length', 'Transfer-Encoding', 'Connection', 'Upgrade', 'Expect',
  'Sec-WebSocket-Key', 'Sec-WebSocket-Version', 'Sec-WebSocket-Extensions', 'Accept', 'X-Custom', 'Cookie', 'User-Agent'];
const VALUES = ['localhost', '0', '5', '12', ' 7 ', '1 2', '-1', '0x10', '', '18446744073709551616', '9007199254740993', 'chunked', 'gzip, chunked',
  'close', 'keep-alive', 'Upgrade', 'upgrade, keep-alive', 'websocket', '100-continue', '13', 'dGhlIHNhbXBsZSBub25jZQ==',
  'permessage-deflate; client_max_window_bits', 'a=b; c=d', 'text/html,*/*;q=0.8', 'curl/8.0', '\tx\t', 'caf\xe9'];

export interface HeadCase { bytes: Uint8Array; mutated: boolean }

export function generator(seed: number): () => HeadCase {
  const rnd = prng(seed);
  const int = (n: number): number => Math.floor(rnd() * n);
  const pick = <T,>(a: readonly T[]): T => a[int(a.length)];
  const urlChar = (): string => {
    const r = rnd();
    if (r < 0.85) return pick('abcxyz019-._~/%=&+'.split(''));
    return String.fromCharCode(0x21 + int(0x5e));
  };
  return () => {
    const r = rnd();
    const method = r < 0.9 ? pick(METHODS) : pick(['get', 'FOO', 'CONNECT', 'PRI', 'GETT', '']);
    let target = r < 0.03 ? pick(['*', 'http://a/b', 'a:80', 'x']) : '/' + Array.from({ length: int(20) }, urlChar).join('');
    if (rnd() < 0.2) target += '?' + Array.from({ length: int(12) }, urlChar).join('');
    const version = rnd() < 0.92 ? 'HTTP/1.1' : pick(['HTTP/1.0', 'HTTP/2.0', 'HTTP/0.9', 'HTTP/1.2', 'HTTP/1.', 'http/1.1', 'HTTP/11']);
    let s = (rnd() < 0.05 ? pick(['\r\n', '\r\n\r\n', '\n', '\r']) : '') + `${method} ${target} ${version}\r\n`;
    const n = int(rnd() < 0.05 ? 40 : 8);
    for (let i = 0; i < n; i++) {
      const name = rnd() < 0.9 ? pick(NAMES) : Array.from({ length: 1 + int(6) }, urlChar).join('');
      const value = rnd() < 0.9 ? pick(VALUES) : Array.from({ length: int(10) }, () => String.fromCharCode(rnd() < 0.9 ? 0x20 + int(0x5f) : int(256))).join('');
      s += `${name}:${rnd() < 0.8 ? ' ' : pick(['', '  ', '\t'])}${value}${rnd() < 0.1 ? ' ' : ''}\r\n`;
    }
    s += '\r\n';
    const bytes = Array.from(Buffer.from(s, 'latin1'));
    let mutated = false;
    if (rnd() < 0.5) {
      mutated = true;
      const count = 1 + int(3);
      for (let k = 0; k < count; k++) {
        const at = int(bytes.length);
        const op = int(5);
        if (op === 0) bytes[at] = pick(SPECIAL);
        else if (op === 1) bytes.splice(at, 0, pick(SPECIAL));
        else if (op === 2) bytes.splice(at, 1);
        else if (op === 3) bytes[at] = int(256);
        else { // a CRLF made a bare LF or a bare CR
          const crlf = bytes.findIndex((c, i) => i >= at && c === 13 && bytes[i + 1] === 10);
          if (crlf !== -1) bytes.splice(crlf + int(2), 1);
        }
      }
    }
    if (rnd() < 0.05) bytes.length = int(bytes.length); // cut short
    return { bytes: Uint8Array.from(bytes), mutated };
  };
}

// ---- the comparison ----

export type Difference = keyof typeof DIFFERENCES | 'refusedWhenWhole';

/** The named differences that apply to head `b` (where llhttp accepts and we refuse). */
export function differencesOf(b: Uint8Array): Set<Difference> {
  const out = new Set<Difference>();
  const s = Buffer.from(b).toString('latin1');
  const lead = /^[\r\n]*/.exec(s)![0];
  if (!/^(\r\n)*$/.test(lead)) out.add('leadingLineEnds');
  const line = s.slice(lead.length).split('\r\n')[0];
  if (line.includes('  ')) out.add('extraSpaces');
  const [method, target, version] = line.split(/ +/);
  if (method === 'CONNECT') out.add('connect');
  if (target !== undefined && target[0] !== '/' && target !== '*') out.add('targetForm');
  // No version at all is HTTP/0.9's request line to llhttp.
  if (version !== 'HTTP/1.1' && version !== 'HTTP/1.0') out.add('version');
  const codings: string[] = [];
  for (const l of s.split('\r\n').slice(1)) {
    const m = /^([^:]*):[ \t]*(.*?)[ \t]*$/.exec(l);
    if (m === null) continue;
    if (m[1].toLowerCase() === 'transfer-encoding') codings.push(m[2].toLowerCase());
    if (m[1].toLowerCase() === 'content-length' && /^\d{16,}$/.test(m[2])) out.add('hugeContentLength');
  }
  if (codings.length > 1 || (codings.length === 1 && codings[0] !== 'chunked')) out.add('transferEncoding');
  return out;
}

/** Why `a` (ours) and `ref` (llhttp) disagree beyond the named differences, or '' when they agree. */
export function disagreement(b: Uint8Array, a: Outcome, ref: Outcome): string {
  if (a.t === 'accepted') {
    // A head we read whole but refuse (413) for a Content-Length llhttp cannot hold (past 2^64 - 1).
    if (ref.t !== 'accepted' && a.status === 413 && differencesOf(b).has('hugeContentLength')) return '';
    if (ref.t !== 'accepted') return `we accept, llhttp: ${ref.t}`;
    if (a.method !== ref.method || a.url !== ref.url || a.minor !== ref.minor) return `request line differs: ${JSON.stringify([a.method, a.url, a.minor])} vs ${JSON.stringify([ref.method, ref.url, ref.minor])}`;
    if (JSON.stringify(a.headers) !== JSON.stringify(ref.headers)) return `headers differ: ${JSON.stringify(a.headers)} vs ${JSON.stringify(ref.headers)}`;
    return '';
  }
  if (ref.t === 'accepted') return differencesOf(b).size > 0 ? '' : `we ${a.t === 'refused' ? `refuse (${a.status})` : 'wait'}, llhttp accepts`;
  return '';
}
