// Issue 13: where the loader gave a different result from `docker stack deploy` on real files.
// Each case is a file a user wrote, and the result or the one clear error it must get.
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDocument } from 'yaml';
import { parseImageReference } from '../../../rules/image-reference.js';
import { countEntryLines } from '../../../cli/stack/entry-count.js';
import { loadStackTexts } from '../../../cli/stack/load.js';
import { planServiceSpecs } from '../../../cli/stack/deploy-plan.js';
import { renderPlan } from '../../../cli/stack/plan.js';
import { stackToProto } from '../../../cli/stack/to-proto.js';
import { expectProblem, load, loadError, svc, workingDir } from './helpers.js';

const hex = (n: number) => 'a1'.repeat(n / 2);

describe('an unset variable in a bind mount source', () => {
  it('is refused naming the variable, not turned into an anonymous volume', () => {
    const err = loadError(svc('    volumes:\n      - ${MEDIA_PATH}:/media/\n'));
    const p = expectProblem(err, { path: 'services.web.volumes[0]', line: 5, column: 9, message: /empty source between colons/ });
    expect(p.message).toMatch(/variable MEDIA_PATH is unset or empty/);
    expectProblem(loadError(svc('    volumes:\n      - ${MEDIA_PATH}:/media/\n'), { MEDIA_PATH: '' }), { message: /MEDIA_PATH is unset or empty/ });
    expect(load(svc('    volumes:\n      - ${MEDIA_PATH}:/media/\n'), { MEDIA_PATH: '/srv/media' }).stack.services.web!.mounts)
      .toEqual([{ type: 'bind', source: '/srv/media', target: '/media/', readOnly: false }]);
  });

  it('empty sections between colons are refused as Docker does, with or without variables', () => {
    expectProblem(loadError(svc('    volumes:\n      - ":/media"\n')), { message: /empty source between colons/ });
    expectProblem(loadError(svc('    volumes:\n      - "/srv::ro"\n')), { message: /empty target between colons/ });
    expectProblem(loadError(svc('    volumes:\n      - "/srv:/x:"\n')), { message: /empty mode between colons/ });
  });

  it('long syntax: a source that interpolated to nothing is refused, naming the variable', () => {
    const err = loadError(svc('    volumes:\n      - {type: volume, source: "${DATA}", target: /data}\n', 'volumes:\n  data: {}\n'));
    expectProblem(err, { path: 'services.web.volumes[0]', message: /`source:` is empty.*variable DATA is unset or empty/ });
    // written empty on purpose: an anonymous volume, as in Docker
    expect(load(svc('    volumes:\n      - {type: volume, source: "", target: /data}\n')).stack.services.web!.mounts[0]).toMatchObject({ type: 'volume', target: '/data' });
  });
});

describe('image references are checked with the distribution grammar', () => {
  it.each([
    ['"nginx:"', /"nginx:": nothing follows ":"/],
    ['NGINX', /"NGINX" must be lowercase/],
    ['nginx@sha256:abc', /a sha256 digest has 64 hex digits, this one 3/],
    [`nginx@md5:${hex(32)}`, /unsupported digest algorithm "md5"/],
    [`nginx@sha256:${hex(64).toUpperCase()}`, /lowercase hex/],
    ['"nginx@"', /nothing follows "@"/],
    ['"-bad:1"', /must be lowercase letters and digits/],
    ['"my..app"', /must be lowercase letters and digits/],
    [`r.io/${'a'.repeat(260)}`, /longer than 255/],
  ])('image: %s is refused at its line', (image, message) => {
    expectProblem(loadError(`services:\n  web:\n    image: ${image}\n`), { path: 'services.web.image', line: 3, column: 12, message });
  });

  it('repo/app:${VERSION} with VERSION empty or unset is refused, naming VERSION', () => {
    for (const env of [{ VERSION: '' }, {}]) {
      expectProblem(loadError('services:\n  web:\n    image: repo/app:${VERSION}\n', env), { path: 'services.web.image', message: /"repo\/app:".*variable VERSION is unset or empty/ });
    }
    expectProblem(loadError('services:\n  web:\n    image: ${IMAGE}\n'), { path: 'services.web', message: /no image.*variable IMAGE is unset or empty/ });
  });

  it.each([
    'nginx', 'nginx:1.25-alpine', 'library/nginx', 'docker.io/library/nginx:1', 'localhost:5000/team/app:v2',
    `nginx@sha256:${hex(64)}`, `nginx:1.25@sha256:${hex(64)}`, `app@sha384:${hex(96)}`, `app@sha512:${hex(128)}`,
    '[::1]:5000/app:1', 'Registry.Example.com/a__b/c-d.e:TAG_1', 'a--b/c', `sha256:${hex(64)}`,
  ])('image: %s loads', (image) => {
    expect(load(`services:\n  web:\n    image: "${image}"\n`).stack.services.web!.image).toBe(image);
  });

  it('the shared grammar keeps its parts (used by the control API and the image store too)', () => {
    expect(parseImageReference('docker.io/library/redis:7')).toEqual({ ok: true, value: { repository: 'redis', tag: '7', digest: undefined } });
    expect(parseImageReference(`[::1]:5000/app@sha512:${hex(128)}`)).toEqual({ ok: true, value: { repository: '[::1]:5000/app', tag: undefined, digest: `sha512:${hex(128)}` } });
  });
});

