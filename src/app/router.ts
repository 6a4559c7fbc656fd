// uWebSockets.js's URL patterns: "/static/path", "/users/:id" (one segment,
// its text given by getParameter), and a trailing "*" (the rest of the path,
// any depth, empty included: "/*" matches every path). When several routes
// match, the more specific wins segment by segment (static over parameter
// over wildcard), then a route for the method over an `any` route, then the
// earlier registration; a handler that calls req.setYield(true) passes the
// request to the next one. Parameters are the raw segment text, as in uWS.js.

const STATIC = 0, PARAM = 1, WILDCARD = 2;

interface Segment { kind: number; text: string }

export interface Route<H> {
  /** Lower-case method, or '*' for any. */
  method: string;
  segments: Segment[];
  /** Parameter names in order (":id" gives "id"). */
  names: string[];
  handler: H;
}

function parsePattern(pattern: string): Segment[] {
  if (typeof pattern !== 'string' || pattern[0] !== '/') throw new TypeError(`A route pattern starts with "/": ${String(pattern)}`);
  const parts = pattern.slice(1).split('/');
  return parts.map((text, i) => {
    if (text === '*') {
      if (i !== parts.length - 1) throw new TypeError(`"*" ends a pattern: ${pattern}`);
      return { kind: WILDCARD, text };
    }
    return text[0] === ':' ? { kind: PARAM, text: text.slice(1) } : { kind: STATIC, text };
  });
}

// Negative when a is tried before b.
function compare<H>(a: Route<H>, b: Route<H>): number {
  const n = Math.min(a.segments.length, b.segments.length);
  for (let i = 0; i < n; i++) {
    const d = a.segments[i].kind - b.segments[i].kind;
    if (d !== 0) return d;
  }
  if (a.segments.length !== b.segments.length) return a.segments.length - b.segments.length;
  return (a.method === '*' ? 1 : 0) - (b.method === '*' ? 1 : 0);
}

export class Router<H> {
  private readonly routes: Route<H>[] = [];

  add(method: string, pattern: string, handler: H): void {
    const segments = parsePattern(pattern);
    const route: Route<H> = { method, segments, names: segments.filter((s) => s.kind === PARAM).map((s) => s.text), handler };
    // Stable insertion keeps registration order among equals.
    let i = this.routes.length;
    while (i > 0 && compare(this.routes[i - 1], route) > 0) i--;
    this.routes.splice(i, 0, route);
  }

  get size(): number { return this.routes.length; }

  /**
   * Calls `visit` with each route matching `method` (lower case) and `path`, most
   * specific first, with its parameters, until `visit` returns true.
   */
  find(method: string, path: string, visit: (route: Route<H>, params: string[]) => boolean): boolean {
    for (const route of this.routes) {
      if (route.method !== '*' && route.method !== method) continue;
      const params = match(route.segments, path);
      if (params !== null && visit(route, params)) return true;
    }
    return false;
  }
}

// The parameters if `path` ("/a/b", no query) matches, else null.
function match(segments: Segment[], path: string): string[] | null {
  const params: string[] = [];
  let p = 1; // past the leading "/"
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i];
    if (s.kind === WILDCARD) return params;
    if (p > path.length) return null; // the path has fewer segments
    let e = path.indexOf('/', p);
    if (e === -1) e = path.length;
    if (s.kind === STATIC) {
      if (e - p !== s.text.length || !path.startsWith(s.text, p)) return null;
    } else {
      params.push(path.slice(p, e));
    }
    p = e + 1;
  }
  return p > path.length ? params : null;
}
