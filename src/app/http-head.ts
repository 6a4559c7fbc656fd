// The HTTP/1.1 request head (RFC 9112 §2-§5), strictly and within bounds, on
// bytes only (no Node imports: the App runs on Deno and Bun too).
//
// Two steps, each linear and without backtracking:
// - HeadScanner finds where a head ends, a byte at a time, resumable across
//   reads (one small integer of state per connection). Every line must end in
//   CRLF: a bare LF or a CR not followed by LF is refused at once (400), and a
//   head longer than maxHeaderSize is refused as soon as it is (431), so a
//   slow or endless head pins at most maxHeaderSize bytes.
// - parseHead() reads the complete head once: request line, header fields,
//   and the fields the connection acts on (Content-Length, Transfer-Encoding,
//   Connection, Upgrade, Expect). Offsets go into a table shared by every
//   connection (a head is parsed and handled synchronously, one at a time), so
//   a request costs no strings until a handler asks for one.
//
// What is accepted is llhttp's language (Node's own parser, strict mode) with
// the differences named in DIFFERENCES; test/app-http-fuzz.test.ts holds both
// to it on generated heads split at every byte.

/** Refusals, as the HTTP status to answer with. */
export const BAD_REQUEST = 400, PAYLOAD_TOO_LARGE = 413, HEADERS_TOO_LARGE = 431, NOT_IMPLEMENTED = 501, VERSION_NOT_SUPPORTED = 505;

/** Where we are stricter than llhttp, on purpose (the fuzz test accepts these differences and no other). */
export const DIFFERENCES = {
  /** Before the request line llhttp skips any CR and LF; we skip CRLF pairs only (RFC 9112 §2.2 asks for at least one empty line). */
  leadingLineEnds: 'bare CR or LF before the request line',
  /** llhttp takes several spaces between method and target; RFC 9112 §3 says one SP. */
  extraSpaces: 'more than one SP in the request line',
  /** Only origin-form ("/path?query") and "*" targets: no proxying, so no absolute-form or authority-form (RFC 9112 §3.2). */
  targetForm: 'absolute-form or authority-form target',
  /** CONNECT is a proxy's method; refused (llhttp takes it). */
  connect: 'CONNECT',
  /** HTTP/1.0 and HTTP/1.1 only; llhttp also takes 0.9 and 2.0 (we answer 505). */
  version: 'HTTP version other than 1.0 and 1.1',
  /** Transfer-Encoding other than one "chunked" (gzip, chunked; several lines) is answered 501: we decode chunked only. */
  transferEncoding: 'Transfer-Encoding other than chunked alone',
  /** A Content-Length past 2^53 - 1 (15 digits and more) is answered 413; llhttp accepts up to 2^64 - 1. */
  hugeContentLength: 'Content-Length of 16 digits or more',
} as const;

// llhttp's request methods (Node's http.METHODS), CONNECT left out (DIFFERENCES.connect).
const METHODS = new Set(('DELETE GET HEAD POST PUT OPTIONS TRACE COPY LOCK MKCOL MOVE PROPFIND PROPPATCH SEARCH UNLOCK ' +
  'BIND REBIND UNBIND ACL REPORT MKACTIVITY CHECKOUT MERGE M-SEARCH NOTIFY SUBSCRIBE UNSUBSCRIBE PATCH PURGE ' +
  'MKCALENDAR LINK UNLINK SOURCE QUERY').split(' '));
/** The longest method above (MKACTIVITY, MKCALENDAR, UNSUBSCRIBE: 11 bytes). */
const MAX_METHOD_LENGTH = 11;

const CR = 13, LF = 10, SP = 32, HTAB = 9, COLON = 58;

// RFC 9110 §5.6.2 tchar.
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~") TCHAR[c.charCodeAt(0)] = 1;
for (let c = 0x30; c <= 0x39; c++) TCHAR[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) TCHAR[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) TCHAR[c] = 1;
// A field value's bytes (RFC 9110 §5.5): VCHAR, obs-text, SP, HTAB.
const VALUE = new Uint8Array(256);
for (let c = 0x20; c <= 0x7e; c++) VALUE[c] = 1;
for (let c = 0x80; c <= 0xff; c++) VALUE[c] = 1;
VALUE[HTAB] = 1;

