// wasmsocket/app in Bun (package.json condition "bun"): the same App on
// Bun.listen (src/app/bun-platform.ts). No Node imports.
import { TemplatedApp, type AppOptions } from '../app/app.js';
import { bunPlatform, bunTlsPlatform } from '../app/bun-platform.js';
import type { EdgeSSLAppOptions as SSLAppOptions } from '../app/edge-ssl.js';

export * from '../app/exports.js';
import * as shared from '../app/exports.js';

/** A plain-TCP App on Bun.listen (TLS is expected to end in front of it). */
export function App(options?: AppOptions): TemplatedApp {
  return new TemplatedApp(bunPlatform, options);
}

/** An App over TLS (Bun.listen's tls): key_file_name, cert_file_name, passphrase as uWS.js names them. */
export function SSLApp(options: SSLAppOptions): TemplatedApp {
  return new TemplatedApp(bunTlsPlatform(options), options);
}

export type { SSLAppOptions };

/**
 * `import uWS from 'wasmsocket/app'`, as uWS.js's ESM examples write it (as on
 * Node: src/app/index.ts).
 */
const uWS = { ...shared, App, SSLApp };
export default uWS;
