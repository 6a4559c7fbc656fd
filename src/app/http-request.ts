// uWebSockets.js's HttpRequest: a view of the request head in the read buffer,
// valid only while the route handler runs (as in uWS.js, where it lives on the
// stack). Strings are made when asked for. Any use after the handler returned
// (after an await, in a timer) throws, rather than reading the next request.
import { equalsLower, type RequestHead } from './http-head.js';

const utf8 = new TextDecoder();

/** The bytes b[start, end) as a string: ASCII directly, anything else as UTF-8. */
export function text(b: Uint8Array, start: number, end: number): string {
  if (end - start <= 64) {
    let s = '';
    for (let i = start; i < end; i++) {
      const c = b[i];
      if (c >= 0x80) return utf8.decode(b.subarray(start, end));
      s += String.fromCharCode(c);
    }
    return s;
  }
  return utf8.decode(b.subarray(start, end));
}

const EXPIRED = 'uWS.HttpRequest must not be accessed after await or route handler return';

export class HttpRequest {
  /** @internal Cleared when the handler returns. */
  _valid = true;
  /** @internal The handler passed the request on (setYield(true)). */
  _yield = false;
  /** @internal The route's parameters and their names. */
  _params: string[] = [];
  _names: string[] = [];
  private readonly queryStart: number;

  /** @internal */
  constructor(private readonly b: Uint8Array, private readonly h: RequestHead, private readonly path: string) {
    // Only the target is searched: b is the whole read buffer (64 KiB), and indexOf past the
    // target's end scanned all of it for a request without a query (30% of the App's setup profile).
    let q = -1;
    for (let i = h.targetStart; i < h.targetEnd; i++) if (b[i] === 0x3f) { q = i; break; }
    this.queryStart = q !== -1 ? q + 1 : -1;
  }

  private check(): void { if (!this._valid) throw new Error(EXPIRED); }

  /** The value of the first header named `lowerCaseKey`, or ''. */
  getHeader(lowerCaseKey: string): string {
    this.check();
    const key = String(lowerCaseKey).toLowerCase(), f = this.h.fields;
    for (let i = 0; i < this.h.count; i++) {
      const k = i * 4;
      if (equalsLower(this.b, f[k], f[k + 1], key)) return text(this.b, f[k + 2], f[k + 3]);
    }
    return '';
  }

  /** Calls `cb` with each header's (lower-case) name and value, in order. */
  forEach(cb: (key: string, value: string) => void): void {
    this.check();
    const f = this.h.fields;
    for (let i = 0; i < this.h.count; i++) {
      const k = i * 4;
      cb(text(this.b, f[k], f[k + 1]).toLowerCase(), text(this.b, f[k + 2], f[k + 3]));
    }
  }

  /** The path, from its leading "/", without the query. */
  getUrl(): string { this.check(); return this.path; }

  /** The lower-case method, as uWS.js gives it. */
  getMethod(): string { this.check(); return this.h.method.toLowerCase(); }

  getCaseSensitiveMethod(): string { this.check(); return this.h.method; }

  /** The raw query (after "?", '' when none), or with a key, that parameter's decoded value ('' when absent). */
  getQuery(key?: string): string {
    this.check();
    const raw = this.queryStart === -1 ? '' : text(this.b, this.queryStart, this.h.targetEnd);
    if (key === undefined) return raw;
    for (const pair of raw.split('&')) {
      const eq = pair.indexOf('=');
      const name = eq === -1 ? pair : pair.slice(0, eq);
      if (decode(name) === key) return eq === -1 ? '' : decode(pair.slice(eq + 1));
    }
    return '';
  }

  /** A route parameter by position, or by name (":id" is "id"); '' when absent. Raw, as in the path. */
  getParameter(index: number | string): string {
    this.check();
    const i = typeof index === 'number' ? index : this._names.indexOf(index);
    return this._params[i] ?? '';
  }

  /** Passes the request to the next matching route. */
  setYield(y: boolean): HttpRequest { this.check(); this._yield = y; return this; }
}

function decode(s: string): string {
  try { return decodeURIComponent(s.replace(/\+/g, ' ')); } catch { return s; }
}
