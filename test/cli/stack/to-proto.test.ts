// Golden tests of the Compose -> proto ServiceSpec conversion over the real-world fixtures: each
// fixture that loads becomes fixtures/golden-proto/NAME.json (the proto JSON form of every
// service, deployed as stack "demo"). UPDATE_GOLDEN=1 rewrites; review the diff before committing.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ServiceSpec } from '../../../proto/gen/types.js';
import { loadStackTexts } from '../../../cli/stack/load.js';
import { readStackText } from '../../../cli/stack/source.js';
import { defaultLimits } from '../../../cli/stack/limits.js';
import { StackFileError } from '../../../cli/stack/errors.js';
import { serviceToProto, stackToProto, STACK_NAMESPACE_LABEL } from '../../../cli/stack/to-proto.js';
import { canonicalSpecJson, planServiceSpecs } from '../../../cli/stack/deploy-plan.js';
import { validateServiceSpec } from '../../../manager/controlapi/index.js';
import { load } from './helpers.js';

const here = dirname(fileURLToPath(import.meta.url));
const fixtures = join(here, 'fixtures');
const golden = join(fixtures, 'golden-proto');
const update = process.env.UPDATE_GOLDEN === '1';
const env = { DOMAIN: 'example.org', ADMIN_USER: 'admin', HASHED_PASSWORD: '$apr1$abc$def', HOME: '/home/user' };

const cases: [string, string[]][] = readdirSync(fixtures)
  .filter((f) => f.endsWith('.yml') && !f.includes('.override'))
  .sort()
  .map((f) => [f.replace(/\.yml$/, ''), [f]]);
for (const f of readdirSync(fixtures).filter((x) => x.includes('.override.')).sort()) {
  cases.push([f.replace(/\.yml$/, ''), [f.replace(/\.override(\.\w+)?\.yml$/, '.yml'), f]]);
}

function protoOutput(files: string[]): string | undefined {
  const texts = files.map((f) => ({ file: f, text: readStackText(join(fixtures, f), defaultLimits) }));
  try {
    const { stack } = loadStackTexts({ texts, env, workingDir: '/stack', stackName: 'demo' });
    const specs = stackToProto('demo', stack);
    return `${JSON.stringify(Object.fromEntries(Object.entries(specs).map(([k, s]) => [k, ServiceSpec.toJSON(s)])), null, 2)}\n`;
  } catch (err) {
    if (err instanceof StackFileError) return undefined; // fixtures.test.ts covers the error text
    throw err;
  }
}

describe('stack file -> proto ServiceSpec over real-world files', () => {
  it('converts most fixtures (they are real deployable stacks)', () => {
    expect(cases.filter(([, f]) => protoOutput(f) !== undefined).length).toBeGreaterThanOrEqual(10);
  });

  it('every converted service passes the control API\'s own validation and reads back unchanged', () => {
    for (const [name, files] of cases) {
      const texts = files.map((f) => ({ file: f, text: readStackText(join(fixtures, f), defaultLimits) }));
      let specs: Record<string, ServiceSpec>;
      try {
        specs = stackToProto('demo', loadStackTexts({ texts, env, workingDir: '/stack', stackName: 'demo' }).stack);
      } catch (err) {
        if (err instanceof StackFileError) continue;
        throw err;
      }
      for (const [key, spec] of Object.entries(specs)) expect(() => validateServiceSpec(spec), `${name}: ${key}`).not.toThrow();
      const readBack = Object.fromEntries(Object.entries(specs).map(([k, v]) => [k, ServiceSpec.decode(ServiceSpec.encode(v).finish())]));
      expect(planServiceSpecs(readBack, specs, { prune: true }).services.filter((p) => p.action !== 'unchanged'), name).toEqual([]);
    }
  });

  it.each(cases)('%s', (name, files) => {
    const out = protoOutput(files);
    if (out === undefined) return;
    const path = join(golden, `${name}.json`);
    if (update || !existsSync(path)) {
      mkdirSync(golden, { recursive: true });
      writeFileSync(path, out);
      if (!update) throw new Error(`wrote missing golden ${path}: review it and run again`);
    }
    expect(out).toBe(readFileSync(path, 'utf8'));
  });
});

