// wasmsocket/app in Deno (package.json condition "deno"): the same App on
// Deno.listen (src/app/deno-platform.ts). No Node imports.
import { TemplatedApp, type AppOptions } from '../app/app.js';
import { denoPlatform } from '../app/deno-platform.js';

export * from '../app/exports.js';

/** A plain-TCP App on Deno.listen (TLS is expected to end in front of it). */
export function App(options?: AppOptions): TemplatedApp {
  return new TemplatedApp(denoPlatform, options);
}
