// Overlay networks on a real lab cluster (issue 10): a service on an overlay network with 3
// replicas on 3 hosts; from inside each task (`shoal container exec` on its host) ping and TCP
// to the tasks on the other hosts; another network's task is not reachable; an agent SIGKILLed
// and restarted keeps a ping answering; a lost host's routes are withdrawn from the others and
// return with it; removing the services leaves no namespace, link or nft
// table on any host.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runShoal, type CliResult } from '../cli/run-shoal.js';
import { ServiceSpec, TaskState, type Service, type Task } from '../../proto/gen/types.js';
import { must } from '../overlay-net/lab.js';
import { labSuite, until } from './cluster.js';

// heartbeats of 10 s: a daemon SIGKILLed and started again comes back before it is marked down
const s = labSuite({ name: 'shoalove2e', subnet: '10.231.97.0/24', hosts: 3, managers: 1, heartbeatMs: 10_000, disconnectGraceMs: 30_000, tmpPrefix: 'shoal-e2e-overlay-' });

const SERVER = 'while true; do echo "hello from $(hostname)" | nc -l -p 7000; done';

async function createOn(network: string, name: string, replicas: number, constraints: string[] = []): Promise<Service> {
  await s.c.control('h1', 'createNetwork', { spec: { annotations: { name: network }, driverConfig: { name: 'overlay' } } }).catch((e: Error) => {
    if (!/exists|already/i.test(e.message)) throw e;
  });
  const spec = ServiceSpec.fromPartial({
    annotations: { name },
    task: { container: { image: 'busybox:latest', args: ['sh', '-c', SERVER] }, networks: [{ target: network }], placement: { constraints } },
  });
  spec.mode = { $case: 'replicated', value: { replicas } };
  return (await s.c.control<{ service: Service }>('h1', 'createService', { spec })).service;
}

interface Running {
  task: Task;
  host: string;
  ip: string;
  container: string;
}

/** The service's running tasks, once `n` of them run, with their host names and overlay addresses. */
async function running(service: Service, n: number): Promise<Running[]> {
  const nodes = new Map<string, string>();
  const list = await s.c.control<{ nodes: { id: string; description?: { hostname: string } }[] }>('h1', 'listNodes', {});
  for (const node of list.nodes) nodes.set(node.id, node.description?.hostname ?? '');
  const tasks = await until(async () => {
    const ts = (await s.c.tasks('h1', service.id)).filter((t) => t.desiredState === TaskState.RUNNING && t.status?.state === TaskState.RUNNING);
    return ts.length === n ? ts : undefined;
  }, `${service.spec?.annotations?.name} ${n}/${n} running`, 120_000);
  return tasks.map((task) => ({
    task,
    host: nodes.get(task.nodeId)!,
    ip: task.networks[0]!.addresses[0]!.split('/')[0]!,
    container: `${service.spec!.annotations!.name}.${task.slot}.${task.id}`,
  }));
}

/** A command inside a task's container, run on its host. */
function exec(r: Running, argv: string[]): Promise<CliResult> {
  const h = s.c.host(r.host);
  return runShoal(['container', 'exec', r.container, ...argv], { SHOAL_RUN: h.run, SHOAL_ROOT: h.root });
}

const ping = (from: Running, ip: string, count = 2): Promise<CliResult> => exec(from, ['ping', '-n', '-c', String(count), '-W', '3', ip]);

/** What shoal's data path left in a lab host: task namespace files, shov* links, shoal nft tables. */
async function residue(host: string): Promise<string[]> {
  const h = s.c.host(host);
  const left: string[] = [];
  const dir = join(h.run, 'netns');
  if (existsSync(dir)) left.push(...readdirSync(dir).map((f) => `netns ${f}`));
  const ns = ['nsenter', `--net=${h.netnsPath}`];
  const links = JSON.parse(await must([...ns, 'ip', '-j', 'link', 'show'])) as { ifname: string }[];
  left.push(...links.filter((l) => l.ifname.startsWith('shov')).map((l) => `link ${l.ifname}`));
  const tables = (await must([...ns, 'nft', 'list', 'tables'])).split('\n').filter((l) => l.includes('shoal'));
  left.push(...tables.map((t) => `nft ${t}`));
  return left;
}

