// Which address a handshake comes from, for the per-address limits: the
// socket's peer, or, when that peer is a proxy the user trusts (`trustProxy`),
// the client the proxy names in X-Forwarded-For or Forwarded (RFC 7239).
// A header from an untrusted peer is ignored: anyone can write one.
import { BlockList, isIP } from 'node:net';

export type ProxyHeader = 'x-forwarded-for' | 'forwarded';

/** Strips IPv4-mapped IPv6 (`::ffff:1.2.3.4`) to the IPv4 address. */
export function plainAddress(address: string): string {
  return address.length > 7 && address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

/**
 * The key the per-address tables use: an IPv4 address as is, an IPv6 address
 * by its /64 (one host or one subscriber gets a whole /64, so keying on the
 * full address would give each of them 2^64 fresh buckets).
 */
export function addressKey(address: string): string {
  if (isIP(address) !== 6) return address;
  const groups = expandIPv6(address);
  return groups === null ? address : groups.slice(0, 4).join(':') + '::/64';
}

// The eight 16-bit groups of an IPv6 address (hex, no leading zeros).
function expandIPv6(address: string): string[] | null {
  const zone = address.indexOf('%');
  const a = zone === -1 ? address : address.slice(0, zone);
  const [head, tail] = a.split('::') as [string, string | undefined];
  const parts = (s: string | undefined): string[] => (s ? s.split(':') : []);
  const left = parts(head), right = parts(tail);
  // An embedded IPv4 tail (::1.2.3.4) is two groups.
  const last = (tail === undefined ? left : right);
  if (last.length && last[last.length - 1].includes('.')) {
    const v4 = last.pop()!.split('.').map(Number);
    last.push(((v4[0] << 8) | v4[1]).toString(16), ((v4[2] << 8) | v4[3]).toString(16));
  }
  const fill = tail === undefined ? 0 : 8 - left.length - right.length;
  if (fill < 0) return null;
  return [...left, ...Array<string>(fill).fill('0'), ...right].map((g) => parseInt(g, 16).toString(16));
}

/** Finds the client address of a request, honouring proxy headers only from trusted peers. */
export class ClientAddress {
  private readonly trusted: BlockList | null;

  /**
   * `trustProxy`: the proxies' addresses or CIDR ranges (`'10.0.0.0/8'`,
   * `'::1'`); `header`: the one header they set (reading a second one would let
   * a client supply it through a proxy that only writes the first).
   */
  constructor(trustProxy: readonly string[] | undefined, private readonly header: ProxyHeader = 'x-forwarded-for') {
    if (header !== 'x-forwarded-for' && header !== 'forwarded') throw new TypeError('proxyHeader must be "x-forwarded-for" or "forwarded"');
    if (!trustProxy || trustProxy.length === 0) { this.trusted = null; return; }
    const list = new BlockList();
    for (const entry of trustProxy) {
      const slash = entry.indexOf('/');
      const ip = plainAddress(slash === -1 ? entry : entry.slice(0, slash));
      const family = isIP(ip);
      if (family === 0) throw new TypeError(`trustProxy: ${JSON.stringify(entry)} is not an IP address or CIDR range`);
      const type = family === 6 ? 'ipv6' : 'ipv4';
      if (slash === -1) list.addAddress(ip, type);
      else list.addSubnet(ip, Number(entry.slice(slash + 1)), type);
    }
    this.trusted = list;
  }

  private isTrusted(address: string): boolean {
    const family = isIP(address);
    return family !== 0 && this.trusted!.check(address, family === 6 ? 'ipv6' : 'ipv4');
  }

  /**
   * The client's address: the socket's peer; through trusted proxies, the
   * nearest address in the header's chain that is not a trusted proxy (the
   * entries to its left were written by the client and are not believed).
   * A hop that is not an IP address ends the walk at the proxy that wrote it.
   */
  of(peer: string | undefined, headers: Record<string, string | string[] | undefined>): string {
    let address = plainAddress(peer ?? '');
    if (this.trusted === null || !this.isTrusted(address)) return address;
    const value = headers[this.header];
    const chain = hops(Array.isArray(value) ? value.join(',') : value, this.header);
    for (let i = chain.length - 1; i >= 0; i--) {
      const hop = chain[i];
      if (isIP(hop) === 0) break;
      address = hop;
      if (!this.isTrusted(hop)) break;
    }
    return address;
  }
}

// The addresses a proxy header lists, leftmost (the original client) first.
// Bounded: only the last MAX_HOPS are read (no real chain is longer).
const MAX_HOPS = 16;

function hops(value: string | undefined, header: ProxyHeader): string[] {
  if (!value) return [];
  const entries = value.split(',').slice(-MAX_HOPS);
  const out: string[] = [];
  for (const entry of entries) {
    let hop = entry.trim();
    if (header === 'forwarded') {
      // for=192.0.2.60;proto=http, for="[2001:db8::17]:4711"
      const m = /(?:^|;)\s*for=("?)([^;"]*)\1\s*(?:;|$)/i.exec(hop);
      hop = m ? m[2] : '';
    }
    out.push(plainAddress(stripPort(hop)));
  }
  return out;
}

// "[v6]:port" -> v6; "v4:port" -> v4; a bare IPv6 address stays.
function stripPort(hop: string): string {
  if (hop.startsWith('[')) {
    const end = hop.indexOf(']');
    return end === -1 ? hop : hop.slice(1, end);
  }
  const colon = hop.indexOf(':');
  return colon !== -1 && colon === hop.lastIndexOf(':') ? hop.slice(0, colon) : hop;
}
