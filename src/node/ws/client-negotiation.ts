// The client's check of what the server chose (subprotocol, extensions), the
// same for an HTTP/1.1 101 and an HTTP/2 200 (RFC 8441 §5 keeps the headers).
import type { IncomingHttpHeaders } from 'node:http';
import { parseExtensions, formatExtensions } from '../../codec/extension.js';
import { PerMessageDeflate } from '../deflate/permessage-deflate.js';

export interface Negotiated { protocol: string; extensions: string; pmd: PerMessageDeflate | null }

/** What the server's response settles, or the reason to fail the connection. */
export function negotiateResponse(headers: IncomingHttpHeaders, protocols: Set<string>, offered: PerMessageDeflate | null): Negotiated | string {
  let protocol = '';
  const serverProtocol = headers['sec-websocket-protocol'];
  if (serverProtocol !== undefined) {
    if (!protocols.size) return 'Server sent a subprotocol but none was requested';
    if (!protocols.has(serverProtocol)) return 'Server sent an invalid subprotocol';
    protocol = serverProtocol;
  } else if (protocols.size) {
    return 'Server sent no subprotocol';
  }
  const extHeader = headers['sec-websocket-extensions'];
  if (extHeader === undefined) {
    offered?.cleanup();
    return { protocol, extensions: '', pmd: null };
  }
  if (!offered) return 'Server sent a Sec-WebSocket-Extensions header but no extension was requested';
  try {
    const exts = parseExtensions(extHeader);
    const names = Object.keys(exts);
    if (names.length !== 1 || names[0] !== PerMessageDeflate.extensionName) return 'Server indicated an extension that was not requested';
    offered.accept(exts[PerMessageDeflate.extensionName]);
    return { protocol, extensions: formatExtensions({ [PerMessageDeflate.extensionName]: [offered.params!] }), pmd: offered };
  } catch {
    return 'Invalid Sec-WebSocket-Extensions header';
  }
}
