import { defineConfig } from 'vitest/config';
import FlakyReporter from './test/helpers/flaky-reporter.js';

// CI asks for a JSON report too (WASMSOCKET_JSON_REPORT) to print its summary line.
const json = process.env.WASMSOCKET_JSON_REPORT;
// Under CI a failed test runs once more: three Nodes x ~2,000 tests with real peers
// (Chromium, Deno, Bun, Redis) on two busy cores, and one red case lands nothing.
// Every test that needed the retry is named at the end (flaky-reporter.ts) and in the summary.
const retry = process.env.CI ? 1 : 0;

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    retry,
    reporters: json ? ['default', ['json', { outputFile: json }], new FlakyReporter(`${json}.flaky.txt`)] : ['default', new FlakyReporter()],
    projects: [
      { extends: true, test: { name: 'node', include: ['test/**/*.test.ts'] } },
      // The conformance suite once more with every WebSocket on an HTTP/2 stream (RFC 8441).
      { extends: true, test: { name: 'conformance-h2', include: ['test/conformance/*.test.ts'], env: { CONFORMANCE_TRANSPORT: 'h2' } } },
      // And with the server side on wasmsocket/app (uWebSockets.js's API): client cases skip.
      { extends: true, test: { name: 'conformance-app', include: ['test/conformance/*.test.ts'], env: { CONFORMANCE_TRANSPORT: 'app' } } },
    ],
  },
});
