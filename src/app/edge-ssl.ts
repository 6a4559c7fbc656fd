// SSLApp's options in Deno and Bun: uWS.js's names for the PEM files, as on
// Node (node-tls.ts, which takes more: a CA, DH parameters). No Node imports.
import type { AppOptions } from './app.js';

export interface EdgeSSLAppOptions extends AppOptions {
  key_file_name?: string;
  cert_file_name?: string;
  /** Bun only: Deno.listenTls takes no passphrase (an encrypted key is refused at SSLApp()). */
  passphrase?: string;
}
