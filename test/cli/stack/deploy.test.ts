// `shoal stack deploy|ls|services|ps|rm` end to end: the real CLI process (tsx cli/main.ts)
// against the real Control API (manager/controlapi) served over a unix socket in a shoalsd-*
// temp dir (SHOAL_RUN), over a MemoryStore with the real orchestrators and scheduler and the
// controlapi tests' fake agent that moves assigned tasks to RUNNING.
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Service, TaskState } from '../../../proto/gen/types.js';
import { startControl, type ControlHarness } from '../../manager/controlapi/harness.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const tsx = join(repo, 'node_modules/.bin/tsx');
let dir: string;
let control: ControlHarness;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'shoalsd-'));
  control = await startControl({ bind: `unix:${join(dir, 'shoal.sock')}` });
});
afterAll(async () => {
  await control?.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Run { code: number; stdout: string; stderr: string }

function shoal(args: string[], run = dir, env: Record<string, string> = {}): Promise<Run> {
  return new Promise((done) => {
    execFile(tsx, [join(repo, 'cli/main.ts'), ...args], {
      cwd: dir, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, SHOAL_RUN: run, ...env }, timeout: 90_000,
    }, (err, stdout, stderr) => done({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }));
  });
}

function write(name: string, text: string): string {
  writeFileSync(join(dir, name), text);
  return join(dir, name);
}

function services(): Service[] {
  return control.store.view((tx) => tx.services.all().map((s) => s as Service));
}

function byName(): Map<string, Service> {
  return new Map(services().map((s) => [s.spec!.annotations!.name, s]));
}

const v1 = `services:
  web:
    image: nginx:1.25
    environment: { MODE: blue }
    ports: ["8080:80"]
    deploy: { replicas: 2, update_config: { parallelism: 2, monitor: 200ms } }
  api:
    image: busybox:1.36
    command: ["sleep", "3600"]
  worker:
    image: busybox:1.36
    deploy: { replicas: 1, labels: { team: jobs } }
  agent:
    image: busybox:1.36
    deploy: { mode: global }
`;

describe('shoal stack deploy against a real control API', () => {
  it('creates every service with the stack labels and waits for convergence', async () => {
    const r = await shoal(['stack', 'deploy', '-c', write('v1.yml', v1), 'shop']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('creating service shop_web');
    expect(r.stdout).toContain('shop_web: converged (2/2)');
    expect(r.stdout).toContain('shop_agent: converged (3/3)');
    const s = byName();
    expect([...s.keys()].sort()).toEqual(['shop_agent', 'shop_api', 'shop_web', 'shop_worker']);
    expect(s.get('shop_web')!.spec!.annotations!.labels['shoal.stack.namespace']).toBe('shop');
    expect(s.get('shop_api')!.spec!.task!.container!.args).toEqual(['sleep', '3600']);
    expect(s.get('shop_worker')!.spec!.annotations!.labels.team).toBe('jobs');
  });

  it('deploying the same file again changes nothing', async () => {
    const before = byName();
    const r = await shoal(['stack', 'deploy', '-c', join(dir, 'v1.yml'), 'shop']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('service shop_web: unchanged');
    expect(r.stdout).toContain('nothing to change');
    expect(r.stdout).not.toMatch(/creating|updating/);
    for (const [name, s] of byName()) expect(s.meta!.version, name).toBe(before.get(name)!.meta!.version);
  });

  it('--dry-run prints the field diff and applies nothing', async () => {
    const before = byName();
    const r = await shoal(['stack', 'deploy', '--dry-run', '-c', write('v2.yml', v1.replace('MODE: blue', 'MODE: green')), 'shop']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('update  shop_web');
    expect(r.stdout).toContain('task.container.env: ["MODE=blue"] -> ["MODE=green"]');
    expect(r.stdout).toContain('same    shop_api');
    expect(r.stdout).toContain('dry run: nothing was applied');
    for (const [name, s] of byName()) expect(s.meta!.version, name).toBe(before.get(name)!.meta!.version);
  });

  it('an edited file updates only the service that changed, and waits for the rolling update', async () => {
    const before = byName();
    const r = await shoal(['stack', 'deploy', '-c', join(dir, 'v2.yml'), 'shop']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('updating service shop_web');
    expect(r.stdout).toContain('service shop_api: unchanged');
    expect(r.stdout).toContain('shop_web: converged (2/2)');
    const live = control.store.view((tx) => tx.tasks.all().filter((t) => t.serviceId === before.get('shop_web')!.id && t.desiredState <= TaskState.RUNNING));
    expect(live.map((t) => [t.specVersion, t.status?.state])).toEqual([[2n, TaskState.RUNNING], [2n, TaskState.RUNNING]]);
    const after = byName();
    expect(after.get('shop_web')!.specVersion).toBe(before.get('shop_web')!.specVersion + 1n);
    expect(after.get('shop_web')!.spec!.task!.container!.env).toEqual(['MODE=green']);
    expect(after.get('shop_api')!.meta!.version).toBe(before.get('shop_api')!.meta!.version);
    expect(after.get('shop_worker')!.meta!.version).toBe(before.get('shop_worker')!.meta!.version);
  });

  it('a service that left the file is kept without --prune and removed with it', async () => {
    const v3 = write('v3.yml', v1.replace('MODE: blue', 'MODE: green').replace(/ {2}worker:[\s\S]*?(?= {2}agent:)/, ''));
    const keep = await shoal(['stack', 'deploy', '-d', '-c', v3, 'shop']);
    expect(keep.code).toBe(0);
    expect(keep.stdout).toContain('service shop_worker: kept (not in the stack file; --prune removes it)');
    expect(byName().has('shop_worker')).toBe(true);
    const prune = await shoal(['stack', 'deploy', '--prune', '-c', v3, 'shop']);
    expect(prune.code).toBe(0);
    expect(prune.stdout).toContain('removing service shop_worker');
    expect([...byName().keys()].sort()).toEqual(['shop_agent', 'shop_api', 'shop_web']);
  });

  it('profiles: a service left out is said in the plan and never removed, even with --prune', async () => {
    const file = write('prof.yml', 'services:\n  web:\n    image: nginx:1.25\n  debug:\n    image: busybox:1.36\n    command: ["sleep", "3600"]\n    profiles: [debug]\n');
    const up = await shoal(['stack', 'deploy', '-d', '--profile', 'debug', '-c', file, 'prof']);
    expect(up.code).toBe(0);
    expect(up.stdout).toContain('creating service prof_debug');
    const dry = await shoal(['stack', 'deploy', '--dry-run', '--prune', '-c', file, 'prof']);
    expect(dry.stdout).toContain('skip    prof_debug (profile debug not active: --profile debug deploys it)');
    const again = await shoal(['stack', 'deploy', '-d', '--prune', '-c', file, 'prof']);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('service prof_debug: left out (profile debug not active: --profile debug deploys it)');
    expect(again.stdout).toContain('are not pruned: prof_debug (left out by profiles) may use them');
    expect(byName().has('prof_debug')).toBe(true);
    const rm = await shoal(['stack', 'rm', 'prof']);
    expect(rm.code).toBe(0);
  });

  it('a file with an error applies nothing and says where the error is', async () => {
    const before = byName();
    const bad = write('bad.yml', `${v1.replace('MODE: blue', 'MODE: red')}  broken:\n    image: busybox\n    deploy: { replica: 3 }\n`);
    const r = await shoal(['stack', 'deploy', '-c', bad, 'shop']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/bad\.yml:\d+:\d+.*replica/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.stdout).toBe('');
    const after = byName();
    expect([...after.keys()].sort()).toEqual([...before.keys()].sort());
    for (const [name, s] of after) expect(s.meta!.version, name).toBe(before.get(name)!.meta!.version);
  });

  it('a service of the same name outside the stack is a conflict, not taken over', async () => {
    await control.store.update((tx) => {
      tx.services.create(Service.fromPartial({ id: 'handmade1', specVersion: 1n, spec: { ...byName().get('shop_api')!.spec!, annotations: { name: 'shop_cache', labels: {} } } }));
    });
    const before = byName();
    const r = await shoal(['stack', 'deploy', '-d', '-c', write('cache.yml', 'services:\n  aaa:\n    image: redis:7\n  cache:\n    image: redis:7\n'), 'shop']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/^shoal: service "shop_cache" already exists outside stack shop .*nothing was changed/);
    // shop_aaa sorts first: the clash is found before anything is created.
    expect([...byName().keys()].sort()).toEqual([...before.keys()].sort());
    expect(byName().get('shop_cache')!.spec!.task!.container!.image).toBe('busybox:1.36');
    await control.store.update((tx) => tx.services.delete('handmade1'));
  });

  it('a spec the cluster refuses is reported without a stack trace', async () => {
    const r = await shoal(['stack', 'deploy', '-d', '-c', write('mode.yml', 'services:\n  api:\n    image: busybox:1.36\n    deploy: { mode: global }\n'), 'shop']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/^shoal: .*shop_api is replicated: changing it to global is not supported/);
    expect(byName().get('shop_api')!.spec!.mode!.$case).toBe('replicated');
  });
});

describe('a real-world stack file', () => {
  it('deploys, redeploys as unchanged and is removed', async () => {
    // The fixture's configs are files beside it in its project: made here with some content.
    const file = join(dir, 'prom', 'stack.yml');
    mkdirSync(join(dir, 'prom/dockerd-exporter'), { recursive: true });
    mkdirSync(join(dir, 'prom/prometheus/rules'), { recursive: true });
    copyFileSync(join(repo, 'test/cli/stack/fixtures/swarmprom-traefik.yml'), file);
    writeFileSync(join(dir, 'prom/dockerd-exporter/Caddyfile'), ':9323 {\n  proxy / 172.18.0.1:9323\n}\n');
    writeFileSync(join(dir, 'prom/prometheus/rules/swarm_node.rules.yml'), 'groups: []\n');
    writeFileSync(join(dir, 'prom/prometheus/rules/swarm_task.rules.yml'), 'groups: []\n');
    expect((await shoal(['network', 'create', 'traefik-public'])).code).toBe(0); // external in the file
    const env = { DOMAIN: 'example.org', ADMIN_USER: 'admin', HASHED_PASSWORD: 'x' };
    const first = await shoal(['stack', 'deploy', '--detach', '-c', file, 'prom'], dir, env);
    expect(first.code, first.stderr).toBe(0);
    const created = services().filter((s) => s.spec!.annotations!.labels['shoal.stack.namespace'] === 'prom');
    expect(created.length).toBeGreaterThanOrEqual(5);
    expect(created.some((s) => s.spec!.mode!.$case === 'global')).toBe(true);
    const again = await shoal(['stack', 'deploy', '--detach', '-c', file, 'prom'], dir, env);
    expect(again.code).toBe(0);
    expect(again.stdout).not.toMatch(/creating|updating/);
    expect(again.stdout.match(/service \S+: unchanged/g)?.length).toBe(created.length);
    expect(again.stdout.match(/config \S+: unchanged/g)?.length).toBe(3);
    const rm = await shoal(['stack', 'rm', 'prom']);
    expect(rm.code, rm.stderr).toBe(0);
    expect(services().filter((s) => s.spec!.annotations!.labels['shoal.stack.namespace'] === 'prom')).toEqual([]);
    expect(control.store.view((tx) => [...tx.configs.all(), ...tx.networks.all()].filter((o) => o.spec?.annotations?.labels['shoal.stack.namespace'] === 'prom'))).toEqual([]);
    expect(control.store.view((tx) => tx.networks.all().map((n) => n.spec?.annotations?.name))).toContain('traefik-public');
  });
});

describe('shoal stack ls|services|ps|rm', () => {
  it('ls lists stacks with their service counts', async () => {
    await shoal(['stack', 'deploy', '-d', '-c', write('other.yml', 'services:\n  one:\n    image: busybox:1.36\n'), 'other']);
    const r = await shoal(['stack', 'ls', '--format', 'json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([{ name: 'other', services: 1 }, { name: 'shop', services: 3 }]);
    const t = await shoal(['stack', 'ls']);
    expect(t.stdout.split('\n')[0]).toMatch(/^NAME\s+SERVICES$/);
    expect(t.stdout).toMatch(/\nshop\s+3\n/);
  });

  it('services shows replicas, image and ports of the stack only', async () => {
    const r = await shoal(['stack', 'services', 'shop', '--format', 'json']);
    expect(r.code).toBe(0);
    const rows = JSON.parse(r.stdout) as { name: string; replicas: string; image: string; ports: string }[];
    expect(rows.map((x) => x.name)).toEqual(['shop_agent', 'shop_api', 'shop_web']);
    expect(rows[0]).toMatchObject({ mode: 'global', replicas: '3/3' });
    expect(rows[2]).toMatchObject({ mode: 'replicated', replicas: '2/2', image: 'nginx:1.25', ports: '*:8080->80/tcp' });
    const t = await shoal(['stack', 'services', 'shop']);
    expect(t.stdout.split('\n')[0]).toMatch(/^ID\s+NAME\s+MODE\s+REPLICAS\s+IMAGE\s+PORTS$/);
  });

  it('ps lists the tasks of the stack with their nodes and states', async () => {
    const r = await shoal(['stack', 'ps', 'shop', '--format', 'json']);
    expect(r.code).toBe(0);
    const rows = JSON.parse(r.stdout) as { name: string; node: string; desiredState: string; currentState: string }[];
    const running = rows.filter((x) => x.desiredState === 'running' && !x.name.startsWith('shop_agent.'));
    expect(running.map((x) => x.name).sort()).toEqual(['shop_api.1', 'shop_web.1', 'shop_web.2']);
    expect(rows.filter((x) => x.name.startsWith('shop_agent.')).map((x) => x.node).sort()).toEqual(['alpha', 'beta', 'gamma']);
    for (const x of running) {
      expect(['alpha', 'beta', 'gamma']).toContain(x.node);
      expect(x.currentState).toMatch(/^running/);
    }
  });

  it('rm removes only that stack; a stack that is not there is said so', async () => {
    const r = await shoal(['stack', 'rm', 'shop']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('removing service shop_web');
    expect([...byName().keys()]).toEqual(['other_one']);
    const again = await shoal(['stack', 'rm', 'shop']);
    expect(again.code).toBe(0);
    expect(again.stderr).toBe('nothing found in stack: shop\n');
  });

  it('a missing daemon is one clear line, not a stack trace', async () => {
    const r = await shoal(['stack', 'ls'], join(dir, 'nowhere'));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/^shoal: cannot reach the shoal daemon at .*nowhere\/shoal\.sock/);
  });
});
