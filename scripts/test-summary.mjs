// Prints the closing line CI reads: "N passed, N failed" from vitest's JSON report(s).
//   node scripts/test-summary.mjs report.json
//   node scripts/test-summary.mjs "node 22.23.5=a.json" "node 24.22.3=b.json" ...
// With labels, one "<label>: N passed, N failed, N skipped" line per report
// first; the overall line (the sum) is always last. A missing report (the run
// was cut off before vitest wrote it) counts as one failure. Each failed test is
// named (file, title, the first lines of its message) just above the count lines,
// since CI keeps only the tail of the output; so is each that passed only on retry.
import { readFileSync, existsSync } from 'node:fs';
import { relative } from 'node:path';

function counts(file) {
  if (!existsSync(file)) return { passed: 0, failed: 1, skipped: 0 };
  const r = JSON.parse(readFileSync(file, 'utf8'));
  const failed = r.numFailedTests + (r.numRuntimeErrorTestSuites ?? 0) +
    r.testResults.filter((t) => t.status === 'failed' && t.assertionResults.length === 0).length;
  return { passed: r.numPassedTests, failed, skipped: r.numPendingTests + r.numTodoTests };
}

function failures(file) {
  if (!existsSync(file)) return [`${file}: no report (the run was cut off or never started)`];
  const r = JSON.parse(readFileSync(file, 'utf8'));
  const out = [];
  for (const t of r.testResults) {
    const name = relative(process.cwd(), t.name);
    if (t.status === 'failed' && t.assertionResults.length === 0) out.push(`${name}: ${firstLines(t.message)}`);
    for (const a of t.assertionResults) {
      if (a.status === 'failed') out.push(`${name} > ${a.fullName}: ${firstLines(a.failureMessages?.join('\n'))}`);
    }
  }
  return out;
}

// The first three non-empty lines, colour codes stripped.
function firstLines(text = '') {
  return text.replace(/\x1b\[[0-9;]*m/g, '').split('\n').map((l) => l.trim()).filter(Boolean).slice(0, 3).join(' | ');
}

const args = process.argv.slice(2);
if (args.length === 0) {
  console.log('0 passed, 1 failed');
  process.exit(1);
}
const total = { passed: 0, failed: 0, skipped: 0 };
for (const arg of args) {
  const eq = arg.indexOf('=');
  const file = eq < 0 ? arg : arg.slice(eq + 1), label = eq < 0 ? '' : arg.slice(0, eq) + ': ';
  // Tests that passed only on CI's retry (test/helpers/flaky-reporter.ts), then the failures.
  if (existsSync(`${file}.flaky.txt`)) {
    for (const l of readFileSync(`${file}.flaky.txt`, 'utf8').split('\n').filter(Boolean)) console.log(`FLAKY ${label}${l}`);
  }
  for (const f of failures(file)) console.log(`FAILED ${label}${f}`);
}
for (const arg of args) {
  const eq = arg.indexOf('=');
  const c = counts(eq < 0 ? arg : arg.slice(eq + 1));
  if (eq >= 0) console.log(`${arg.slice(0, eq)}: ${c.passed} passed, ${c.failed} failed, ${c.skipped} skipped`);
  for (const k of Object.keys(total)) total[k] += c[k];
}
console.log(`${total.passed} passed, ${total.failed} failed` + (total.skipped ? `, ${total.skipped} skipped` : ''));
process.exit(total.failed > 0 ? 1 : 0);