describe('profiles: a service that lists profiles runs only when one of them is active', () => {
  const text = 'services:\n  web:\n    image: nginx\n  debug:\n    image: busybox\n    profiles: [debug, tools]\n  seed:\n    build: ./seed\n    profiles: ["seed"]\n';
  const loadWith = (profiles?: string[], env: Record<string, string> = {}) =>
    loadStackTexts({ texts: [{ file: 'stack.yml', text }], env, workingDir, ...(profiles ? { profiles } : {}) });

  it('without an active profile, profiled services are left out (and not checked: seed has no image)', () => {
    const r = loadWith();
    expect(Object.keys(r.stack.services)).toEqual(['web']);
    expect(r.leftOut).toEqual([{ service: 'debug', profiles: ['debug', 'tools'] }, { service: 'seed', profiles: ['seed'] }]);
    expect(r.warnings.map((w) => w.message).join('\n')).not.toMatch(/profiles/);
  });

  it('--profile NAME (any of a service\'s profiles) adds them; COMPOSE_PROFILES when no flag is given', () => {
    expect(Object.keys(loadWith(['tools']).stack.services)).toEqual(['web', 'debug']);
    const fromEnv = loadWith(undefined, { COMPOSE_PROFILES: 'tools' });
    expect(Object.keys(fromEnv.stack.services)).toEqual(['web', 'debug']);
    expect(fromEnv.leftOut.map((l) => l.service)).toEqual(['seed']);
    // the flag wins over the environment, as in Compose
    expect(Object.keys(loadWith(['debug'], { COMPOSE_PROFILES: 'seed' }).stack.services)).toEqual(['web', 'debug']);
    // "*" activates all: seed is then checked like any service, and has no image
    expect(() => loadWith(['*'])).toThrow(/services\.seed: no image/);
  });

  it('an active profile that no service lists is warned; every service left out is an error', () => {
    expect(loadWith(['degub']).warnings).toContainEqual(expect.objectContaining({ message: expect.stringMatching(/profile degub .*no service lists it/) }));
    const err = loadError('services:\n  a:\n    image: x\n    profiles: [one]\n');
    expectProblem(err, { path: 'services', message: /every service is left out by its profiles: activate one with --profile one/ });
    expectProblem(loadError('services:\n  web:\n    image: x\n    profiles: ["-x"]\n', { COMPOSE_PROFILES: '-x' }), { path: 'services.web.profiles[0]', message: /invalid profile name/ });
  });

  it('the plan says which services are left out, and never removes them (even with --prune)', () => {
    const r = loadWith();
    const running = stackToProto('shop', loadWith(['debug']).stack);
    const plan = planServiceSpecs(running, stackToProto('shop', r.stack), { prune: true, leftOut: r.leftOut });
    expect(plan.services).toEqual([
      { action: 'left-out', service: 'debug', profiles: ['debug', 'tools'] },
      { action: 'left-out', service: 'seed', profiles: ['seed'] },
      { action: 'unchanged', service: 'web' },
    ]);
    expect(plan.empty).toBe(true);
    expect(renderPlan(plan, 'shop')).toBe([
      'skip    shop_debug (profiles debug, tools not active: --profile debug deploys it)',
      'skip    shop_seed (profile seed not active: --profile seed deploys it)',
      'same    shop_web',
      'nothing to change',
      '',
    ].join('\n'));
  });
});

