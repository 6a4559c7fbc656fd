// Who may open a connection, checked before verifyClient and before any
// negotiation work: the origin policy (403), then the handshake rate of the
// client's address and the connection limits, total and per address (503 with
// Retry-After). An admitted handshake holds a slot until its socket closes.
import { OriginPolicy } from './origin-policy.js';
import { ClientAddress, addressKey, type ProxyHeader } from './client-address.js';
import { HandshakeRateLimit, type HandshakeRate } from './rate-limit.js';

export interface AdmissionOptions {
  /**
   * Origins whose pages may connect: exact (`https://chat.example.com`) or
   * patterns (`https://*.example.com`, `*.example.com` for http and https,
   * `http://localhost:*`). Others are refused with 403 before verifyClient.
   * Default: no check.
   */
  allowedOrigins?: string[];
  /** Whether a request without Origin (not a browser) is let in when allowedOrigins is set. Default: true. */
  allowNoOrigin?: boolean;
  /** Connections open or in handshake at once, over all addresses; 503 beyond. Default: no limit. */
  maxConnections?: number;
  /** Connections open or in handshake at once from one address (IPv6: one /64); 503 beyond. Default: no limit. */
  maxConnectionsPerAddress?: number;
  /** Handshakes per address: a token bucket; 503 with Retry-After when empty. Default: no limit. */
  handshakeRate?: HandshakeRate;
  /** Proxies (addresses or CIDR ranges) whose `proxyHeader` names the client. Default: none (the socket's peer). */
  trustProxy?: string[];
  /** The header trusted proxies set. Default: 'x-forwarded-for'. */
  proxyHeader?: ProxyHeader;
}

export type RefusalReason = 'origin' | 'no-origin' | 'max-connections' | 'max-connections-per-address' | 'handshake-rate';

export interface Refusal {
  status: 403 | 503;
  reason: RefusalReason;
  /** The client's address as the limits saw it. */
  address: string;
  headers?: Record<string, string>;
}

/** Handshakes refused by the admission checks, by reason (wss.stats.refused). */
export interface RefusalCounts {
  origin: number;
  noOrigin: number;
  maxConnections: number;
  maxConnectionsPerAddress: number;
  handshakeRate: number;
}

// A slot freed by a client leaving cannot be predicted; 5 s spreads the
// retries of a refused crowd instead of inviting them back at once.
const LIMIT_RETRY_AFTER_S = 5;

interface Request { headers: Record<string, string | string[] | undefined>; socket?: { remoteAddress?: string } }

export class Admission {
  readonly refused: RefusalCounts = { origin: 0, noOrigin: 0, maxConnections: 0, maxConnectionsPerAddress: 0, handshakeRate: 0 };
  /** Connections holding a slot: open, or admitted and still in handshake. */
  connections = 0;
  private readonly origins: OriginPolicy | null;
  private readonly addresses: ClientAddress;
  private readonly rate: HandshakeRateLimit | null;
  private readonly rateOption: HandshakeRate | undefined;
  private readonly maxConnections: number;
  private readonly maxPerAddress: number;
  /** Slots held per address key; an entry lives while it holds one (so at most `connections` entries). */
  private readonly perAddress = new Map<string, number>();

  constructor(opts: AdmissionOptions) {
    this.origins = opts.allowedOrigins ? new OriginPolicy(opts.allowedOrigins, opts.allowNoOrigin ?? true) : null;
    this.addresses = new ClientAddress(opts.trustProxy, opts.proxyHeader);
    this.rate = opts.handshakeRate ? new HandshakeRateLimit(opts.handshakeRate) : null;
    this.rateOption = opts.handshakeRate;
    this.maxConnections = limit(opts.maxConnections, 'maxConnections');
    this.maxPerAddress = limit(opts.maxConnectionsPerAddress, 'maxConnectionsPerAddress');
  }

  /**
   * Whether this server checks anything at all (else handshakes skip
   * admission); trustProxy alone counts, so events name the proxied client.
   */
  static needed(opts: AdmissionOptions): boolean {
    return !!(opts.allowedOrigins || opts.maxConnections || opts.maxConnectionsPerAddress || opts.handshakeRate || opts.trustProxy?.length);
  }

  /** The client's address for a request (trusted proxy headers honoured). */
  addressOf(req: Request): string {
    return this.addresses.of(req.socket?.remoteAddress, req.headers);
  }

  /**
   * Checks a handshake. Refused: the refusal. Admitted: a release function
   * that frees its slot (idempotent; call it when the socket closes).
   */
  admit(req: Request, origin: string | undefined): Refusal | (() => void) {
    const address = this.addressOf(req);
    if (this.origins !== null && !this.origins.allows(origin)) {
      const reason = origin === undefined || origin === '' ? 'no-origin' : 'origin';
      this.refused[reason === 'origin' ? 'origin' : 'noOrigin']++;
      return { status: 403, reason, address };
    }
    const key = addressKey(address);
    if (this.rate !== null) {
      const wait = this.rate.take(key);
      if (wait > 0) {
        this.refused.handshakeRate++;
        return { status: 503, reason: 'handshake-rate', address, headers: { 'Retry-After': String(wait) } };
      }
    }
    if (this.connections >= this.maxConnections) {
      this.refused.maxConnections++;
      return { status: 503, reason: 'max-connections', address, headers: { 'Retry-After': String(LIMIT_RETRY_AFTER_S) } };
    }
    const held = this.perAddress.get(key) ?? 0;
    if (held >= this.maxPerAddress) {
      this.refused.maxConnectionsPerAddress++;
      return { status: 503, reason: 'max-connections-per-address', address, headers: { 'Retry-After': String(LIMIT_RETRY_AFTER_S) } };
    }
    this.connections++;
    this.perAddress.set(key, held + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.connections--;
      const left = this.perAddress.get(key)! - 1;
      if (left === 0) this.perAddress.delete(key);
      else this.perAddress.set(key, left);
    };
  }

  /** The limit a refusal hit, as configured (for the diagnostics event). */
  limitOf(reason: RefusalReason): number | HandshakeRate | undefined {
    if (reason === 'max-connections') return this.maxConnections;
    if (reason === 'max-connections-per-address') return this.maxPerAddress;
    if (reason === 'handshake-rate') return this.rateOption;
    return undefined;
  }
}

function limit(value: number | undefined, name: string): number {
  if (value === undefined || value === 0) return Infinity;
  if (!(value > 0)) throw new TypeError(`${name} must be a positive number`);
  return value;
}
