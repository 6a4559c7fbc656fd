// The Sec-WebSocket-Extensions header (RFC 6455 §9.1):
//
//   Sec-WebSocket-Extensions = extension-list
//   extension-list  = 1#extension
//   extension       = extension-token *( ";" extension-param )
//   extension-param = token [ "=" (token | quoted-string) ]
//     ; a quoted-string value must, once unescaped, conform to `token`
//
// The accepted language and the results are the same as ws's lib/extension.js,
// so a header ws accepts (or rejects) is accepted (or rejected) here too:
// - optional whitespace (SP / HTAB) after a name or value and after "," or ";";
//   none at the very start or end of the field value (Node trims those), none
//   around "=";
// - empty list elements ("a,,b") and empty parameters ("a;;b") are errors;
// - names keep their case; each extension name maps to its offers in header
//   order, each parameter name to its values in order (a repeated parameter
//   keeps every value, so the extension can reject it);
// - a parameter without a value is `true`; a quoted value comes back unquoted.
// Malformed input throws SyntaxError('Unexpected character at index N') or
// SyntaxError('Unexpected end of input'), ws's messages and indices.

/** One offer's parameters: every value of each parameter, in order; `true` for a parameter without a value. */
export type ExtensionParams = Record<string, Array<string | true>>;

/** Parsed header: extension name to its offers (one params object per occurrence), in header order. */
export type ExtensionOffers = Record<string, ExtensionParams[]>;

/** A parameter value to format: `true` writes the bare name; false / null / undefined leave the parameter out. */
export type FormatParamValue = string | number | boolean | null | undefined;

/** Parameters to format: a value or a list of values per parameter name. */
export type FormatParams = { readonly [name: string]: FormatParamValue | readonly FormatParamValue[] };

/** Extensions to format: per name, one offer / response or a list of them. */
export type FormatExtensions = { readonly [name: string]: FormatParams | readonly FormatParams[] };

// RFC 7230 tchar: "!" "#" "$" "%" "&" "'" "*" "+" "-" "." "^" "_" "`" "|" "~" DIGIT ALPHA
const TOKEN = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~") TOKEN[c.charCodeAt(0)] = 1;
for (let c = 0x30; c <= 0x39; c++) TOKEN[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) TOKEN[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) TOKEN[c] = 1;

const SP = 0x20, HTAB = 0x09, COMMA = 0x2c, SEMI = 0x3b, EQ = 0x3d, DQUOTE = 0x22, BACKSLASH = 0x5c;

const isToken = (c: number): boolean => c < 128 && TOKEN[c] === 1;
const isWs = (c: number): boolean => c === SP || c === HTAB;

/** True if `s` is a non-empty RFC 7230 token. */
export function isTokenString(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) if (!isToken(s.charCodeAt(i))) return false;
  return true;
}

function push<T>(dest: Record<string, T[]>, name: string, value: T): void {
  const list = dest[name];
  if (list === undefined) dest[name] = [value];
  else list.push(value);
}

// A recursive-descent reader over the header. Every `expect*` either consumes
// input or throws at the first character that cannot continue a valid header,
// which is also where ws's state machine throws.
class Reader {
  pos = 0;
  constructor(readonly s: string) {}

  get atEnd(): boolean { return this.pos >= this.s.length; }
  peek(): number { return this.s.charCodeAt(this.pos); }

  fail(): never {
    throw this.atEnd ? new SyntaxError('Unexpected end of input') : new SyntaxError(`Unexpected character at index ${this.pos}`);
  }

  skipWs(): void {
    while (!this.atEnd && isWs(this.peek())) this.pos++;
  }

  token(): string {
    const start = this.pos;
    while (!this.atEnd && isToken(this.peek())) this.pos++;
    if (this.pos === start) this.fail();
    return this.s.slice(start, this.pos);
  }

  // Opening quote already consumed. At least one character; each a token
  // character, or a backslash followed by one (escaping is allowed but, since
  // only token characters may result, never needed).
  quoted(): string {
    let out = '';
    for (;;) {
      if (this.atEnd) this.fail();
      const c = this.peek();
      if (c === DQUOTE) {
        if (out.length === 0) this.fail();
        this.pos++;
        return out;
      }
      if (c === BACKSLASH) {
        this.pos++;
        if (this.atEnd || !isToken(this.peek())) this.fail();
      } else if (!isToken(c)) {
        this.fail();
      }
      out += this.s[this.pos];
      this.pos++;
    }
  }

  // After a name or value (and its trailing whitespace): ',' or ';' or the end.
  // Whitespace may not be the last thing in the header.
  separator(): number {
    if (this.atEnd) {
      if (this.pos > 0 && isWs(this.s.charCodeAt(this.pos - 1))) this.fail();
      return -1;
    }
    const c = this.peek();
    if (c !== COMMA && c !== SEMI) this.fail();
    this.pos++;
    return c;
  }
}

/** Parses a Sec-WebSocket-Extensions value into offers per extension name; throws SyntaxError if malformed. */
export function parseExtensions(header: string): ExtensionOffers {
  const offers: ExtensionOffers = Object.create(null);
  const r = new Reader(header);
  if (!r.atEnd && isWs(r.peek())) r.fail();
  for (;;) {
    // extension = extension-token *( ";" extension-param )
    r.skipWs();
    const name = r.token();
    const params: ExtensionParams = Object.create(null);
    r.skipWs();
    let sep = r.separator();
    while (sep === SEMI) {
      r.skipWs();
      const key = r.token();
      if (!r.atEnd && r.peek() === EQ) {
        r.pos++;
        let value: string;
        if (!r.atEnd && r.peek() === DQUOTE) {
          r.pos++;
          value = r.quoted();
        } else {
          value = r.token();
        }
        push<string | true>(params, key, value);
      } else {
        push<string | true>(params, key, true);
      }
      r.skipWs();
      sep = r.separator();
    }
    push(offers, name, params);
    if (sep === -1) return offers;
  }
}

function checkToken(what: string, s: string): string {
  if (!isTokenString(s)) throw new TypeError(`Invalid extension ${what}: ${JSON.stringify(s)}`);
  return s;
}

/** Formats extensions and their parameters as a Sec-WebSocket-Extensions value ("a; x=1; y, b"); throws TypeError on a non-token name or value. */
export function formatExtensions(extensions: FormatExtensions): string {
  const items: string[] = [];
  for (const name of Object.keys(extensions)) {
    checkToken('name', name);
    const entry = extensions[name];
    const configurations: readonly FormatParams[] = Array.isArray(entry) ? entry : [entry as FormatParams];
    for (const params of configurations) {
      const parts = [name];
      for (const key of Object.keys(params)) {
        checkToken('parameter name', key);
        const raw = params[key];
        const values: readonly FormatParamValue[] = Array.isArray(raw) ? raw : [raw as FormatParamValue];
        for (const v of values) {
          if (v === true) parts.push(key);
          else if (v === false || v === null || v === undefined) continue;
          else parts.push(`${key}=${checkToken('parameter value', String(v))}`);
        }
      }
      items.push(parts.join('; '));
    }
  }
  return items.join(', ');
}
