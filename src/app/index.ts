// wasmsocket/app: uWebSockets.js's API on Node's raw TCP handles (net.Server
// where they are missing); README "Coming from uWebSockets.js" says what works,
// what differs and what is left out.
import { TemplatedApp, type AppOptions } from './app.js';
import { nodePlatform } from './node-platform.js';
import { tlsPlatform, type SSLAppOptions } from './node-tls.js';

// Everything but App() is the same in every runtime.
export * from './exports.js';
import * as shared from './exports.js';

/** A plain-TCP App (TLS is expected to end in front of it). */
export function App(options?: AppOptions): TemplatedApp {
  return new TemplatedApp(nodePlatform, options);
}

/** An App on Node's tls (key_file_name, cert_file_name, passphrase as uWS.js names them); throws on unreadable files or a bad key. */
export function SSLApp(options: SSLAppOptions): TemplatedApp {
  return new TemplatedApp(tlsPlatform(options), options);
}

export type { SSLAppOptions };

/**
 * `import uWS from 'wasmsocket/app'`, as uWS.js's ESM examples write it (its
 * package is CommonJS, so Node hands ESM the whole exports object as default).
 */
const uWS = { ...shared, App, SSLApp };
export default uWS;
