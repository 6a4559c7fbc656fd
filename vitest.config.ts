import { defineConfig } from 'vitest/config';

// CI asks for a JSON report too (WASMSOCKET_JSON_REPORT) to print its summary line.
const json = process.env.WASMSOCKET_JSON_REPORT;

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    reporters: json ? ['default', ['json', { outputFile: json }]] : ['default'],
  },
});
