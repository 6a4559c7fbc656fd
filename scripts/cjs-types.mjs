// dist/index.d.cts: rollup's declaration bundler turns the CommonJS entry's
// `export = WebSocket` into `export { WebSocket as default }`; put the export
// assignment back, so `import WebSocket = require('wasmsocket')` is the class
// and its namespace, as with @types/ws. Run after tsup (npm run build does).
import { readFileSync, writeFileSync } from 'node:fs';

const file = new URL('../dist/index.d.cts', import.meta.url);
const text = readFileSync(file, 'utf8');
const fixed = text.replace(/^export \{ WebSocket as default \};$/m, 'export = WebSocket;');
if (!/^export = WebSocket;$/m.test(fixed)) throw new Error('dist/index.d.cts: the default export of WebSocket was not found');
if (/^export \{/m.test(fixed)) throw new Error('dist/index.d.cts: other exports beside `export =`');
writeFileSync(file, fixed);