describe('extra_hosts', () => {
  it('two lines for one name (IPv4 and IPv6) are both kept, in order, as /etc/hosts allows', () => {
    const text = svc('    extra_hosts:\n      - "db:10.0.0.5"\n      - "db:::1"\n      - "cache=[fd00::7]"\n      - "db:10.0.0.5"\n');
    const web = load(text).stack.services.web!;
    expect(web.extraHosts).toEqual({ db: ['10.0.0.5', '::1'], cache: ['fd00::7'] });
    expect(stackToProto('shop', load(text).stack).web!.task!.container!.hosts).toEqual(['10.0.0.5 db', '::1 db', 'fd00::7 cache']);
  });

  it('the mapping form takes one address or a list; a later file replaces a name\'s addresses', () => {
    expect(load(svc('    extra_hosts: {db: [10.0.0.5, "::1"], gw: 10.0.0.1}\n')).stack.services.web!.extraHosts).toEqual({ db: ['10.0.0.5', '::1'], gw: ['10.0.0.1'] });
    const merged = loadStackTexts({
      texts: [
        { file: 'a.yml', text: svc('    extra_hosts: ["db:10.0.0.5", "db:::1", "gw:10.0.0.1"]\n') },
        { file: 'b.yml', text: 'services:\n  web:\n    extra_hosts: ["db:10.0.0.9"]\n' },
      ], env: {}, workingDir,
    });
    expect(merged.stack.services.web!.extraHosts).toEqual({ db: ['10.0.0.9'], gw: ['10.0.0.1'] });
  });

  it('an address that is not an IP, or a line without one, is refused at its line', () => {
    expectProblem(loadError(svc('    extra_hosts:\n      - "db:10.0.0"\n')), { path: 'services.web.extra_hosts[0]', line: 5, message: /"10\.0\.0" is not an IP address/ });
    expectProblem(loadError(svc('    extra_hosts: ["db"]\n')), { path: 'services.web.extra_hosts[0]', message: /needs a name and an address/ });
  });
});