// ---- finding the end of a head ----

// The scanner's states: at the start of a line (0: before the request line,
// 4: after one), in the method (6: its bytes are checked as they come, so a
// stream that is not HTTP, a TLS ClientHello say, is refused at its first
// byte), in a line (2), after a CR (1 before the request line, 3 in the head,
// 5 on the empty last line).
const START = 0, START_CR = 1, TEXT = 2, TEXT_CR = 3, LINE = 4, LAST_CR = 5, METHOD = 6;

/** The scan's outcome: the head is not complete yet. */
export const SCAN_MORE = -1;

/**
 * Scans `b[from, end)` for the end of a head whose first byte is `b[headStart]`,
 * continuing from `state` (0 for a new head). Returns the index just past the
 * head's last CRLF, SCAN_MORE (and the state to continue from in `out.state`),
 * or a negative status (-400, -431) to answer with.
 */
export function scanHead(b: Uint8Array, headStart: number, from: number, end: number, maxHeaderSize: number, out: { state: number }): number {
  let s = out.state;
  const limit = Math.min(end, headStart + maxHeaderSize);
  let i = from;
  for (; i < limit; i++) {
    const c = b[i];
    switch (s) {
      case START: s = c === CR ? START_CR : TCHAR[c] === 1 ? METHOD : -1; break;
      case METHOD: s = TCHAR[c] === 1 ? METHOD : c === SP ? TEXT : -1; break;
      case START_CR: s = c === LF ? START : -1; break;
      case TEXT: s = c === CR ? TEXT_CR : c === LF ? -1 : TEXT; break;
      case TEXT_CR: s = c === LF ? LINE : -1; break;
      case LINE: s = c === CR ? LAST_CR : c === LF ? -1 : TEXT; break;
      case LAST_CR:
        if (c !== LF) return -BAD_REQUEST;
        out.state = START;
        return i + 1;
    }
    if (s < 0) return -BAD_REQUEST;
  }
  out.state = s;
  return i < end ? -HEADERS_TOO_LARGE : SCAN_MORE;
}

/**
 * A head arriving in pieces: the scan's state and, when the head spans reads,
 * its bytes so far (a buffer that starts at 1 KiB, enough for most heads:
 * curl's is ~80 B, a browser's 0.5-2 KiB, and doubles up to maxHeaderSize).
 * The HTTP connection extends it, so a connection is one object.
 */
export class HeadReader {
  /** scanHead()'s state. */
  state = 0;
  /** The head so far when it spans reads, or null. */
  partial: Uint8Array | null = null;
  partialLength = 0;
  /** Where the last complete head is: headBuffer[headStart, headEnd). */
  headBuffer: Uint8Array = EMPTY;
  headStart = 0;
  headEnd = 0;

  /**
   * Reads b[p, end) as (the rest of) a head. Returns the index in `b` just past
   * the head (which is then at headBuffer[headStart, headEnd)), SCAN_MORE when
   * all of it was taken and the head goes on, or a negative status (-400, -431).
   */
  readHead(b: Uint8Array, p: number, end: number, maxHeaderSize: number): number {
    if (this.partial === null) {
      const r = scanHead(b, p, p, end, maxHeaderSize, this);
      if (r === SCAN_MORE) this.keep(b, p, end);
      else if (r > 0) { this.headBuffer = b; this.headStart = p; this.headEnd = r; }
      return r;
    }
    const r = scanHead(b, p - this.partialLength, p, end, maxHeaderSize, this);
    if (r < 0 && r !== SCAN_MORE) return r;
    this.keep(b, p, r === SCAN_MORE ? end : r);
    if (r === SCAN_MORE) return r;
    this.headBuffer = this.partial;
    this.headStart = 0;
    this.headEnd = this.partialLength;
    this.partial = null;
    this.partialLength = 0;
    return r;
  }