describe('e2e: overlay networks', () => {
  let web: Running[] = [];
  let other: Running[] = [];
  const extra: string[] = [];

  it('tasks of a service on 3 hosts reach each other over the overlay: ping and TCP', async () => {
    const svc = await createOn('ov_a', 'ov_web', 3);
    web = await running(svc, 3);
    expect(new Set(web.map((r) => r.host)).size).toBe(3);
    for (const r of web) expect(r.ip).toMatch(/^10\./);
    for (const [i, from] of web.entries()) {
      const to = web[(i + 1) % web.length]!;
      // peers arrive from the dispatcher shortly after the task runs: the first answer may take a moment
      await until(async () => (await ping(from, to.ip, 1)).code === 0, `ping ${from.host} -> ${to.host} (${to.ip})`, 30_000);
      const r = await ping(from, to.ip);
      expect(r.code, `${r.stdout}${r.stderr}`).toBe(0);
      const tcp = await exec(from, ['nc', '-w', '5', to.ip, '7000']);
      expect(tcp.stdout, `${tcp.stdout}${tcp.stderr}`).toMatch(/^hello from /);
    }
    // the task is not on the host's network: its own interface holds the overlay address
    const addrs = await exec(web[0]!, ['ip', '-4', 'addr', 'show', 'eth0']);
    expect(addrs.stdout).toContain(`${web[0]!.ip}/24`);
  }, 300_000);

  it("another network's tasks are not reachable", async () => {
    const svc = await createOn('ov_b', 'ov_other', 1);
    other = await running(svc, 1);
    const b = other[0]!;
    const a = web.find((r) => r.host !== b.host)!;
    expect(other[0]!.task.networks[0]!.subnet).not.toBe(web[0]!.task.networks[0]!.subnet);
    expect((await ping(a, b.ip, 1)).code).not.toBe(0);
    expect((await ping(b, a.ip, 1)).code).not.toBe(0);
  }, 300_000);

  it('an agent SIGKILLed and started again keeps the ping answering', async () => {
    const target = web.find((r) => r.host === 'h2')!;
    const from = web.find((r) => r.host === 'h1')!;
    await s.c.kill('h2', 'SIGKILL');
    // the kernel keeps forwarding while no agent runs
    const during = await ping(from, target.ip);
    expect(during.code, during.stdout).toBe(0);
    await s.c.start('h2');
    await until(async () => (await s.c.info('h2').catch(() => undefined))?.nodeId, 'h2 daemon back', 60_000);
    // the restarted agent adopted the task's attachment: the same task still answers
    await until(async () => (await ping(from, target.ip, 1)).code === 0, 'ping after restart', 60_000);
    const tasks = await s.c.tasks('h1', target.task.serviceId);
    expect(tasks.find((t) => t.id === target.task.id)?.status?.state).toBe(TaskState.RUNNING);
    const after = await ping(target, from.ip);
    expect(after.code, after.stdout).toBe(0);
  }, 300_000);

  it("a host that is lost has its routes withdrawn from the others; back, they return", async () => {
    const pinned = await createOn('ov_a', 'ov_pinned', 1, ['node.hostname==h3']);
    extra.push(pinned.id);
    await running(pinned, 1);
    const h3 = s.c.host('h3').addr;
    const routesVia = async (host: string): Promise<string[]> =>
      (await must(['nsenter', `--net=${s.c.host(host).netnsPath}`, 'ip', 'route', 'show', 'proto', '83'])).split('\n').filter((l) => l.includes(`via ${h3} `));
    await until(async () => ((await routesVia('h1')).length > 0 ? true : undefined), 'h1 routes to h3\'s tasks', 30_000);
    await s.c.kill('h3', 'SIGKILL');
    // marked down after the disconnect grace (30 s here): withdrawn on h1 and h2
    await until(async () => ((await routesVia('h1')).length === 0 && (await routesVia('h2')).length === 0 ? true : undefined), 'h3 withdrawn', 120_000);
    await s.c.start('h3');
    await until(async () => ((await routesVia('h1')).length > 0 ? true : undefined), 'h3 back on h1', 120_000);
  }, 300_000);

  it('service rm leaves no namespace, link or nft table on any host', async () => {
    for (const id of extra) await s.c.control('h1', 'removeService', { serviceId: id }).catch(() => undefined);
    for (const r of [...web, ...other]) await s.c.control('h1', 'removeService', { serviceId: r.task.serviceId }).catch(() => undefined);
    for (const h of ['h1', 'h2', 'h3']) await until(async () => ((await residue(h)).length === 0 ? true : undefined), `${h} clean: ${(await residue(h)).join(', ')}`, 120_000);
  }, 300_000);
});
