// Real-world Compose files (fixtures/*.yml, each noting its source) against golden outputs of
// `shoal stack config`: the rendered StackSpec plus warnings, or the error. UPDATE_GOLDEN=1
// rewrites the expectations; review the diff before committing it.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadStackTexts } from '../../../cli/stack/load.js';
import { readStackText } from '../../../cli/stack/source.js';
import { defaultLimits } from '../../../cli/stack/limits.js';
import { StackFileError } from '../../../cli/stack/errors.js';
import { renderStack, renderWarning } from '../../../cli/stack/render.js';
import { leftOutReason } from '../../../cli/stack/profiles.js';

const here = dirname(fileURLToPath(import.meta.url));
const fixtures = join(here, 'fixtures');
const golden = join(fixtures, 'golden');
const update = process.env.UPDATE_GOLDEN === '1';

/** The variables the fixtures' authors expect their users to set. */
export const fixtureEnv = { DOMAIN: 'example.org', ADMIN_USER: 'admin', HASHED_PASSWORD: '$apr1$abc$def', HOME: '/home/user' };

export function configOutput(files: string[]): string {
  const texts = files.map((f) => ({ file: f, text: readStackText(join(fixtures, f), defaultLimits) }));
  try {
    const { stack, warnings, leftOut } = loadStackTexts({ texts, env: fixtureEnv, workingDir: '/stack' });
    const skipped = leftOut.map((l) => `left out: service ${l.service} (${leftOutReason(l)})\n`).join('');
    return `# stderr\n${warnings.map((w) => `${renderWarning(w)}\n`).join('')}${skipped}# stdout\n${renderStack(stack)}`;
  } catch (err) {
    if (!(err instanceof StackFileError)) throw err;
    return `# error\n${err.message}\n`;
  }
}

const cases: [string, string[]][] = readdirSync(fixtures)
  .filter((f) => f.endsWith('.yml') && !f.includes('.override'))
  .sort()
  .map((f) => [f.replace(/\.yml$/, ''), [f]]);
// Multi-file cases: base then override, merged in order.
for (const f of readdirSync(fixtures).filter((x) => x.includes('.override.')).sort()) {
  cases.push([f.replace(/\.yml$/, ''), [f.replace(/\.override(\.\w+)?\.yml$/, '.yml'), f]]);
}

describe('stack config over real-world files', () => {
  it('has at least ten real-world fixtures, each naming its source', () => {
    const real = readdirSync(fixtures).filter((f) => f.endsWith('.yml') && !f.includes('.override'));
    expect(real.length).toBeGreaterThanOrEqual(10);
    for (const f of real) expect(readFileSync(join(fixtures, f), 'utf8')).toMatch(/^# Source: github\.com\/[\w.-]+\/[\w.-]+ \S+ @ [0-9a-f]{40}/);
  });

  it.each(cases)('%s', (name, files) => {
    const out = configOutput(files);
    const path = join(golden, `${name}.txt`);
    if (update || !existsSync(path)) {
      mkdirSync(golden, { recursive: true });
      writeFileSync(path, out);
      if (!update) throw new Error(`wrote missing golden ${path}: review it and run again`);
    }
    expect(out).toBe(readFileSync(path, 'utf8'));
  });
});
