// A stack with a secret and a config on a 2-host lab cluster (h1 manager, h2 worker), deployed
// with the real CLI: the managers store the objects, the dispatcher sends them to the nodes
// whose tasks use them, the agents mount them read-only into real containers. Each task prints
// the files' contents, modes and owners; `service logs` shows them from both hosts. `stack rm`
// leaves no service, object, or mount behind.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { labSuite, until } from './cluster.js';

const lab = labSuite({ name: 'shoalsoe2e', subnet: '10.231.61.0/24', hosts: 2, managers: 1, tmpPrefix: 'shoalso-' });

const { shoal } = lab;

const stack = `services:
  reader:
    image: busybox:latest
    command: ["sh", "-c", "echo \\"secret=$$(cat /run/secrets/token)\\"; echo \\"config=$$(cat /etc/app.conf)\\"; stat -c 'file=%n mode=%a uid=%u' /run/secrets/token /etc/app.conf; sleep 100000"]
    secrets: [{ source: token, mode: 0400, uid: "1000" }]
    configs: [{ source: app_conf, target: /etc/app.conf }]
    deploy: { replicas: 2, placement: { max_replicas_per_node: 1 } }
secrets:
  token: { file: ./token.txt }
configs:
  app_conf: { file: ./app.conf }
`;

/** Mount points under a host's SHOAL_RUN (the lab's daemons share this mount namespace). */
function mountsUnder(root: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4] ?? '').filter((p) => p.startsWith(`${root}/`));
}

describe('e2e: stack secrets and configs', () => {
  it('tasks on both hosts read the secret and the config with their modes; stack rm leaves nothing', async () => {
    writeFileSync(join(lab.dir, 'token.txt'), 'tok-shoalso');
    writeFileSync(join(lab.dir, 'app.conf'), 'level=debug');
    const file = join(lab.dir, 'stack.yml');
    writeFileSync(file, stack);
    const d = await shoal(['stack', 'deploy', '--timeout', '60s', '-c', file, 'so']);
    expect(d.code, `${d.stdout}\n${d.stderr}`).toBe(0);
    expect(d.stdout).toContain('creating secret so_token');
    expect(d.stdout).toContain('creating config so_app_conf');

    const logs = await until(async () => {
      const r = await shoal(['service', 'logs', 'so_reader']);
      const hosts = ['h1', 'h2'].filter((h) => new RegExp(`@${h} +\\| file=/etc/app\\.conf mode=444 uid=0$`, 'm').test(r.stdout));
      return hosts.length === 2 ? r.stdout : undefined;
    }, 'both tasks printing their files', 60_000);
    for (const h of ['h1', 'h2']) {
      const mine = logs.split('\n').filter((l) => l.includes(`@${h} `)).map((l) => l.replace(/^.*\| /, ''));
      expect(mine, h).toEqual(expect.arrayContaining([
        'secret=tok-shoalso',
        'config=level=debug',
        'file=/run/secrets/token mode=400 uid=1000',
        'file=/etc/app.conf mode=444 uid=0',
      ]));
    }
    // Each host holds its task's secrets on a tmpfs of their own while the task runs...
    for (const h of ['h1', 'h2']) expect(mountsUnder(lab.c.host(h).run).filter((m) => m.includes('/secrets/')), h).toHaveLength(1);
    // ...and the secret's data is not readable back through the API.
    const inspect = await shoal(['secret', 'inspect', 'so_token']);
    expect(inspect.stdout).not.toContain('tok-shoalso');

    const again = await shoal(['stack', 'deploy', '-c', file, 'so']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('nothing to change');

    const rm = await shoal(['stack', 'rm', 'so']);
    expect(rm.code, rm.stderr).toBe(0);
    expect(rm.stdout).toMatch(/removing service so_reader\nremoving secret so_token\nremoving config so_app_conf\nremoving network so_default/);
    const left = async (kind: string): Promise<(string | undefined)[]> => {
      const ls = await shoal([kind, 'ls', '--format', 'json']);
      expect(ls.code, ls.stderr).toBe(0);
      const names = (JSON.parse(ls.stdout) as { name?: string; spec?: { annotations?: { name?: string } } }[]).map((x) => x.name ?? x.spec?.annotations?.name);
      return names.filter((n) => n?.startsWith('so_'));
    };
    for (const kind of ['service', 'secret', 'config']) expect(await left(kind), kind).toEqual([]);
    // The network is marked for deletion while the tasks stop, and goes after the last one.
    await until(async () => (await left('network')).length === 0, 'the stack network to go after its tasks', 60_000);
    // ...which the agents unmount and remove once the task's container is gone.
    for (const h of ['h1', 'h2']) {
      const run = lab.c.host(h).run;
      await until(() => mountsUnder(run).filter((m) => m.includes('/secrets/') || m.includes('/configs/')).length === 0, `no secret or config mounts left on ${h}`, 60_000);
      await until(() => !existsSync(join(run, 'secrets')) || readdirEmpty(join(run, 'secrets')), `no secret directories left on ${h}`, 30_000);
    }
  }, 240_000);
});

function readdirEmpty(path: string): boolean {
  try {
    return readdirSync(path).length === 0;
  } catch {
    return true;
  }
}
