// Property-based tests: whatever bytes, text or document arrives, the loader returns a stack or
// throws its own StackFileError; it never throws anything else, never hangs, and stays within
// bounded memory. Inputs are random and mutated real-world fixtures.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { parse, stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { loadStackTexts } from '../../../cli/stack/load.js';
import { decodeStackBytes } from '../../../cli/stack/source.js';
import { StackFileError } from '../../../cli/stack/errors.js';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');
const sources = readdirSync(fixtures).filter((f) => f.endsWith('.yml')).sort().map((f) => readFileSync(join(fixtures, f), 'utf8'));
const env = { DOMAIN: 'example.org', ADMIN_USER: 'a', HASHED_PASSWORD: 'h', N: '3' };
/** A hang detector, not a speed goal: the slowest legitimate case here takes well under a second. */
const HANG_MS = 10_000;

function outcome(texts: string[]): 'ok' | 'error' {
  const t0 = performance.now();
  try {
    loadStackTexts({ texts: texts.map((text, i) => ({ file: `f${i}.yml`, text })), env, workingDir: '/stack' });
    return 'ok';
  } catch (err) {
    if (!(err instanceof StackFileError)) throw err;
    expect(err.problems.length).toBeGreaterThan(0);
    for (const p of err.problems) expect(typeof p.message).toBe('string');
    return 'error';
  } finally {
    expect(performance.now() - t0).toBeLessThan(HANG_MS);
  }
}

