// The pure parts of a stack's objects: what the file asks for (names, labels, data read from
// files and the environment, only networks in use) and the secret digest that stands in for
// data the cluster never returns.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { desiredObjects, StackObjectError } from '../../../cli/stack/objects.js';
import { planObjects, renderObjectPlan } from '../../../cli/stack/object-plan.js';
import { Secret, Service } from '../../../proto/gen/types.js';
import { digestSecret, secretMatches } from '../../../cli/stack/secret-digest.js';
import { loadStackTexts } from '../../../cli/stack/load.js';

const dir = mkdtempSync(join(tmpdir(), 'shoalso-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const load = (text: string, env: Record<string, string> = {}) => loadStackTexts({ texts: [{ file: 'stack.yml', text }], env, workingDir: dir, stackName: 'st' }).stack;

describe('desiredObjects', () => {
  it('names, labels and data of created objects; external ones as they are; only networks in use', () => {
    writeFileSync(join(dir, 'pw'), 'pw-data');
    const spec = load(`services:
  a: { image: busybox, secrets: [pw, ext], networks: [front] }
  b: { image: busybox }
secrets:
  pw: { file: ./pw, labels: { k: v } }
  ext: { external: true, name: shared_pw }
configs:
  unused: { environment: CONF, name: conf_v1 }
networks:
  front: { driver: overlay, internal: true, driver_opts: { mtu: "1400" } }
  spare: {}
`, { CONF: 'c-data' });
    const d = desiredObjects('st', spec, { env: { CONF: 'c-data' } });
    expect(d.secrets.map((s) => [s.name, s.external, s.labels, s.data?.toString()])).toEqual([
      ['shared_pw', true, {}, undefined],
      ['st_pw', false, { k: 'v', 'shoal.stack.namespace': 'st' }, 'pw-data'],
    ]);
    expect(d.configs.map((c) => [c.name, c.data?.toString()])).toEqual([['conf_v1', 'c-data']]);
    expect(d.networks.map((n) => n.name)).toEqual(['st_default', 'st_front']);
    const front = d.networks[1]!.spec!;
    expect([front.internal, front.driverConfig, front.annotations!.labels]).toEqual([true, { name: 'overlay', options: { mtu: '1400' } }, { 'shoal.stack.namespace': 'st' }]);
  });

  it('lists every unreadable, empty or oversized source in one error', () => {
    writeFileSync(join(dir, 'empty'), '');
    writeFileSync(join(dir, 'big'), Buffer.alloc(500 * 1024 + 1));
    const spec = load(`services:\n  a: { image: busybox }\nsecrets:\n  gone: { file: ./gone }\n  empty: { file: ./empty }\n  big: { file: ./big }\n`);
    let err: unknown;
    try {
      desiredObjects('st', spec, { env: {} });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(StackObjectError);
    const problems = (err as StackObjectError).problems;
    expect(problems).toHaveLength(3);
    expect(problems.join('\n')).toMatch(/secret big: .*big is 512001 bytes, more than the 512000/);
    expect(problems.join('\n')).toMatch(/secret empty: the content is empty/);
    expect(problems.join('\n')).toMatch(/secret gone: cannot read .*gone \(no such file\): fix `file:` under secrets\.gone/);
    expect((err as StackObjectError).userError).toBe(true);
  });
});

describe('secret digest', () => {
  it('matches the same data only, with a fresh salt each time, and says when it cannot tell', async () => {
    const a = await digestSecret(Buffer.from('hunter2'));
    const b = await digestSecret(Buffer.from('hunter2'));
    expect(a).not.toBe(b);
    expect(a).not.toContain('hunter2');
    expect(await secretMatches(a, Buffer.from('hunter2'))).toBe(true);
    expect(await secretMatches(b, Buffer.from('hunter3'))).toBe(false);
    expect(await secretMatches(undefined, Buffer.from('x'))).toBeUndefined();
    expect(await secretMatches('sha256:abc', Buffer.from('x'))).toBeUndefined();
    expect(await secretMatches('scrypt1:c2FsdA:c2hvcnQ', Buffer.from('x'))).toBeUndefined();
  });
});

describe('planObjects', () => {
  const NS = 'shoal.stack.namespace';
  const secretObj = (id: string, name: string, labels: Record<string, string>) => Secret.fromPartial({ id, meta: { version: 5n }, spec: { annotations: { name, labels }, data: Buffer.alloc(0) } });
  const none = () => ({ secret: [], config: [], network: [] });

  it('a stack secret without a digest is left alone and said so; one of another stack is a conflict', async () => {
    writeFileSync(join(dir, 'pw'), 'pw-data');
    const d = desiredObjects('st', load('services:\n  a: { image: busybox, secrets: [pw, other] }\nsecrets:\n  pw: { file: ./pw }\n  other: { file: ./pw, name: theirs }\n'), { env: {} });
    const cur = { owned: { ...none(), secret: [secretObj('s1', 'st_pw', { [NS]: 'st' })] }, named: { ...none(), secret: [secretObj('s1', 'st_pw', { [NS]: 'st' }), secretObj('s2', 'theirs', { [NS]: 'other' })] }, otherServices: [] };
    const { plan, problems } = await planObjects('st', d, cur, { prune: false });
    expect(plan.entries.find((e) => e.name === 'st_pw')).toMatchObject({ action: 'unchanged', id: 's1', note: expect.stringMatching(/without a digest label/) });
    expect(problems).toEqual([expect.stringMatching(/^secret "theirs" already exists outside stack st/)]);
  });

  it('--prune keeps an object that left the file while a service outside the stack uses it', async () => {
    const d = desiredObjects('st', load('services:\n  a: { image: busybox }\n'), { env: {} });
    const old = [secretObj('s1', 'st_old', { [NS]: 'st' }), secretObj('s2', 'st_gone', { [NS]: 'st' })];
    const user = Service.fromPartial({ id: 'x', spec: { annotations: { name: 'elsewhere' }, task: { container: { secrets: [{ secretId: 's1', secretName: 'st_old' }] } } } });
    const { plan } = await planObjects('st', d, { owned: { ...none(), secret: old }, named: none(), otherServices: [user] }, { prune: true });
    expect(plan.entries.filter((e) => e.kind === 'secret').map((e) => [e.name, e.action, e.note])).toEqual([
      ['st_gone', 'remove', undefined],
      ['st_old', 'keep', 'not in the stack file, but still used by service elsewhere'],
    ]);
    expect(renderObjectPlan(plan)).toContain('remove  secret st_gone\n');
  });
});