describe('keys that were dropped silently are warned at their line, or carried', () => {
  const text = [
    'services:',
    '  web:',
    '    image: nginx',
    '    domainname: example.org',
    '    networks:',
    '      front:',
    '        ipv4_address: 10.5.0.9',
    '        driver_opts: {com.example.mtu: "1400"}',
    '    volumes:',
    '      - {type: bind, source: /srv, target: /srv, consistency: cached, bind: {create_host_path: true}}',
    '      - data:/data:delegated',
    '    ports:',
    '      - {target: 80, published: 8080, name: http, app_protocol: http}',
    'networks:',
    '  front:',
    '    ipam:',
    '      options: {foo: bar}',
    '      config:',
    '        - {subnet: 10.5.0.0/16, aux_addresses: {router: 10.5.0.2}}',
    'volumes:',
    '  data: {driver: nfs, driver_opts: {o: addr=10.0.0.1}}',
    'secrets:',
    '  s: {file: ./s, template_driver: golang}',
    '',
  ].join('\n');

  it('each one names its path and why', () => {
    const { warnings } = load(text);
    const got = warnings.map((w) => `${w.line} ${w.path}`);
    expect(got).toEqual(expect.arrayContaining([
      '4 services.web.domainname', '7 services.web.networks.front.ipv4_address', '8 services.web.networks.front.driver_opts',
      '10 services.web.volumes[0].bind.create_host_path', '13 services.web.ports[0].name', '13 services.web.ports[0].app_protocol',
      '17 networks.front.ipam.options', '19 networks.front.ipam.config[0].aux_addresses',
      '21 volumes.data.driver', '21 volumes.data.driver_opts', '23 secrets.s.template_driver',
    ]));
    const byPath = (p: string) => warnings.find((w) => w.path === p)!.message;
    expect(byPath('services.web.networks.front.driver_opts')).toMatch(/not carried yet/);
    expect(byPath('services.web.networks.front.ipv4_address')).toMatch(/static addresses are not sent/);
    expect(byPath('networks.front.ipam.config[0].aux_addresses')).toMatch(/does not reserve them/);
  });

  it('a mount\'s consistency (long key or short mode) is carried to the service, as Docker does', () => {
    const { stack } = load(text);
    expect(stack.services.web!.mounts.map((m) => ('consistency' in m ? m.consistency : undefined))).toEqual(['cached', 'delegated']);
    const mounts = stackToProto('shop', stack).web!.task!.container!.mounts;
    expect(mounts.map((m) => m.consistency)).toEqual(['cached', 'delegated']);
    expectProblem(loadError(svc('    volumes:\n      - {type: bind, source: /a, target: /a, consistency: fast}\n')), { message: /consistency "fast" is not one of/ });
  });

  it('volume.subpath is refused (the whole volume would be mounted); ":z" is warned', () => {
    expectProblem(loadError(svc('    volumes:\n      - {type: volume, source: d, target: /d, volume: {subpath: x}}\n', 'volumes:\n  d: {}\n')), { path: 'services.web.volumes[0]', message: /subpath` is not supported/ });
    expect(load(svc('    volumes:\n      - /srv:/srv:z\n')).warnings).toContainEqual(expect.objectContaining({ path: 'services.web.volumes[0]', message: expect.stringMatching(/"z" .* is ignored/) }));
  });
});

describe('large mappings: linear, and refused for the right reason', () => {
  const labels = (n: number, width = 1) => {
    const lines = ['services:', '  web:', '    image: nginx', '    labels:'];
    for (let i = 0; i < n; i++) lines.push(`      l${i}: ${'v'.repeat(width)}`);
    return `${lines.join('\n')}\n`;
  };

  it('a 1.99 MiB file of 110,000 keys (no aliases) is refused naming keys, not aliases', () => {
    const text = labels(110_000, 4);
    expect(text.length).toBeGreaterThan(1.9 * 1024 * 1024);
    expect(text.length).toBeLessThan(2 * 1024 * 1024);
    const p = expectProblem(loadError(text), { line: 50_001, column: 1, message: /more than 50000 keys and list items/ });
    expect(p.message).not.toMatch(/alias/);
  });

  it('under the budget, a mapping of 20,000 keys loads, and a duplicate among them is still found', () => {
    const text = labels(20_000);
    expect(Object.keys(load(text).stack.services.web!.labels)).toHaveLength(20_000);
    const dup = text.replace('      l19999: v', '      l7: v');
    expectProblem(loadError(dup), { path: 'services.web.labels.l7', line: 20_004, column: 7, message: /duplicate key `l7`: keep one of them/ });
    // keys that YAML tells apart but a stack file cannot ("1" and 1) are duplicates too
    expectProblem(loadError(svc('    labels:\n      1: a\n      "1": b\n')), { path: 'services.web.labels.1', message: /duplicate key/ });
  });

  it('a document the entry count lets through but that is too big after parsing says so without blaming aliases', () => {
    // a flow mapping holds many values on one line: the line count cannot see them
    const flow = `services:\n  web:\n    image: x\n    labels: {${Array.from({ length: 600 }, (_, i) => `k${i}: v`).join(', ')}}\n`;
    let message = '';
    try {
      loadStackTexts({ texts: [{ file: 'f.yml', text: flow }], env: {}, workingDir, limits: { maxExpandedNodes: 500 } });
    } catch (e) { message = (e as Error).message; }
    expect(message).toMatch(/more than 500 values \(keys' values and list items\)/);
    expect(message).not.toMatch(/alias/);
  });

  it('the entry count never exceeds the values YAML finds (block scalars, quoted lines, fixtures)', () => {
    const values = (v: unknown): number => Array.isArray(v) ? 1 + v.reduce((n: number, x) => n + values(x), 0)
      : v !== null && typeof v === 'object' ? 1 + Object.values(v).reduce((n: number, x) => n + values(x), 0) : 1;
    const tricky = [
      'services:\n  web:\n    image: x\n    command: |\n      a: 1\n      - b\n      c: 2\n    user: "1"\n',
      'services:\n  web:\n    image: x\n    hostname: "a\n      b: c\n      - d"\n    user: \'it\'\'s\n      e: f\'\n',
      'services:\n  - a: >-\n      x: y\n    b: 1\n',
      'x-a: &a {k: v}\nservices:\n  web: {<<: *a, image: x}\n  "q: r": {image: y}\n',
    ];
    const dir = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');
    const fixtures = readdirSync(dir).filter((f) => f.endsWith('.yml')).map((f) => readFileSync(join(dir, f), 'utf8'));
    for (const text of [...tricky, ...fixtures]) {
      const parsed = parseDocument(text, { uniqueKeys: false }).toJS({ maxAliasCount: -1 }) as unknown;
      expect(countEntryLines(text, Infinity).entries, text.slice(0, 80)).toBeLessThanOrEqual(values(parsed));
    }
    expect(countEntryLines(tricky[0]!, Infinity).entries).toBe(5);
  });
});

describe('port ranges, expanded as Docker does', () => {
  it('"8000-8010:80" publishes each port of the range onto the one container port', () => {
    const ports = load(svc('    ports: ["8000-8002:80/udp"]\n')).stack.services.web!.ports;
    expect(ports).toEqual([8000, 8001, 8002].map((published) => ({ target: 80, published, protocol: 'udp', mode: 'ingress' })));
    expect(load(svc('    ports: [{target: 80, published: "9000-9001", mode: host}]\n')).stack.services.web!.ports)
      .toEqual([{ target: 80, published: 9000, protocol: 'tcp', mode: 'host' }, { target: 80, published: 9001, protocol: 'tcp', mode: 'host' }]);
  });

  it('"8000-8010:8000-8010" pairs port by port; the same checks as single ports apply', () => {
    expect(load(svc('    ports: ["8000-8010:8000-8010"]\n')).stack.services.web!.ports.map((p) => `${p.published}:${p.target}`))
      .toEqual(Array.from({ length: 11 }, (_, i) => `${8000 + i}:${8000 + i}`));
    expectProblem(loadError(svc('    ports: ["65535-65536:80"]\n')), { path: 'services.web.ports[0]', message: /published port 65536 is out of range/ });
    expectProblem(loadError(svc('    ports: ["8010-8000:80"]\n')), { message: /runs backwards/ });
    expectProblem(loadError(svc('    ports: ["8000-8001:80-82"]\n')), { message: /differ in length \(2 published, 3 container\)/ });
    expectProblem(loadError(svc('    ports: ["8000-8002:80", "8002:81"]\n')), { path: 'services.web.ports', message: /port 8002\/tcp is published twice by service web/ });
    expectProblem(loadError(svc('    ports: [{target: 80, published: "9-x"}]\n')), { message: /invalid published port "9-x"/ });
  });
});

describe('errors that say more', () => {
  it('every missing ${VAR?} of a value and of the file is reported in one run', () => {
    const err = loadError(svc('    environment:\n      URL: "${SCHEME:?set SCHEME}://${HOST?set HOST}:${PORT?}"\n    hostname: ${NAME?set NAME}\n'));
    expect(err.problems.map((p) => p.message)).toEqual([
      'required variable SCHEME is unset: set SCHEME',
      'required variable HOST is unset: set HOST',
      'required variable PORT is unset: set it in the environment',
      'required variable NAME is unset: set NAME',
    ]);
    expect(err.problems.map((p) => p.line)).toEqual([5, 5, 5, 6]);
  });

  it('a file that fails the schema still gets the problems of the later stages, in one run', () => {
    const text = [
      'services:',
      '  web:',
      '    image: NGINX',
      '    hostnme: web',
      '    ports: ["99999:80"]',
      '    stop_grace_period: 10 parsecs',
      '    deploy: {replicas: "${N?set N}"}',
      '  api:',
      '    image: api',
      '    networks: [front]',
      'networks:',
      '  front: {driver: [overlay]}',
      '',
    ].join('\n');
    const err = loadError(text);
    expect(err.problems.map((p) => `${p.line} ${p.path}`)).toEqual([
      '3 services.web.image', // normalisation, after the merge
      '4 services.web.hostnme', // schema
      '5 services.web.ports[0]', // canonical form
      '6 services.web.stop_grace_period', // normalisation
      '7 services.web.deploy.replicas', // interpolation (no echo from the schema: the value was cut out)
      '12 networks.front.driver', // schema (no echo "network front is not declared")
    ]);
    expect(err.problems[1]!.message).toMatch(/did you mean `hostname`/);
  });

  it('type: cluster volumes say that CSI volumes are not supported', () => {
    expectProblem(loadError(svc('    volumes:\n      - {type: cluster, source: shared, target: /data}\n')), { path: 'services.web.volumes[0]', line: 5, message: /cluster \(CSI\) volumes are not supported/ });
  });

  it('list indexes print as volumes[8] in every message, schema ones included', () => {
    const vols = Array.from({ length: 8 }, (_, i) => `      - /v${i}:/v${i}\n`).join('');
    const err = loadError(svc(`    volumes:\n${vols}      - {type: bind, source: /x, target: /x, read_only: maybe}\n`));
    expectProblem(err, { path: 'services.web.volumes[8].read_only', line: 13, message: /true or false/ });
    expect(err.message).not.toMatch(/volumes\.8/);
  });

  it('a relative volume target (- volume1) stays refused, with the hint volume1:/path', () => {
    expectProblem(loadError(svc('    volumes:\n      - volume1\n')), { path: 'services.web.volumes[0]', message: /not an absolute path.*write "volume1:\/path\/in\/container"/ });
  });
});