const mutation = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), text: fc.constantFrom(':', '- ', '  ', '\t', '{', '[', ']', '}', '&a ', '*a', '<<: *a\n', '${', '$$', '"', "'", '\n', '#', '!!binary ', '---\n', 'x-', '0440', '-1', '1.5G', '10 parsecs', '~', 'null', '\u0000', '\ufeff') }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 20 }) }),
  fc.record({ kind: fc.constant('dupLine' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('indent' as const), at: fc.nat(), by: fc.integer({ min: -4, max: 4 }) }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never;

function mutate(src: string, muts: Mutation[]): string {
  let s = src;
  for (const m of muts) {
    const at = s.length === 0 ? 0 : m.at % s.length;
    if (m.kind === 'flip') {
      const b = Buffer.from(s, 'utf8');
      if (b.length > 0) b[m.at % b.length] = m.byte;
      s = b.toString('utf8');
    } else if (m.kind === 'insert') s = s.slice(0, at) + m.text + s.slice(at);
    else if (m.kind === 'delete') s = s.slice(0, at) + s.slice(at + m.len);
    else {
      const lines = s.split('\n');
      const i = m.at % Math.max(1, lines.length);
      if (m.kind === 'dupLine') lines.splice(i, 0, lines[i] ?? '');
      else lines[i] = m.by >= 0 ? ' '.repeat(m.by) + (lines[i] ?? '') : (lines[i] ?? '').replace(new RegExp(`^ {0,${-m.by}}`), '');
      s = lines.join('\n');
    }
  }
  return s;
}

describe('the loader under random input', () => {
  it('mutated real-world files: a stack or a StackFileError, nothing else', () => {
    fc.assert(fc.property(fc.constantFrom(...sources), fc.array(mutation, { minLength: 1, maxLength: 6 }), (src, muts) => {
      outcome([mutate(src, muts)]);
    }), { numRuns: 400 });
  });

  it('fixtures with keys, values and nesting mutated: a stack or a StackFileError', () => {
    const trees = sources.map((src) => parse(src, { merge: true, maxAliasCount: -1 }) as unknown);
    const newKey = fc.constantFrom('replica', 'servcies', 'x-k', 'image', 'deploy', 'ports', 'mode', 'target', '', '<<', 'toString', 'constructor', 'external', 'environment');
    const newValue = fc.oneof(
      fc.constantFrom(null, true, -1, 1.5, 0o440, '', '${X', '$$', '{{.Node.ID}}', '1.5G', '80:80/icmp', 'global', '/x:/y:ro', 'a=b'),
      fc.string({ maxLength: 8 }), fc.integer(), fc.array(fc.string({ maxLength: 4 }), { maxLength: 3 }),
      fc.dictionary(fc.constantFrom('a', 'image', 'replicas', 'x-y'), fc.constantFrom(1, 'v', null), { maxKeys: 2 }),
    );
    const edit = fc.record({
      at: fc.nat(), kind: fc.constantFrom('renameKey', 'setValue', 'wrapInList', 'wrapInMap', 'unwrap', 'deleteKey', 'copySubtree'),
      key: newKey, value: newValue,
    });
    type Edit = typeof edit extends fc.Arbitrary<infer T> ? T : never;

    const containers = (root: unknown): (Record<string, unknown> | unknown[])[] => {
      const out: (Record<string, unknown> | unknown[])[] = [];
      const walk = (v: unknown, depth: number) => {
        if (depth > 40 || v === null || typeof v !== 'object') return;
        out.push(v as Record<string, unknown> | unknown[]);
        for (const c of Object.values(v)) walk(c, depth + 1);
      };
      walk(root, 0);
      return out;
    };
    const apply = (root: unknown, e: Edit): void => {
      const all = containers(root);
      if (all.length === 0) return;
      const c = all[e.at % all.length]! as Record<string, unknown>;
      const keys = Object.keys(c);
      if (keys.length === 0) return;
      const k = keys[e.at % keys.length]!;
      switch (e.kind) {
        case 'renameKey': if (!Array.isArray(c)) { const v = c[k]; delete c[k]; Object.defineProperty(c, e.key, { value: v, enumerable: true, writable: true, configurable: true }); } break;
        case 'setValue': c[k] = e.value; break;
        case 'wrapInList': c[k] = [c[k]]; break;
        case 'wrapInMap': c[k] = { [e.key || 'k']: c[k] }; break;
        case 'unwrap': { const v = c[k]; if (v && typeof v === 'object') c[k] = Object.values(v)[0] ?? null; break; }
        case 'deleteKey': if (Array.isArray(c)) c.splice(Number(k), 1); else delete c[k]; break;
        case 'copySubtree': { const other = all[(e.at >> 3) % all.length]; c[k] = structuredClone(other); break; }
      }
    };
    const seen = { ok: 0, error: 0 };
    fc.assert(fc.property(fc.nat(trees.length - 1), fc.array(edit, { minLength: 1, maxLength: 5 }), (i, edits) => {
      const tree = structuredClone(trees[i]);
      for (const e of edits) apply(tree, e);
      let text: string;
      try {
        text = stringify(tree, { aliasDuplicateObjects: false });
      } catch {
        return; // the mutation made something YAML cannot write (a cycle); nothing to load
      }
      seen[outcome([text])]++;
    }), { numRuns: 400 });
    // Both paths must be exercised, or the property says little.
    expect(seen.ok).toBeGreaterThan(10);
    expect(seen.error).toBeGreaterThan(10);
  });

  it('random bytes through the decoder and the loader', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
      let text: string;
      try {
        text = decodeStackBytes('r.yml', bytes);
      } catch (err) {
        expect(err).toBeInstanceOf(StackFileError);
        return;
      }
      outcome([text]);
    }), { numRuns: 300 });
  });

  it('random YAML-looking text', () => {
    const token = fc.constantFrom('services:', '\n', '  ', 'web:', 'image: x', '- ', ': ', '{', '}', '[', ']', ',', '&a', '*a', '<<:', '"', "'", '${A', '}', '$$', '#', '---', '...', '|', '>', '!!str', '?', 'deploy:', 'replicas:', '3', 'ports:', '"80:80"', 'x-y:');
    fc.assert(fc.property(fc.array(token, { maxLength: 60 }), (tokens) => {
      outcome([tokens.join('')]);
    }), { numRuns: 400 });
  });

  it('random documents shaped like stacks, with values of every type in known places', () => {
    const scalar = fc.oneof(fc.string({ maxLength: 12 }), fc.integer(), fc.double(), fc.boolean(), fc.constant(null),
      fc.constantFrom('1.5G', '-1', '0440', '80:80', '3001-3005', '1m30s', '${N}', 'global', 'host', 'ro', '/data', './x:/y', 'a=b'));
    const value = fc.letrec((tie) => ({
      v: fc.oneof({ depthSize: 'small' }, scalar, fc.array(tie('v'), { maxLength: 3 }), fc.dictionary(fc.constantFrom(...keys), tie('v'), { maxKeys: 4 })),
    })).v;
    const service = fc.dictionary(fc.constantFrom(...keys), value, { maxKeys: 8 });
    const doc = fc.record({
      services: fc.dictionary(fc.constantFrom('web', 'db', 'x-ext', 'a b'), service, { maxKeys: 3 }),
      networks: fc.option(fc.dictionary(fc.constantFrom('front', 'back', 'default'), fc.oneof(fc.constant(null), fc.dictionary(fc.constantFrom('external', 'driver', 'name', 'attachable'), scalar))), { nil: undefined }),
      volumes: fc.option(fc.dictionary(fc.constantFrom('data', 'db-data'), fc.constant(null)), { nil: undefined }),
    }, { requiredKeys: ['services'] });
    fc.assert(fc.property(doc, fc.option(doc, { nil: undefined }), (base, override) => {
      const texts = [stringify(base)];
      if (override) texts.push(stringify(override));
      outcome(texts);
    }), { numRuns: 400 });
  });

  it('well-typed random services: accepted stacks keep their invariants, loading is deterministic', () => {
    // Mostly valid values, sometimes invalid ones, so both outcomes are common.
    const pick = (valid: unknown[], invalid: unknown[] = []) => (invalid.length === 0
      ? fc.constantFrom(...valid)
      : fc.oneof({ arbitrary: fc.constantFrom(...valid), weight: 6 }, { arbitrary: fc.constantFrom(...invalid), weight: 1 }));
    const service = fc.record({
      image: pick(['nginx', 'redis:7', 'r.io/a/b:${TAG:-1}'], ['']),
      command: fc.option(pick(['serve --port 80', ['a', 'b'], 'sh -c "echo $$HOME"'], ['bad "quote']), { nil: undefined }),
      environment: fc.option(fc.dictionary(fc.constantFrom('A', 'B', 'N'), fc.oneof(fc.string({ maxLength: 5 }), fc.integer(), fc.boolean(), fc.constant(null))), { nil: undefined }),
      ports: fc.option(fc.uniqueArray(pick(['80', '8080-8081:80-81', '53:53/udp', '1.2.3.4:81:81', 9000, '3000-3002', '7000:7000'], ['99999:80', 'x:y']), { maxLength: 3 }), { nil: undefined }),
      volumes: fc.option(fc.uniqueArray(pick(['data:/data', './a:/a:ro', '/b:/b:rw,z', '/t'], ['undeclared:/u', 'rel', 'a:b:c:d']), { maxLength: 3 }), { nil: undefined }),
      stop_grace_period: fc.option(pick(['10s', '1m30s', '0'], ['10 parsecs']), { nil: undefined }),
      healthcheck: fc.option(fc.record({ test: pick(['curl -f x', ['CMD', 'true']], [['NOPE']]), interval: pick(['5s'], ['x']) }, { requiredKeys: [] }), { nil: undefined }),
      deploy: fc.option(fc.record({
        mode: pick(['replicated', 'global', 'replicated-job', 'global-job']),
        replicas: fc.oneof(fc.integer({ min: 0, max: 5 }), pick(['${N}', '3'], ['three', -1])),
        resources: fc.record({ limits: fc.record({ memory: pick(['512M', '1.5G', 100], ['-1']), cpus: pick(['0.5', 2], ['abc']) }, { requiredKeys: [] }) }, { requiredKeys: [] }),
        update_config: fc.record({ parallelism: fc.integer({ min: 0, max: 3 }), order: pick(['start-first', 'stop-first'], ['sideways']) }, { requiredKeys: [] }),
      }, { requiredKeys: [] }), { nil: undefined }),
      networks: fc.option(fc.uniqueArray(pick(['front', 'back'], ['nope']), { maxLength: 2 }), { nil: undefined }),
    }, { requiredKeys: ['image'] });
    const doc = fc.record({
      services: fc.dictionary(fc.constantFrom('web', 'api', 'db'), service, { minKeys: 1, maxKeys: 2 }),
      networks: fc.constant({ front: null, back: { driver: 'overlay' } }),
      volumes: fc.constant({ data: null }),
    });
    let accepted = 0;
    fc.assert(fc.property(doc, (d) => {
      const text = stringify(d);
      if (outcome([text]) !== 'ok') return;
      accepted++;
      const load = () => loadStackTexts({ texts: [{ file: 'f.yml', text }], env, workingDir: '/stack' }).stack;
      const stack = load();
      expect(load()).toEqual(stack);
      for (const s of Object.values(stack.services)) {
        expect(s.image).not.toBe('');
        if (s.deploy.mode === 'replicated' || s.deploy.mode === 'replicated-job') expect(Number.isInteger(s.deploy.replicas)).toBe(true);
        else expect(s.deploy.replicas).toBeUndefined();
        for (const p of s.ports) {
          expect(p.target).toBeGreaterThanOrEqual(1);
          expect(p.target).toBeLessThanOrEqual(65535);
        }
        for (const m of s.mounts) expect(m.target.startsWith('/')).toBe(true);
        for (const n of Object.keys(s.networks)) expect(n === 'default' || n in stack.networks).toBe(true);
      }
    }), { numRuns: 300 });
    // The generator must reach the normaliser's success path, not only its errors.
    expect(accepted).toBeGreaterThan(5);
  });

  it('alias bombs of any shape fail fast in bounded memory', () => {
    fc.assert(fc.property(fc.integer({ min: 2, max: 12 }), fc.integer({ min: 2, max: 12 }), fc.boolean(), (width, depth, viaMerge) => {
      const lines = [`x-l0: &l0 [${Array(width).fill('"lol"').join(', ')}]`];
      for (let i = 1; i <= depth; i++) {
        lines.push(viaMerge
          ? `x-l${i}: &l${i} {${Array.from({ length: width }, (_, k) => `k${k}: *l${i - 1}`).join(', ')}}`
          : `x-l${i}: &l${i} [${Array(width).fill(`*l${i - 1}`).join(', ')}]`);
      }
      const text = `${lines.join('\n')}\nservices:\n  web:\n    image: x\n    labels: {a: "1"}\n    x-bomb: *l${depth}\n    command: *l${Math.min(depth, 1)}\n`;
      const before = process.memoryUsage().heapUsed;
      const r = outcome([text]);
      expect(process.memoryUsage().heapUsed - before).toBeLessThan(768 * 1024 * 1024);
      if (width ** depth > 1_000_000) expect(r).toBe('error');
    }), { numRuns: 30 });
  });
});

const keys = [
  'image', 'command', 'entrypoint', 'environment', 'env_file', 'labels', 'deploy', 'user', 'working_dir', 'hostname',
  'read_only', 'init', 'stop_signal', 'stop_grace_period', 'healthcheck', 'volumes', 'tmpfs', 'cap_add', 'sysctls',
  'ulimits', 'secrets', 'configs', 'ports', 'networks', 'mode', 'replicas', 'placement', 'resources', 'limits',
  'memory', 'cpus', 'restart_policy', 'update_config', 'condition', 'delay', 'target', 'published', 'protocol',
  'source', 'type', 'test', 'disable', 'interval', 'retries', 'constraints', 'build', 'restart', 'depends_on', 'x-a',
  'external', 'soft', 'hard', 'uid', 'mode', 'nocopy', 'aliases', 'order', 'parallelism', 'max_replicas_per_node',
];
