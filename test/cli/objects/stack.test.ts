// `shoal stack deploy|rm` with secrets, configs and networks, end to end against the real
// Control API: objects are created before the services that use them, a redeploy writes
// nothing, changed secret data is refused before anything is applied, --prune and `stack rm`
// remove what the stack made and nothing else.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SECRET_DIGEST_LABEL } from '../../../cli/stack/secret-digest.js';
import { startCli, type CliEnv } from './cli.js';

let env: CliEnv;
beforeAll(async () => {
  env = await startCli();
});
afterAll(async () => {
  await env?.close();
});

const NS = 'shoal.stack.namespace';
const API = { API_KEY: 'k-123' };

const stackFile = (extra = '') => `services:
  web:
    image: nginx:1.25
    secrets:
      - db_pw
      - { source: api, target: /etc/api.key, uid: "1000", gid: "1000", mode: 0400 }
    configs: [site]
    networks: [back]
  worker:
    image: busybox:1.36
    command: [sleep, "3600"]
    configs: [{ source: site, target: /etc/site.conf }]
secrets:
  db_pw: { file: ./pw.txt, labels: { owner: ops } }
  api: { environment: API_KEY }
configs:
  site: { file: ./site.conf }
networks:
  back:
    driver: overlay
    attachable: true
    labels: { tier: back }
    ipam: { config: [{ subnet: 172.23.61.0/24 }] }
${extra}`;

interface Versions { [name: string]: bigint }
/** Every object's store version; for services the spec version (the update orchestrator writes
 *  a service's update status on its own, after a deploy has returned). */
function versions(): Versions {
  return env.control.store.view((tx) => {
    const out: Versions = {};
    for (const s of tx.services.all()) out[`service ${s.spec!.annotations!.name}`] = s.specVersion;
    for (const o of [...tx.secrets.all(), ...tx.configs.all(), ...tx.networks.all()]) out[`${o.spec!.annotations!.name}`] = o.meta!.version;
    return out;
  });
}
const byName = <T extends { spec?: { annotations?: { name: string } } }>(list: readonly T[], name: string) => list.find((o) => o.spec?.annotations?.name === name);
const secret = (name: string) => env.control.store.view((tx) => byName(tx.secrets.all(), name));
const config = (name: string) => env.control.store.view((tx) => byName(tx.configs.all(), name));
const network = (name: string) => env.control.store.view((tx) => byName(tx.networks.all(), name));
const service = (name: string) => env.control.store.view((tx) => byName(tx.services.all(), name));
const owned = (stack: string) => env.control.store.view((tx) =>
  [...tx.services.all(), ...tx.secrets.all(), ...tx.configs.all(), ...tx.networks.all()].filter((o) => o.spec?.annotations?.labels[NS] === stack).map((o) => o.spec!.annotations!.name).sort());

