// Leaving the cluster on a 3-manager + 1-worker lab with real daemons and containers: a worker's
// leave removes every container of its tasks (no record, no shim left), the node goes down and
// its tasks are replaced, and it can join again as a new node; a manager's leave is refused
// without --force (and names the quorum cost when there is one), with --force it leaves the
// Raft group first, writes keep working and `node rm` removes it; when no leader can remove it,
// `shoal leave --force` still leaves and prints what is left to do.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ContainerRuntime } from '../../agent/runtime/index.js';
import { DaemonClient } from '../../proto/gen/daemon.js';
import { NodeStatus_State, ServiceSpec, type Node } from '../../proto/gen/types.js';
import { runShoal } from '../cli/service-harness.js';
import { TestCluster, until } from './cluster.js';

let c: TestCluster;
let workerToken = '';
const managers = ['h1', 'h2', 'h3'];
/** The managers after one of them left. */
let remaining: string[] = [];

beforeAll(async () => {
  c = await TestCluster.up({ name: 'shoallvleave', subnet: '10.231.62.0/24', hosts: 4 });
  workerToken = (await c.form(3)).workerToken;
  // sleep as PID 1 ignores SIGTERM: a short grace period keeps the leave quick
  const spec = ServiceSpec.fromPartial({
    annotations: { name: 'web' },
    task: { container: { image: 'busybox:latest', args: ['sleep', '100000'], stopGracePeriod: { nanos: 2_000_000_000n } }, restart: { condition: 0 } },
  });
  spec.mode = { $case: 'replicated', value: { replicas: 4 } };
  await c.control('h1', 'createService', { spec });
  await until(async () => (await c.running('h1', 'web')).length === 4, 'web 4/4');
}, 240_000);

afterAll(async () => {
  await c?.down();
}, 120_000);

/** Task containers a host's runtime still has records of (running or not). */
async function containers(host: string): Promise<number> {
  const h = c.host(host);
  const rt = new ContainerRuntime({ stateDir: join(h.run, 'containers'), cgroupParent: h.cgroupParent, logger: pino({ level: 'silent' }) });
  return (await rt.list()).length;
}

/** Processes whose command line names the host's container state (its shims and their children). */
async function shims(host: string): Promise<number[]> {
  const dir = join(c.host(host).run, 'containers');
  const out: number[] = [];
  for (const p of await readdir('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    const cmd = await readFile(`/proc/${p}/cmdline`, 'utf8').catch(() => '');
    if (cmd.includes(dir)) out.push(Number(p));
  }
  return out;
}

async function nodes(via = 'h1'): Promise<Node[]> {
  return (await c.control<{ nodes: Node[] }>(via, 'listNodes', {})).nodes;
}

/** Daemon.Leave; resolves with the daemon's warnings. */
function leave(host: string, force: boolean): Promise<string[]> {
  const client = new DaemonClient(`unix:${c.socket(host)}`, credentials.createInsecure());
  return new Promise<string[]>((resolve, reject) => {
    client.leave({ force }, new Metadata(), { deadline: new Date(Date.now() + 110_000) }, (err: ServiceError | null, res) => (err ? reject(err) : resolve(res.warnings)));
  }).finally(() => client.close());
}

describe('e2e: leave', () => {
  it('a worker leaves: its containers are removed, the node is down, its tasks run elsewhere; it joins again', async () => {
    await until(async () => (await c.running('h1', 'web')).some((t) => t.node === 'h4'), 'a web task on h4');
    expect(await containers('h4')).toBeGreaterThan(0);
    expect((await shims('h4')).length).toBeGreaterThan(0);
    const oldId = (await c.info('h4')).nodeId;

    const left = await leave('h4', false);
    expect(left, left.join('\n')).toEqual([]);
    // the daemon answered only after the containers were gone
    expect(await containers('h4')).toBe(0);
    expect(await shims('h4')).toEqual([]);
    const info = await c.info('h4');
    expect([info.state, info.nodeId]).toEqual(['inactive', '']);

    await until(async () => (await nodes()).find((n) => n.id === oldId)?.status?.state === NodeStatus_State.DOWN, 'h4 down');
    await until(async () => {
      const r = await c.running('h1', 'web');
      return r.length === 4 && r.every((t) => t.node !== 'h4');
    }, 'web replaced away from h4');

    const again = await c.join('h4', workerToken, 'h2');
    expect(again.nodeId).not.toBe(oldId);
    await until(async () => (await nodes()).find((n) => n.id === again.nodeId)?.status?.state === NodeStatus_State.READY, 'h4 ready as a new node');
  }, 180_000);

  it('the leader: refused without --force; with it, it leaves the Raft group first, writes still work, node rm removes it', async () => {
    const leader = await c.leader(managers);
    const rest = managers.filter((m) => m !== leader);
    const refused = await leave(leader, false).then(() => undefined, (e: ServiceError) => e);
    expect(refused?.details).toMatch(/manager/);
    expect(refused?.details).toMatch(/shoal node demote/);
    expect(refused?.details).toMatch(/--force/);
    expect(refused?.details).not.toMatch(/quorum/); // two of three remain
    expect((await c.info(leader)).state).toBe('active');
    const gone = (await c.info(leader)).nodeId;

    // leadership moves first, then the new leader removes the member (a single safe change)
    const leaderLeft = await leave(leader, true);
    expect(leaderLeft, leaderLeft.join('\n')).toEqual([]);
    expect((await c.info(leader)).state).toBe('inactive');
    expect(await containers(leader)).toBe(0);
    await until(async () => {
      const infos = await Promise.all(rest.map((m) => c.info(m)));
      return infos.every((i) => i.managers.length === 2);
    }, 'two raft members left');
    await c.leader(rest);

    await c.createService(rest[0]!, 'after-leave', { replicas: 1 });
    await until(async () => (await c.running(rest[1]!, 'after-leave')).length === 1, 'after-leave 1/1');
    await until(async () => (await c.running(rest[0]!, 'web')).length === 4, 'web 4/4 without the departed manager');

    await until(() => c.control(rest[1]!, 'removeNode', { nodeId: gone }).then(() => true, () => false), 'node rm of the departed manager');
    expect((await nodes(rest[0])).some((n) => n.id === gone)).toBe(false);
    remaining = rest;
  }, 180_000);

  it('a manager whose leave would cost the quorum is told so, and with --force (CLI) leaves with warnings', async () => {
    const [stays, dies] = remaining;
    await c.kill(dies!, 'SIGKILL');
    try {
      const refused = await leave(stays!, false).then(() => undefined, (e: ServiceError) => e);
      expect(refused?.details).toMatch(/quorum/);
      expect(refused?.details).toMatch(/0 reachable manager\(s\) of 1/);
      expect((await c.info(stays!)).state).toBe('active');

      // the last act of this cluster: no leader can remove the member, the node leaves anyway
      const r = await runShoal(['leave', '--force'], { SHOAL_RUN: c.host(stays!).run });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe('Node left the cluster.\n');
      expect(r.stderr).toMatch(/^Warning: leaving leaves 0 reachable manager\(s\) of 1/m);
      expect(r.stderr).toMatch(/^Warning: This node is still a member of the managers' Raft group .*shoal node demote .*shoal node rm --force/m);
      expect((await c.info(stays!)).state).toBe('inactive');
    } finally {
      await c.start(dies!);
    }
  }, 150_000);
});
