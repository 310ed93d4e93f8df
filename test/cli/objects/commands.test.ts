// `shoal secret|config|network create|ls|inspect|rm` end to end: the real CLI against the real
// Control API. What the store holds is checked directly, not only what the CLI prints.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCli, type CliEnv } from './cli.js';

let env: CliEnv;
beforeAll(async () => {
  env = await startCli();
});
afterAll(async () => {
  await env?.close();
});

const secrets = () => env.control.store.view((tx) => tx.secrets.all().map((s) => ({ name: s.spec!.annotations!.name, data: Buffer.from(s.spec!.data).toString(), labels: { ...s.spec!.annotations!.labels } })));
const noTrace = (s: string) => expect(s).not.toMatch(/\n\s+at /);

describe('shoal secret', () => {
  it('creates a secret from a file, with labels', async () => {
    const r = await env.shoal(['secret', 'create', '--label', 'env=prod', '-l', 'team', 'db_pw', env.write('pw.txt', 'hunter2\n')]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^\w+\n$/);
    expect(secrets()).toEqual([{ name: 'db_pw', data: 'hunter2\n', labels: { env: 'prod', team: '' } }]);
  });

  it('creates a secret from standard input (-)', async () => {
    const r = await env.shoal(['secret', 'create', 'api_key', '-'], { stdin: 'from-stdin' });
    expect(r.code, r.stderr).toBe(0);
    expect(secrets().find((s) => s.name === 'api_key')?.data).toBe('from-stdin');
  });

  it('ls shows names (table and json), inspect never shows the data', async () => {
    const t = await env.shoal(['secret', 'ls']);
    expect(t.code).toBe(0);
    expect(t.stdout.split('\n')[0]).toMatch(/^ID\s+NAME\s+STACK\s+CREATED\s+UPDATED$/);
    expect(t.stdout).toMatch(/\n\w+\s+api_key\s/);
    const j = await env.shoal(['secret', 'ls', '--format', 'json']);
    expect((JSON.parse(j.stdout) as { name: string }[]).map((x) => x.name)).toEqual(['api_key', 'db_pw']);
    const i = await env.shoal(['secret', 'inspect', 'db_pw']);
    expect(i.code).toBe(0);
    const [doc] = JSON.parse(i.stdout) as { id: string; spec: { annotations: { name: string; labels: Record<string, string> }; data?: string } }[];
    expect(doc!.spec.annotations).toEqual({ name: 'db_pw', labels: { env: 'prod', team: '' } });
    expect(doc!.spec.data).toBeUndefined();
    expect(i.stdout).not.toContain('hunter2');
    expect(i.stdout).not.toContain(Buffer.from('hunter2\n').toString('base64'));
    const p = await env.shoal(['secret', 'inspect', '--pretty', 'db_pw']);
    expect(p.stdout).toContain('Name:            db_pw');
    expect(p.stdout).not.toContain('hunter2');
  });

  it('bad input is one line naming it and the fix; nothing is created', async () => {
    const before = secrets();
    const missing = await env.shoal(['secret', 'create', 'x', '/nonexistent/shoalso-file']);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/^shoal: cannot read \/nonexistent\/shoalso-file \(no such file\): give the path/);
    const empty = await env.shoal(['secret', 'create', 'x', '-'], { stdin: '' });
    expect(empty.stderr).toMatch(/standard input is empty/);
    const big = await env.shoal(['secret', 'create', 'x', env.write('big', Buffer.alloc(600 * 1024, 1))]);
    expect(big.stderr).toMatch(/614400 bytes: a secret holds at most 512000/);
    const dup = await env.shoal(['secret', 'create', 'db_pw', env.write('pw2.txt', 'other')]);
    expect(dup.code).not.toBe(0);
    expect(dup.stderr).toMatch(/secret "db_pw" already exists/);
    const label = await env.shoal(['secret', 'create', '--label', '=v', 'y', env.write('y', 'y')]);
    expect(label.stderr).toMatch(/invalid --label "=v"/);
    for (const r of [missing, empty, big, dup, label]) noTrace(r.stderr);
    expect(secrets()).toEqual(before);
  });

  it('rm is refused while a service uses the secret, and works once it does not', async () => {
    const id = env.control.store.view((tx) => tx.secrets.all().find((s) => s.spec!.annotations!.name === 'api_key')!.id);
    const file = env.write('uses.yml', `services:\n  app:\n    image: busybox:1.36\n    secrets: [key]\nsecrets:\n  key: { external: true, name: api_key }\n`);
    const d = await env.shoal(['stack', 'deploy', '-d', '-c', file, 'users']);
    expect(d.code, d.stderr).toBe(0);
    const svc = env.control.store.view((tx) => tx.services.all().find((s) => s.spec!.annotations!.name === 'users_app')!);
    expect(svc.spec!.task!.container!.secrets).toEqual([{ secretId: id, secretName: 'api_key', file: { name: 'key', uid: '0', gid: '0', mode: 0o444 } }]);
    const refused = await env.shoal(['secret', 'rm', 'api_key']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/^shoal: secret "api_key" is in use by service users_app/);
    noTrace(refused.stderr);
    expect(secrets().some((s) => s.name === 'api_key')).toBe(true);
    const rm = await env.shoal(['stack', 'rm', 'users']);
    expect(rm.code, rm.stderr).toBe(0);
    expect(rm.stdout).not.toContain('removing secret api_key'); // external: not the stack's
    const ok = await env.shoal(['secret', 'rm', 'api_key', 'db_pw']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(secrets()).toEqual([]);
  });
});

