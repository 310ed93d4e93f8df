// Property: whatever mutated real-world stack the loader accepts converts without throwing,
// passes the control API's own validation (an accepted file is never refused by the cluster
// halfway through a deploy), and reads back over the wire as "unchanged".
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ServiceSpec } from '../../../proto/gen/types.js';
import { loadStackTexts } from '../../../cli/stack/load.js';
import { StackFileError } from '../../../cli/stack/errors.js';
import type { StackSpec } from '../../../cli/stack/model.js';
import { stackToProto } from '../../../cli/stack/to-proto.js';
import { planServiceSpecs } from '../../../cli/stack/deploy-plan.js';
import { validateServiceSpec } from '../../../manager/controlapi/index.js';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');
const sources = readdirSync(fixtures).filter((f) => f.endsWith('.yml') && !f.includes('.override')).sort().map((f) => readFileSync(join(fixtures, f), 'utf8'));
const env = { DOMAIN: 'example.org', ADMIN_USER: 'a', HASHED_PASSWORD: 'h' };

// Value-level edits that keep the YAML well formed, so most mutants still load.
const edits = fc.record({
  line: fc.nat(),
  value: fc.constantFrom('0', '1', '-1', '0.5', '"1.5G"', '"1m30s"', '0440', 'true', '"x y"', '""', '"node.role==manager"', '[]', '{}', '"a=b"', '"/abs"', '"rel/path"', '"SIGKILL"', '"start-first"', '65535',
    '"node.labels.zone!=a"', '"engine.labels.x==y"', '"node.platform.os==linux"', '"node.hostname==h1"', '"node.id==abc"', '"node.role==worker"', '"foo==bar"', '"node.labels.a==b==c"',
    '"spread=node.labels.zone"', '"80:80"', '"8080:80/udp"', '"data:/data:ro"', '"/h:/c"', '"SYS_ADMIN"', '"nofile=1024:2048"'),
});

function mutate(src: string, muts: { line: number; value: string }[]): string {
  const lines = src.split('\n');
  for (const m of muts) {
    const i = m.line % lines.length;
    lines[i] = /^\s*(?:- )?[\w.-]+:\s+\S/.test(lines[i]!)
      ? lines[i]!.replace(/^(\s*(?:- )?[\w.-]+:)\s+\S.*$/, `$1 ${m.value}`)
      : lines[i]!.replace(/^(\s*- )\S.*$/, `$1${m.value}`);
  }
  return lines.join('\n');
}

function loaded(text: string): StackSpec | undefined {
  try {
    return loadStackTexts({ texts: [{ file: 'f.yml', text }], env, workingDir: '/stack', stackName: 'st' }).stack;
  } catch (err) {
    if (err instanceof StackFileError) return undefined;
    throw err;
  }
}

describe('conversion of any stack the loader accepts', () => {
  it('is accepted by the control API and stable over the wire', () => {
    let accepted = 0;
    fc.assert(
      fc.property(fc.integer({ min: 0, max: sources.length - 1 }), fc.array(edits, { minLength: 1, maxLength: 4 }), (which, muts) => {
        const stack = loaded(mutate(sources[which]!, muts));
        if (!stack) return;
        accepted++;
        const specs = stackToProto('st', stack);
        for (const [key, spec] of Object.entries(specs)) {
          try {
            validateServiceSpec(spec);
          } catch (err) {
            throw new Error(`service ${key}: the loader accepted what the cluster refuses: ${(err as Error).message}`);
          }
        }
        const back = Object.fromEntries(Object.entries(specs).map(([k, v]) => [k, ServiceSpec.decode(ServiceSpec.encode(v).finish())]));
        expect(planServiceSpecs(back, specs, { prune: false }).empty).toBe(true);
      }),
      { numRuns: 600, seed: Number(process.env.FC_SEED ?? 5) },
    );
    expect(accepted).toBeGreaterThan(50);
  });
});