  /** Forgets a head in progress. */
  dropHead(): void {
    this.state = START;
    this.partial = null;
    this.partialLength = 0;
    this.headBuffer = EMPTY;
  }

  // Appends b[start, end) to the head in progress (scanHead bounded it by maxHeaderSize).
  private keep(b: Uint8Array, start: number, end: number): void {
    const need = this.partialLength + end - start;
    if (this.partial === null || this.partial.length < need) {
      let size = this.partial === null ? FIRST_PARTIAL : this.partial.length * 2;
      while (size < need) size *= 2;
      const grown = new Uint8Array(size);
      if (this.partial !== null) grown.set(this.partial.subarray(0, this.partialLength));
      this.partial = grown;
    }
    this.partial.set(b.subarray(start, end), this.partialLength);
    this.partialLength = need;
  }
}

const EMPTY = new Uint8Array(0);
const FIRST_PARTIAL = 1024;

// ---- parsing a complete head ----

/** Connection tokens (RFC 9110 §7.6.1) the connection acts on. */
export const CONN_CLOSE = 1, CONN_KEEP_ALIVE = 2, CONN_UPGRADE = 4;

/** What parseHead() found; offsets index the buffer it was given. */
export class RequestHead {
  method = '';
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  minor = 1;
  targetStart = 0;
  targetEnd = 0;
  count = 0;
  /** Per header: name start, name end, value start, value end (value trimmed of OWS). */
  fields: Int32Array;
  /** -1 when absent. */
  contentLength = -1;
  /** CONN_* bits from the Connection header. */
  connection = 0;
  /** Upgrade: websocket (RFC 6455 §4.2.1) among the Upgrade header's protocols. */
  upgradeWebsocket = false;
  /** Expect: 100-continue. */
  expectContinue = false;
  /** Transfer-Encoding: chunked (alone, without Content-Length): the body comes in chunks. */
  chunked = false;

  constructor(readonly maxHeaders: number) { this.fields = new Int32Array(maxHeaders * 4); }
}

function lower(c: number): number { return c >= 0x41 && c <= 0x5a ? c | 0x20 : c; }

/** Whether b[start, end) is `name` (lower case ASCII), ignoring case. */
export function equalsLower(b: Uint8Array, start: number, end: number, name: string): boolean {
  if (end - start !== name.length) return false;
  for (let i = 0; i < name.length; i++) if (lower(b[start + i]) !== name.charCodeAt(i)) return false;
  return true;
}

// Whether the comma-separated list in b[start, end) holds `token` (any case).
function listHas(b: Uint8Array, start: number, end: number, token: string): boolean {
  let i = start;
  while (i < end) {
    while (i < end && (b[i] === SP || b[i] === HTAB || b[i] === 44)) i++;
    let j = i;
    while (j < end && b[j] !== 44) j++;
    let k = j;
    while (k > i && (b[k - 1] === SP || b[k - 1] === HTAB)) k--;
    if (equalsLower(b, i, k, token)) return true;
    i = j;
  }
  return false;
}

/**
 * Parses the complete head b[start, end) (as scanHead() delimited it) into
 * `h`. Returns 0, or the status to refuse it with (400, 413, 431, 501, 505).
 */
