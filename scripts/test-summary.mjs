// Prints the closing line CI reads: "N passed, N failed" from vitest's JSON report(s).
//   node scripts/test-summary.mjs report.json
//   node scripts/test-summary.mjs "node 22.23.5=a.json" "node 24.22.3=b.json" ...
// With labels, one "<label>: N passed, N failed, N skipped" line per report
// first; the overall line (the sum) is always last. A missing report (the run
// was cut off before vitest wrote it) counts as one failure.
import { readFileSync, existsSync } from 'node:fs';

function counts(file) {
  if (!existsSync(file)) return { passed: 0, failed: 1, skipped: 0 };
  const r = JSON.parse(readFileSync(file, 'utf8'));
  const failed = r.numFailedTests + (r.numRuntimeErrorTestSuites ?? 0) +
    r.testResults.filter((t) => t.status === 'failed' && t.assertionResults.length === 0).length;
  return { passed: r.numPassedTests, failed, skipped: r.numPendingTests + r.numTodoTests };
}

const args = process.argv.slice(2);
if (args.length === 0) {
  console.log('0 passed, 1 failed');
  process.exit(1);
}
const total = { passed: 0, failed: 0, skipped: 0 };
for (const arg of args) {
  const eq = arg.indexOf('=');
  const c = counts(eq < 0 ? arg : arg.slice(eq + 1));
  if (eq >= 0) console.log(`${arg.slice(0, eq)}: ${c.passed} passed, ${c.failed} failed, ${c.skipped} skipped`);
  for (const k of Object.keys(total)) total[k] += c[k];
}
console.log(`${total.passed} passed, ${total.failed} failed` + (total.skipped ? `, ${total.skipped} skipped` : ''));
process.exit(total.failed > 0 ? 1 : 0);
