// The `allowedOrigins` check: which browser pages may open our sockets.
// A page on another site can open a WebSocket to us with the user's cookies
// (cross-site WebSocket hijacking): browsers send the page's Origin, and only
// the server can refuse it. Non-browser clients send no Origin.
//
// An entry is an origin, `scheme://host[:port]` (`https://chat.example.com`),
// where the host may start with `*.` (any subdomain, one or more labels, not
// the bare domain), the port may be `*` (any), and the scheme may be left out
// (`*.example.com`: http or https). A missing port means the scheme's default
// (80, 443), as browsers leave it out of Origin. `*` alone allows every origin.
// Matching is on the parsed origin, never on substrings: `*.example.com` does
// not match `evil-example.com`, `example.com.evil` or `example.com:8080`.

/** One parsed `allowedOrigins` entry. */
interface OriginPattern {
  /** 'http:' / 'https:' / ...; null: http or https. */
  scheme: string | null;
  /** Lowercase host; for a wildcard, the suffix after `*` (`.example.com`). */
  host: string;
  wildcard: boolean;
  /** The port as Origin carries it ('' for the scheme's default); null: any. */
  port: string | null;
}

const DEFAULT_PORTS: Record<string, string> = { 'http:': '80', 'https:': '443', 'ws:': '80', 'wss:': '443' };
const PATTERN = /^(?:([a-z][a-z0-9+.-]*):\/\/|\/\/)?(\*\.)?([^/:?#*]+|\[[0-9a-f:.]+\])(?::(\d{1,5}|\*))?\/?$/i;

function parsePattern(entry: string): OriginPattern {
  const m = PATTERN.exec(entry.trim());
  if (m === null) throw new TypeError(`allowedOrigins: ${JSON.stringify(entry)} is not an origin or a *.domain pattern`);
  const scheme = m[1] ? m[1].toLowerCase() + ':' : null;
  const wildcard = m[2] !== undefined;
  // Let the URL parser lowercase the host and encode IDNs as Origin does.
  let host: string;
  try {
    host = new URL(`http://${m[3]}`).hostname;
  } catch {
    throw new TypeError(`allowedOrigins: ${JSON.stringify(entry)} has an invalid host`);
  }
  let port: string | null = m[4] === '*' ? null : m[4] ?? '';
  if (port !== null && scheme !== null && port === DEFAULT_PORTS[scheme]) port = '';
  return { scheme, host: wildcard ? '.' + host : host, wildcard, port };
}

// Origins remembered with their answer: at most 256 of at most 300 characters
// (a host name is at most 253), so under 80 KiB; cleared when full.
const SEEN_MAX = 256;
const SEEN_ORIGIN_CHARS = 300;

/** Decides whether an Origin header value may open a socket. */
export class OriginPolicy {
  private readonly patterns: OriginPattern[];
  private readonly any: boolean;
  private readonly allowNull: boolean;
  /**
   * Answers for origins seen lately: parsing with URL was most of admission's
   * cost (admit() + release with the origin check alone: 0.7 µs CPU without
   * this cache, 0.1 µs with it; bench/admission-cost.mjs, Node 20.20).
   */
  private readonly seen = new Map<string, boolean>();

  constructor(allowed: readonly string[], readonly allowNoOrigin = true) {
    if (!Array.isArray(allowed)) throw new TypeError('allowedOrigins must be an array of origins');
    this.any = allowed.includes('*');
    // 'null' is what sandboxed iframes and file: pages send: allowed only when listed.
    this.allowNull = allowed.includes('null');
    this.patterns = allowed.filter((e) => e !== '*' && e !== 'null').map(parsePattern);
  }

  /** True when a request with this Origin header (undefined: none sent) is allowed. */
  allows(origin: string | undefined): boolean {
    if (origin === undefined || origin === '') return this.allowNoOrigin;
    if (this.any) return true;
    if (origin === 'null') return this.allowNull;
    let allowed = this.seen.get(origin);
    if (allowed === undefined) {
      allowed = this.matches(origin);
      // Real traffic has a handful of origins; a peer sending a new one each time only refills it.
      if (origin.length <= SEEN_ORIGIN_CHARS) {
        if (this.seen.size >= SEEN_MAX) this.seen.clear();
        this.seen.set(origin, allowed);
      }
    }
    return allowed;
  }

  private matches(origin: string): boolean {
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      return false;
    }
    // An origin has no path, query, fragment or credentials.
    if (url.username || url.password || (url.pathname !== '/' && url.pathname !== '') || url.search || url.hash) return false;
    const host = url.hostname;
    for (const p of this.patterns) {
      if (p.scheme === null ? url.protocol !== 'http:' && url.protocol !== 'https:' : url.protocol !== p.scheme) continue;
      if (p.port !== null && url.port !== p.port) continue;
      if (p.wildcard ? host.length > p.host.length && host.endsWith(p.host) : host === p.host) return true;
    }
    return false;
  }
}
