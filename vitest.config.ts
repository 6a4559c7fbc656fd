import { defineConfig } from 'vitest/config';

// CI asks for a JSON report too (WASMSOCKET_JSON_REPORT) to print its summary line.
const json = process.env.WASMSOCKET_JSON_REPORT;

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    reporters: json ? ['default', ['json', { outputFile: json }]] : ['default'],
    projects: [
      { extends: true, test: { name: 'node', include: ['test/**/*.test.ts'] } },
      // The conformance suite once more with every WebSocket on an HTTP/2 stream (RFC 8441).
      { extends: true, test: { name: 'conformance-h2', include: ['test/conformance/*.test.ts'], env: { CONFORMANCE_TRANSPORT: 'h2' } } },
      // And with the server side on wasmsocket/app (uWebSockets.js's API): client cases skip.
      { extends: true, test: { name: 'conformance-app', include: ['test/conformance/*.test.ts'], env: { CONFORMANCE_TRANSPORT: 'app' } } },
    ],
  },
});