describe('stack deploy with secrets, configs and networks', () => {
  it('creates the objects first, then services that refer to them by id', async () => {
    env.write('pw.txt', 's3cret\n');
    env.write('site.conf', 'listen 80;\n');
    const r = await env.shoal(['stack', 'deploy', '-c', env.write('stack.yml', stackFile()), 'shop'], { env: API });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    const first = (re: RegExp) => lines.findIndex((l) => re.test(l));
    for (const o of ['secret shop_api', 'secret shop_db_pw', 'config shop_site', 'network shop_back', 'network shop_default']) {
      expect(first(new RegExp(`^creating ${o}$`)), o).toBeGreaterThanOrEqual(0);
      expect(first(new RegExp(`^creating ${o}$`)), o).toBeLessThan(first(/^creating service/));
    }
    const pw = secret('shop_db_pw')!;
    expect(Buffer.from(pw.spec!.data).toString()).toBe('s3cret\n');
    expect(pw.spec!.annotations!.labels).toMatchObject({ owner: 'ops', [NS]: 'shop' });
    expect(pw.spec!.annotations!.labels[SECRET_DIGEST_LABEL]).toMatch(/^scrypt1:/);
    expect(pw.spec!.annotations!.labels[SECRET_DIGEST_LABEL]).not.toContain('s3cret');
    expect(Buffer.from(secret('shop_api')!.spec!.data).toString()).toBe('k-123');
    expect(Buffer.from(config('shop_site')!.spec!.data).toString()).toBe('listen 80;\n');
    const back = network('shop_back')!.spec!;
    expect([back.driverConfig!.name, back.attachable, back.annotations!.labels, back.ipam!.configs[0]!.subnet]).toEqual(['overlay', true, { tier: 'back', [NS]: 'shop' }, '172.23.61.0/24']);
    expect(network('shop_default')!.spec!.annotations!.labels).toEqual({ [NS]: 'shop' });
    const web = service('shop_web')!.spec!;
    expect(web.task!.container!.secrets).toEqual([
      { secretId: pw.id, secretName: 'shop_db_pw', file: { name: 'db_pw', uid: '0', gid: '0', mode: 0o444 } },
      { secretId: secret('shop_api')!.id, secretName: 'shop_api', file: { name: '/etc/api.key', uid: '1000', gid: '1000', mode: 0o400 } },
    ]);
    expect(web.task!.container!.configs).toEqual([{ configId: config('shop_site')!.id, configName: 'shop_site', file: { name: '/site', uid: '0', gid: '0', mode: 0o444 } }]);
    expect(web.task!.networks.map((n) => n.target)).toEqual(['shop_back']);
    expect(service('shop_worker')!.spec!.task!.networks.map((n) => n.target)).toEqual(['shop_default']);
  });

  it('deploying the same file again writes nothing at all', async () => {
    const before = versions();
    const r = await env.shoal(['stack', 'deploy', '-c', env.write('stack.yml', stackFile()), 'shop'], { env: API });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('secret shop_db_pw: unchanged');
    expect(r.stdout).toContain('config shop_site: unchanged');
    expect(r.stdout).toContain('network shop_back: unchanged');
    expect(r.stdout).toContain('nothing to change');
    expect(r.stdout).not.toMatch(/creating|updating|removing/);
    expect(versions()).toEqual(before);
  });

  it('changed secret data is refused, naming it and the fix, and nothing is applied', async () => {
    const before = versions();
    env.write('pw.txt', 'rotated\n');
    // The service change would be applied too if the check came late.
    const r = await env.shoal(['stack', 'deploy', '-c', env.write('changed.yml', stackFile().replace('nginx:1.25', 'nginx:1.26')), 'shop'], { env: API });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/^shoal: secret "shop_db_pw" exists with different data, and a secret's data cannot change: give it a new name \(e\.g\. `name: shop_db_pw_v2`/);
    expect(r.stderr).toContain('nothing was changed');
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.stdout).toBe('');
    const dry = await env.shoal(['stack', 'deploy', '--dry-run', '-c', env.write('changed.yml', stackFile()), 'shop'], { env: API });
    expect(dry.code).not.toBe(0);
    expect(dry.stderr).toMatch(/secret "shop_db_pw" exists with different data/);
    const cfg = await env.shoal(['stack', 'deploy', '-c', env.write('stack.yml', stackFile()), 'shop'], { env: { API_KEY: 'other' } });
    expect(cfg.stderr).toMatch(/secret "shop_api" exists with different data/);
    env.write('pw.txt', 's3cret\n');
    env.write('site.conf', 'listen 8080;\n');
    const c = await env.shoal(['stack', 'deploy', '-c', env.write('stack.yml', stackFile()), 'shop'], { env: API });
    expect(c.stderr).toMatch(/config "shop_site" exists with different data, and a config's data cannot change/);
    env.write('site.conf', 'listen 80;\n');
    expect(versions()).toEqual(before);
  });

  it('a versioned name moves the service to a new secret; --dry-run plans objects; --prune removes the old one', async () => {
    env.write('pw.txt', 'rotated\n');
    const v2 = stackFile().replace('db_pw: { file: ./pw.txt, labels: { owner: ops } }', 'db_pw: { file: ./pw.txt, name: shop_db_pw_v2, labels: { owner: sec } }');
    const before = versions();
    const dry = await env.shoal(['stack', 'deploy', '--dry-run', '--prune', '-c', env.write('v2.yml', v2), 'shop'], { env: API });
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/^create {2}secret shop_db_pw_v2$/m);
    expect(dry.stdout).toMatch(/^same {4}secret shop_api$/m);
    expect(dry.stdout).toMatch(/^remove {2}secret shop_db_pw$/m);
    expect(dry.stdout).toMatch(/^same {4}network shop_back$/m);
    expect(dry.stdout).toMatch(/^update {2}shop_web$/m);
    expect(dry.stdout).toContain('dry run: nothing was applied');
    expect(versions()).toEqual(before);

    const keep = await env.shoal(['stack', 'deploy', '-c', env.write('v2.yml', v2), 'shop'], { env: API });
    expect(keep.code, keep.stderr).toBe(0);
    expect(keep.stdout).toContain('creating secret shop_db_pw_v2');
    expect(keep.stdout).toContain('secret shop_db_pw: kept (not in the stack file; --prune removes it)');
    expect(keep.stdout).toContain('updating service shop_web');
    expect(keep.stdout).toContain('service shop_worker: unchanged');
    const ref = service('shop_web')!.spec!.task!.container!.secrets[0]!;
    expect([ref.secretId, ref.secretName]).toEqual([secret('shop_db_pw_v2')!.id, 'shop_db_pw_v2']);
    expect(Buffer.from(secret('shop_db_pw_v2')!.spec!.data).toString()).toBe('rotated\n');
    expect(secret('shop_db_pw')).toBeDefined();

    const prune = await env.shoal(['stack', 'deploy', '--prune', '-c', env.write('v2.yml', v2), 'shop'], { env: API });
    expect(prune.code, prune.stderr).toBe(0);
    expect(prune.stdout).toContain('removing secret shop_db_pw');
    expect(secret('shop_db_pw')).toBeUndefined();
    expect(secret('shop_db_pw_v2')).toBeDefined();
  });

  it('labels of a secret or config follow the file (data stays, the digest is kept)', async () => {
    const v3 = stackFile()
      .replace('db_pw: { file: ./pw.txt, labels: { owner: ops } }', 'db_pw: { file: ./pw.txt, name: shop_db_pw_v2, labels: { owner: sec2 } }')
      .replace('site: { file: ./site.conf }', 'site: { file: ./site.conf, labels: { v: "3" } }');
    const digest = secret('shop_db_pw_v2')!.spec!.annotations!.labels[SECRET_DIGEST_LABEL];
    const r = await env.shoal(['stack', 'deploy', '-d', '-c', env.write('v3.yml', v3), 'shop'], { env: API });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('updating labels of secret shop_db_pw_v2');
    expect(r.stdout).toContain('updating labels of config shop_site');
    expect(secret('shop_db_pw_v2')!.spec!.annotations!.labels).toEqual({ owner: 'sec2', [NS]: 'shop', [SECRET_DIGEST_LABEL]: digest });
    expect(config('shop_site')!.spec!.annotations!.labels).toEqual({ v: '3', [NS]: 'shop' });
    const again = await env.shoal(['stack', 'deploy', '-d', '-c', env.write('v3.yml', v3), 'shop'], { env: API });
    expect(again.stdout).toContain('nothing to change');
  });

  it('a network whose options changed in the file is kept as it is, and the user is told why', async () => {
    const v3 = stackFile()
      .replace('db_pw: { file: ./pw.txt, labels: { owner: ops } }', 'db_pw: { file: ./pw.txt, name: shop_db_pw_v2, labels: { owner: sec2 } }')
      .replace('site: { file: ./site.conf }', 'site: { file: ./site.conf, labels: { v: "3" } }')
      .replace('internal: false', '')
      .replace('attachable: true', 'attachable: true\n    internal: true');
    const before = versions();
    const r = await env.shoal(['stack', 'deploy', '-d', '-c', env.write('net.yml', v3), 'shop'], { env: API });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^network shop_back: kept \(exists with other options \(internal\); a network cannot be changed in place/m);
    expect(versions()).toEqual(before);
  });

  it('--prune removes a network no service uses any more, after the service left it', async () => {
    const v4 = stackFile()
      .replace('db_pw: { file: ./pw.txt, labels: { owner: ops } }', 'db_pw: { file: ./pw.txt, name: shop_db_pw_v2, labels: { owner: sec2 } }')
      .replace('site: { file: ./site.conf }', 'site: { file: ./site.conf, labels: { v: "3" } }')
      .replace('    networks: [back]\n', '');
    const r = await env.shoal(['stack', 'deploy', '--prune', '-c', env.write('v4.yml', v4), 'shop'], { env: API });
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines.indexOf('removing network shop_back')).toBeGreaterThan(lines.indexOf('updating service shop_web'));
    expect(network('shop_back')).toBeUndefined();
    expect(service('shop_web')!.spec!.task!.networks.map((n) => n.target)).toEqual(['shop_default']);
  });

  it('an external object that does not exist stops the deploy before anything is applied', async () => {
    const before = versions();
    const file = env.write('ext.yml', `services:\n  app:\n    image: busybox:1.36\n    secrets: [tls]\n    networks: [edge]\nsecrets:\n  tls: { external: true, name: shoalso_tls }\nnetworks:\n  edge: { external: true }\n`);
    const r = await env.shoal(['stack', 'deploy', '-c', file, 'ext']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('secret "shoalso_tls" is external but does not exist: create it with `shoal secret create shoalso_tls FILE`');
    expect(r.stderr).toContain('network "edge" is external but does not exist: create it with `shoal network create edge`');
    expect(r.stdout).toBe('');
    expect(versions()).toEqual(before);
  });

  it('a stack object whose name is taken outside the stack is a conflict', async () => {
    expect((await env.shoal(['config', 'create', 'clash_site', env.write('c', 'x')])).code).toBe(0);
    const before = versions();
    const r = await env.shoal(['stack', 'deploy', '-c', env.write('clash.yml', 'services:\n  a:\n    image: busybox:1.36\n    configs: [site]\nconfigs:\n  site: { file: ./c }\n'), 'clash']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/config "clash_site" already exists outside stack clash/);
    expect(versions()).toEqual(before);
  });

  it('stack rm removes the services, then the stack\'s secrets, configs and networks, and nothing else', async () => {
    expect(owned('shop').length).toBeGreaterThan(0);
    const r = await env.shoal(['stack', 'rm', 'shop']);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.split('\n');
    const lastService = Math.max(...lines.map((l, i) => (l.startsWith('removing service') ? i : -1)));
    const firstObject = lines.findIndex((l) => /^removing (secret|config|network)/.test(l));
    expect(firstObject).toBeGreaterThan(lastService);
    expect(r.stdout).toContain('removing secret shop_db_pw_v2');
    expect(r.stdout).toContain('removing network shop_default');
    expect(owned('shop')).toEqual([]);
    expect(config('clash_site')).toBeDefined();
    const again = await env.shoal(['stack', 'rm', 'shop']);
    expect(again.stderr).toContain('nothing found in stack: shop');
  });
});