export function parseHead(b: Uint8Array, start: number, end: number, h: RequestHead, maxContentLength: number): number {
  let p = start;
  while (b[p] === CR) p += 2; // empty lines before the request line (scanHead checked each is CRLF)
  // method SP
  const m = p;
  while (p < end && TCHAR[b[p]] === 1) p++;
  if (p === m || p - m > MAX_METHOD_LENGTH || b[p] !== SP) return BAD_REQUEST;
  let method = '';
  for (let i = m; i < p; i++) method += String.fromCharCode(b[i]);
  if (!METHODS.has(method)) return BAD_REQUEST;
  h.method = method;
  p++;
  // request-target SP: origin-form or "*", visible ASCII only.
  const t = p;
  if (b[p] !== 0x2f && !(b[p] === 0x2a && b[p + 1] === SP)) return BAD_REQUEST;
  while (p < end && b[p] > SP && b[p] < 0x7f) p++;
  if (b[p] !== SP) return BAD_REQUEST;
  h.targetStart = t;
  h.targetEnd = p;
  p++;
  // HTTP-version CRLF
  if (end - p < 10 || b[p] !== 0x48 || b[p + 1] !== 0x54 || b[p + 2] !== 0x54 || b[p + 3] !== 0x50 || b[p + 4] !== 0x2f) return BAD_REQUEST;
  const major = b[p + 5] - 0x30, minor = b[p + 7] - 0x30;
  if (major < 0 || major > 9 || b[p + 6] !== 0x2e || minor < 0 || minor > 9 || b[p + 8] !== CR) return BAD_REQUEST;
  if (major !== 1 || minor > 1) return VERSION_NOT_SUPPORTED;
  h.minor = minor;
  p += 10;
  // *( field-line CRLF ) CRLF
  h.count = 0;
  h.contentLength = -1;
  h.connection = 0;
  h.upgradeWebsocket = false;
  h.expectContinue = false;
  h.chunked = false;
  let transferEncodings = 0, tooLarge = false;
  const f = h.fields;
  while (b[p] !== CR) {
    const ns = p;
    while (TCHAR[b[p]] === 1) p++;
    if (p === ns || b[p] !== COLON) return BAD_REQUEST;
    const ne = p++;
    while (b[p] === SP || b[p] === HTAB) p++;
    const vs = p;
    while (VALUE[b[p]] === 1) p++;
    if (b[p] !== CR) return BAD_REQUEST; // a control byte in the value (the CRLF itself scanHead checked)
    let ve = p;
    while (ve > vs && (b[ve - 1] === SP || b[ve - 1] === HTAB)) ve--;
    p += 2;
    if (h.count === h.maxHeaders) return HEADERS_TOO_LARGE;
    const k = h.count++ * 4;
    f[k] = ns; f[k + 1] = ne; f[k + 2] = vs; f[k + 3] = ve;
    // The fields the connection acts on, by length first.
    switch (ne - ns) {
      case 14:
        if (equalsLower(b, ns, ne, 'content-length')) {
          if (h.contentLength !== -1 || ve === vs) return BAD_REQUEST;
          let n = 0;
          for (let i = vs; i < ve; i++) {
            const d = b[i] - 0x30;
            if (d < 0 || d > 9) return BAD_REQUEST;
            n = n * 10 + d;
          }
          if (ve - vs > 15) tooLarge = true;
          h.contentLength = n;
        }
        break;
      case 17:
        if (equalsLower(b, ns, ne, 'transfer-encoding')) {
          transferEncodings++;
          if (equalsLower(b, vs, ve, 'chunked')) h.chunked = true;
        }
        break;
      case 10:
        if (equalsLower(b, ns, ne, 'connection')) {
          if (listHas(b, vs, ve, 'close')) h.connection |= CONN_CLOSE;
          if (listHas(b, vs, ve, 'keep-alive')) h.connection |= CONN_KEEP_ALIVE;
          if (listHas(b, vs, ve, 'upgrade')) h.connection |= CONN_UPGRADE;
        }
        break;
      case 7:
        if (equalsLower(b, ns, ne, 'upgrade') && listHas(b, vs, ve, 'websocket')) h.upgradeWebsocket = true;
        break;
      case 6:
        if (equalsLower(b, ns, ne, 'expect') && equalsLower(b, vs, ve, '100-continue')) h.expectContinue = true;
        break;
    }
  }
  if (transferEncodings > 0) {
    // Both framings at once is a smuggling attempt (RFC 9112 §6.3, llhttp refuses it too);
    // a coding other than chunked alone (gzip, chunked) we cannot decode.
    if (h.contentLength !== -1) return BAD_REQUEST;
    if (transferEncodings > 1 || !h.chunked) { h.chunked = false; return NOT_IMPLEMENTED; }
  }
  if (tooLarge || h.contentLength > maxContentLength) return PAYLOAD_TOO_LARGE;
  return 0;
}