describe('conversion rules (as docker stack deploy)', () => {
  const yaml = `services:
  web:
    image: nginx:1.25
    entrypoint: ["/docker-entrypoint.sh"]
    command: ["nginx", "-g", "daemon off;"]
    environment: { B: "2", A: "1" }
    labels: { tier: front }
    restart: on-failure:3
    volumes: [data:/data, /srv:/srv:ro, { type: tmpfs, target: /tmp, tmpfs: { size: 1m } }]
    secrets: [pw]
    networks: [back]
    deploy:
      labels: { owner: ops }
      update_config: { max_failure_ratio: 0.1 }
volumes: { data: {} }
networks: { back: {} }
secrets: { pw: { file: ./pw.txt } }
`;
  const spec = serviceToProto('shop', 'web', load(yaml).stack);
  const c = spec.task!.container!;

  it('maps entrypoint to command and command to args', () => {
    expect(c.command).toEqual(['/docker-entrypoint.sh']);
    expect(c.args).toEqual(['nginx', '-g', 'daemon off;']);
  });

  it('puts labels on the container, deploy.labels on the service, the namespace on both', () => {
    expect(spec.annotations!.name).toBe('shop_web');
    expect(spec.annotations!.labels).toEqual({ owner: 'ops', [STACK_NAMESPACE_LABEL]: 'shop', 'shoal.stack.image': 'nginx:1.25' });
    expect(c.labels.tier).toBe('front');
    expect(c.labels[STACK_NAMESPACE_LABEL]).toBe('shop');
    expect(c.labels.owner).toBeUndefined();
  });

  it('prefixes named volumes and networks with the stack, keeps binds and tmpfs', () => {
    expect(c.mounts.map((m) => [m.type, m.source, m.target])).toEqual([[1, 'shop_data', '/data'], [0, '/srv', '/srv'], [2, '', '/tmp']]);
    expect(c.mounts[0]!.volumeLabels[STACK_NAMESPACE_LABEL]).toBe('shop');
    expect(c.mounts[2]!.tmpfsSizeBytes).toBe(1048576n);
    expect(spec.task!.networks).toEqual([{ target: 'shop_back', aliases: ['web'] }]);
  });

  it('sorts env, uses restart: as the restart-policy fallback', () => {
    expect(c.env).toEqual(['A=1', 'B=2']);
    expect(spec.task!.restart).toMatchObject({ condition: 1, maxAttempts: 3 });
  });

  it('refers to secrets and configs by cluster name and resolved id (short syntax: target = source, 0444, root)', () => {
    expect(c.secrets).toEqual([{ secretId: '', secretName: 'shop_pw', file: { name: 'pw', uid: '0', gid: '0', mode: 0o444 } }]);
    const files = `services:
  web:
    image: nginx
    secrets: [{ source: pw, target: /etc/pw, uid: "1000", gid: "50", mode: 0400 }, api]
    configs: [site, { source: conf, target: /etc/nginx/nginx.conf, mode: 0440 }]
secrets: { pw: { file: ./pw }, api: { external: true, name: prod_api } }
configs: { site: { file: ./site, name: site_v2 }, conf: { environment: NGINX_CONF } }
`;
    const ids = { secrets: new Map([['shop_pw', 's1'], ['prod_api', 's2']]), configs: new Map([['site_v2', 'c1'], ['shop_conf', 'c2']]) };
    const got = serviceToProto('shop', 'web', load(files, { NGINX_CONF: 'x' }).stack, ids).task!.container!;
    expect(got.secrets).toEqual([
      { secretId: 's1', secretName: 'shop_pw', file: { name: '/etc/pw', uid: '1000', gid: '50', mode: 0o400 } },
      { secretId: 's2', secretName: 'prod_api', file: { name: 'api', uid: '0', gid: '0', mode: 0o444 } },
    ]);
    expect(got.configs).toEqual([
      { configId: 'c1', configName: 'site_v2', file: { name: '/site', uid: '0', gid: '0', mode: 0o444 } },
      { configId: 'c2', configName: 'shop_conf', file: { name: '/etc/nginx/nginx.conf', uid: '0', gid: '0', mode: 0o440 } },
    ]);
    expect(Object.keys(got.labels)).toEqual([STACK_NAMESPACE_LABEL]);
  });

  it('puts a service without networks on <stack>_default', () => {
    const s = serviceToProto('shop', 'web', load('services:\n  web:\n    image: nginx\n').stack);
    expect(s.task!.networks).toEqual([{ target: 'shop_default', aliases: ['web'] }]);
  });

  it('plans nothing for a spec that went over the wire and back (floats included)', () => {
    const back = ServiceSpec.decode(ServiceSpec.encode(spec).finish());
    expect(canonicalSpecJson(back)).toEqual(canonicalSpecJson(spec));
    expect(planServiceSpecs({ web: back }, { web: spec }, { prune: false }).empty).toBe(true);
    const edited = serviceToProto('shop', 'web', load(yaml.replace('A: "1"', 'A: "9"')).stack);
    const plan = planServiceSpecs({ web: back }, { web: edited }, { prune: false });
    expect(plan.services).toEqual([{ action: 'update', service: 'web', changes: [{ path: 'task.container.env', before: ['A=1', 'B=2'], after: ['A=9', 'B=2'] }] }]);
  });
});