describe('shoal config', () => {
  it('create, inspect shows the data (JSON base64 and --pretty text), ls, rm', async () => {
    const c = await env.shoal(['config', 'create', 'nginx_conf', env.write('nginx.conf', 'worker_processes 2;\n')]);
    expect(c.code, c.stderr).toBe(0);
    const i = await env.shoal(['config', 'inspect', 'nginx_conf']);
    const [doc] = JSON.parse(i.stdout) as { spec: { data: string } }[];
    expect(Buffer.from(doc!.spec.data, 'base64').toString()).toBe('worker_processes 2;\n');
    const p = await env.shoal(['config', 'inspect', '--pretty', 'nginx_conf']);
    expect(p.stdout).toMatch(/Data:\nworker_processes 2;\n$/);
    const ls = await env.shoal(['config', 'ls', '-q']);
    expect(ls.stdout.trim().split('\n')).toHaveLength(1);
    const missing = await env.shoal(['config', 'inspect', 'nope']);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/^shoal: .*nope/);
    expect((await env.shoal(['config', 'rm', 'nginx_conf'])).code).toBe(0);
    expect(env.control.store.view((tx) => tx.configs.all())).toEqual([]);
  });
});

describe('shoal network', () => {
  it('create with driver, labels, subnet and gateway; ls; inspect; rm', async () => {
    const c = await env.shoal(['network', 'create', '--driver', 'overlay', '--label', 'tier=back', '--subnet', '172.23.61.0/24', '--gateway', '172.23.61.1', '--attachable', 'shoalso_back']);
    expect(c.code, c.stderr).toBe(0);
    const n = env.control.store.view((tx) => tx.networks.all().find((x) => x.spec!.annotations!.name === 'shoalso_back')!);
    expect(n.spec!.driverConfig!.name).toBe('overlay');
    expect(n.spec!.annotations!.labels).toEqual({ tier: 'back' });
    expect(n.spec!.attachable).toBe(true);
    expect(n.spec!.ipam!.configs.map((x) => [x.subnet, x.gateway])).toEqual([['172.23.61.0/24', '172.23.61.1']]);
    const ls = await env.shoal(['network', 'ls']);
    expect(ls.stdout.split('\n')[0]).toMatch(/^ID\s+NAME\s+DRIVER\s+SUBNETS\s+STACK\s+CREATED$/);
    expect(ls.stdout).toMatch(/shoalso_back\s+overlay\s+172\.23\.61\.0\/24/);
    const i = await env.shoal(['network', 'inspect', 'shoalso_back']);
    expect((JSON.parse(i.stdout) as { id: string }[])[0]!.id).toBe(n.id);
    const rm = await env.shoal(['network', 'rm', 'shoalso_back']);
    expect(rm.code, rm.stderr).toBe(0);
    expect(env.control.store.view((tx) => tx.networks.all().filter((x) => x.spec!.annotations!.name === 'shoalso_back'))).toEqual([]);
  });

  it('a bad subnet or gateway is refused before anything is sent', async () => {
    const bad = await env.shoal(['network', 'create', '--subnet', '10.0.0.0/33', 'x']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/^shoal: invalid --subnet "10\.0\.0\.0\/33": write a CIDR block/);
    const gw = await env.shoal(['network', 'create', '--gateway', '10.0.0.1', 'x']);
    expect(gw.stderr).toMatch(/needs a --subnet/);
    expect(env.control.store.view((tx) => tx.networks.all().filter((x) => x.spec!.annotations!.name === 'x'))).toEqual([]);
  });
});
