// Names every test that failed and then passed on CI's retry (vitest.config.ts:
// retry 1 under CI), so a flaky test shows in the run's tail instead of hiding
// behind the retry: printed at the end of the run and written beside the JSON
// report (<report>.flaky.txt), which scripts/test-summary.mjs prints again.
import { writeFileSync } from 'node:fs';
import { relative } from 'node:path';
import type { Reporter, TestCase } from 'vitest/node';

export default class FlakyReporter implements Reporter {
  private readonly lines: string[] = [];
  constructor(private readonly outputFile?: string) {}

  onTestCaseResult(test: TestCase): void {
    const d = test.diagnostic();
    if (d?.flaky) {
      this.lines.push(`${relative(process.cwd(), test.module.moduleId)} > [${test.project.name}] ${test.fullName}: ` +
        `passed on retry ${d.retryCount}`);
    }
  }

  onTestRunEnd(): void {
    for (const l of this.lines) console.log(`FLAKY ${l}`);
    if (this.outputFile) writeFileSync(this.outputFile, this.lines.map((l) => l + '\n').join(''));
  }
}
