// wasmsocket/app in Deno (package.json condition "deno"): the same App on
// Deno.listen (src/app/deno-platform.ts). No Node imports.
import { TemplatedApp, type AppOptions } from '../app/app.js';
import { denoPlatform, denoTlsPlatform } from '../app/deno-platform.js';
import type { EdgeSSLAppOptions as SSLAppOptions } from '../app/edge-ssl.js';

export * from '../app/exports.js';
import * as shared from '../app/exports.js';

/** A plain-TCP App on Deno.listen (TLS is expected to end in front of it). */
export function App(options?: AppOptions): TemplatedApp {
  return new TemplatedApp(denoPlatform, options);
}

/** An App over TLS (Deno.listenTls): key_file_name, cert_file_name as uWS.js names them. */
export function SSLApp(options: SSLAppOptions): TemplatedApp {
  return new TemplatedApp(denoTlsPlatform(options), options);
}

export type { SSLAppOptions };

/**
 * `import uWS from 'wasmsocket/app'`, as uWS.js's ESM examples write it (as on
 * Node: src/app/index.ts).
 */
const uWS = { ...shared, App, SSLApp };
export default uWS;
