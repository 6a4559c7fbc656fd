// wasmsocket/app in Bun (package.json condition "bun"): the same App on
// Bun.listen (src/app/bun-platform.ts). No Node imports.
import { TemplatedApp, type AppOptions } from '../app/app.js';
import { bunPlatform } from '../app/bun-platform.js';

export * from '../app/exports.js';

/** A plain-TCP App on Bun.listen (TLS is expected to end in front of it). */
export function App(options?: AppOptions): TemplatedApp {
  return new TemplatedApp(bunPlatform, options);
}
