// Node 20 defines the globals Buffer and process as getters, so code that reads
// them pays a getter call on every use (src/node/transport/sender.ts says what it cost the
// 1 KiB echo). The Node-side sources import both from their modules instead;
// this keeps a new use of the globals from slipping back in.
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

const ROOT = new URL('../src', import.meta.url).pathname;
const DIRS = ['node', 'redis'];

function sourceFiles(): string[] {
  return DIRS.flatMap((d) => (readdirSync(path.join(ROOT, d), { recursive: true }) as string[]).filter((f) => f.endsWith('.ts')).map((f) => path.join(d, f)));
}

// The code without comments and string contents, so a word in either does not count as a use.
function codeOf(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '').replace(/'(?:[^'\\\n]|\\.)*'|`(?:[^`\\]|\\.)*`/g, "''");
}

describe('Node-side sources read Buffer and process from their modules', () => {
  it('every file that uses Buffer or process imports it', () => {
    const missing: string[] = [];
    for (const file of sourceFiles()) {
      const text = readFileSync(path.join(ROOT, file), 'utf8');
      const code = codeOf(text);
      if (/(?<![\w.])Buffer\s*[.(]|instanceof Buffer\b/.test(code) && !/import \{[^}]*\bBuffer\b[^}]*\} from 'node:buffer'/.test(text)) {
        missing.push(`${file}: Buffer`);
      }
      if (/(?<![\w.])process\./.test(code) && !/import process from 'node:process'/.test(text)) missing.push(`${file}: process`);
    }
    expect(missing).toEqual([]);
  });

  it('the check sees a use of the global', () => {
    expect(/(?<![\w.])Buffer\s*[.(]/.test(codeOf("const b = Buffer.alloc(1); // Buffer.from"))).toBe(true);
    expect(/(?<![\w.])process\./.test(codeOf("// process.nextTick\nconst s = 'process.env';"))).toBe(false);
  });
});
