// A peer's IP address as uWS.js's getRemoteAddress() gives it: the binary
// form, 4 bytes for IPv4 and 16 for IPv6 (an IPv4-mapped IPv6 address, as a
// dual-stack listener reports IPv4 peers, stays 16). No Node imports.

/** The bytes of an IPv4 or IPv6 address in text; empty for anything else. */
export function addressBytes(text: string): Uint8Array {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (v4 !== null) return Uint8Array.from(v4.slice(1).map(Number));
  if (!text.includes(':')) return new Uint8Array(0);
  let head = text, tail4: number[] = [];
  const dotted = /^(.*:)(\d{1,3}(?:\.\d{1,3}){3})$/.exec(text);
  if (dotted !== null) { head = dotted[1] + '0:0'; tail4 = dotted[2].split('.').map(Number); } // the last 32 bits in dotted form
  const [left, right] = head.split('::');
  const groups = (s: string | undefined): string[] => (s === undefined || s === '' ? [] : s.split(':'));
  const l = groups(left), r = head.includes('::') ? groups(right) : [];
  const all = [...l, ...Array(8 - l.length - r.length).fill('0'), ...r];
  if (all.length !== 8) return new Uint8Array(0);
  const out = new Uint8Array(16);
  all.forEach((g, i) => { const n = parseInt(g, 16); out[i * 2] = n >> 8; out[i * 2 + 1] = n & 0xff; });
  if (tail4.length === 4) out.set(tail4, 12);
  return out;
}
