// Node only: SSLApp's platform, on Node's tls (the fallback path: TLS is
// usually terminated in front of the App). The certificate options as
// uWebSockets.js names them; connections are net.Server's Wire (node-net.ts)
// over TLS sockets, so reads and writes pay tls's copies and Node streams.
import { readFileSync } from 'node:fs';
import { createServer, type TlsOptions } from 'node:tls';
import type { AppOptions, Platform } from './app.js';
import { listenNet } from './node-net.js';
import { nodePlatform } from './node-platform.js';

/** uWS.js's AppOptions for SSLApp (file names in PEM), with the App's own. */
export interface SSLAppOptions extends AppOptions {
  key_file_name?: string;
  cert_file_name?: string;
  passphrase?: string;
  /** A CA bundle: clients must present a certificate signed by it (refused otherwise: there is no API to check one later). */
  ca_file_name?: string;
  /** OpenSSL cipher list (TLS 1.2 and below), as Node's `ciphers`. */
  ssl_ciphers?: string;
  dh_params_file_name?: string;
  /** uWS.js's choice of OpenSSL memory mode: nothing to choose on Node's tls (accepted, ignored). */
  ssl_prefer_low_memory_usage?: boolean;
}

/** Reads the files now, so a wrong path or passphrase throws at SSLApp() as uWS.js's does. */
export function tlsPlatform(options: SSLAppOptions): Platform {
  if (!options.key_file_name || !options.cert_file_name) throw new TypeError('SSLApp needs key_file_name and cert_file_name');
  const secure: TlsOptions = {
    key: readFileSync(options.key_file_name),
    cert: readFileSync(options.cert_file_name),
    passphrase: options.passphrase,
    // Only what the App reads: HTTP/1.1 (an ALPN-asking client is told so, not h2).
    ALPNProtocols: ['http/1.1'],
    noDelay: true,
    // A peer stalling its TLS handshake is dropped as one stalling its HTTP head
    // is (the App's httpIdleTimeout, 10 s), not after tls's default 120 s.
    handshakeTimeout: (options.httpIdleTimeout ?? 10) * 1000,
  };
  if (options.ca_file_name) { secure.ca = readFileSync(options.ca_file_name); secure.requestCert = true; secure.rejectUnauthorized = true; }
  if (options.ssl_ciphers) secure.ciphers = options.ssl_ciphers;
  if (options.dh_params_file_name) secure.dhparam = readFileSync(options.dh_params_file_name);
  // Key and certificate checked together now (a bad passphrase or a mismatched pair throws here).
  createServer(secure).close();
  return {
    listen: (req, cb) => listenNet(req, cb, (onSocket) => {
      const server = createServer(secure, onSocket);
      // A failed or timed-out handshake: a listener here must destroy the socket itself (tls only does without one).
      server.on('tlsClientError', (_err, socket) => { socket.destroy(); });
      return server;
    }),
    acceptKey: nodePlatform.acceptKey,
  };
}
