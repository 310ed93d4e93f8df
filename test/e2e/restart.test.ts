// Restart policies on a 2-host lab cluster (h1 manager, h2 worker) with real daemons and real
// containers that really exit: condition none / on-failure / any, max attempts, the window that
// forgets old attempts, and the delay between a task's end and its replacement. The counts are
// read from the store through the Control API; `service ps` is the real CLI.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RestartPolicy_Condition, ServiceSpec, TaskState, type Service, type Task } from '../../proto/gen/types.js';
import { runShoal } from '../cli/service-harness.js';
import { TestCluster, until } from './cluster.js';

let c: TestCluster;

beforeAll(async () => {
  c = await TestCluster.up({ name: 'shoalrj', subnet: '10.231.66.0/24', hosts: 2 });
  await c.form(1);
}, 180_000);

afterAll(async () => {
  await c?.down();
}, 120_000);

const ms = (n: number) => ({ nanos: BigInt(n) * 1_000_000n });

interface Policy {
  condition: RestartPolicy_Condition;
  delayMs: number;
  maxAttempts?: number;
  windowMs?: number;
}

async function create(name: string, script: string, p: Policy, global = false): Promise<Service> {
  const spec = ServiceSpec.fromPartial({
    annotations: { name },
    task: {
      container: { image: 'busybox:latest', args: ['sh', '-c', script] },
      restart: { condition: p.condition, delay: ms(p.delayMs), maxAttempts: p.maxAttempts ?? 0, window: p.windowMs ? ms(p.windowMs) : undefined },
    },
  });
  spec.mode = global ? { $case: 'global', value: {} } : { $case: 'replicated', value: { replicas: 1 } };
  return (await c.control<{ service: Service }>('h1', 'createService', { spec })).service;
}

/** The service's tasks, oldest first (one slot: replicas 1). */
async function history(svc: string): Promise<Task[]> {
  const ts = await c.tasks('h1', svc);
  return ts.sort((a, b) => Number((a.meta?.createdAtMs ?? 0n) - (b.meta?.createdAtMs ?? 0n)) || Number((a.meta?.version ?? 0n) - (b.meta?.version ?? 0n)));
}

const finished = (t: Task) => (t.status?.state ?? 0) > TaskState.RUNNING;
const settled = (ts: Task[]) => ts.length > 0 && ts.every(finished) && ts.at(-1)!.desiredState === TaskState.COMPLETE;
const sleep = (n: number) => new Promise((r) => setTimeout(r, n));

/** Each replacement was created no sooner than `delayMs` after the task before it ended. */
function expectDelays(ts: Task[], delayMs: number): void {
  for (let i = 1; i < ts.length; i++) {
    const ended = ts[i - 1]!.status!.timestampMs;
    const created = ts[i]!.meta!.createdAtMs;
    expect(created - ended, `task ${i} created ${created - ended} ms after task ${i - 1} ended`).toBeGreaterThanOrEqual(BigInt(delayMs));
  }
}

describe('e2e: restart policies', () => {
  it('none: a task that exits 1 is not restarted; service ps shows it failed with its exit code', async () => {
    await create('rnone', 'exit 1', { condition: RestartPolicy_Condition.NONE, delayMs: 500 });
    const ts = await until(async () => {
      const h = await history('rnone');
      return settled(h) && h;
    }, 'rnone settled', 60_000);
    expect(ts).toHaveLength(1);
    expect(ts[0]!.status?.state).toBe(TaskState.FAILED);
    expect(ts[0]!.status?.exitCode).toBe(1);
    await sleep(2_000); // four delays: a restart would have shown by now
    expect(await history('rnone')).toHaveLength(1);
    const ps = await runShoal(['service', 'ps', 'rnone'], { SHOAL_RUN: c.host('h1').run });
    expect(ps.code, ps.stderr).toBe(0);
    expect(ps.stdout).toMatch(/rnone\.1 .*complete .*failed .*non-zero exit \(1\)/i);
  }, 90_000);

  it('on-failure, max attempts 2, delay 1s: started 3 times in all, then stays failed; delays respected', async () => {
    await create('rfail', 'exit 3', { condition: RestartPolicy_Condition.ON_FAILURE, delayMs: 1_000, maxAttempts: 2 });
    const ts = await until(async () => {
      const h = await history('rfail');
      return settled(h) && h;
    }, 'rfail settled', 60_000);
    expect(ts).toHaveLength(3);
    for (const t of ts) {
      expect(t.status?.state).toBe(TaskState.FAILED);
      expect(t.status?.exitCode).toBe(3);
      expect(t.status?.containerId).not.toBe(''); // each one really ran
    }
    expect(new Set(ts.map((t) => t.status!.containerId)).size).toBe(3);
    expect(ts.map((t) => t.desiredState)).toEqual([TaskState.SHUTDOWN, TaskState.SHUTDOWN, TaskState.COMPLETE]);
    expectDelays(ts, 1_000);
    await sleep(3_000);
    expect(await history('rfail')).toHaveLength(3);
  }, 90_000);

  it('on-failure: an exit 0 is not restarted', async () => {
    await create('rclean', 'exit 0', { condition: RestartPolicy_Condition.ON_FAILURE, delayMs: 500 });
    const ts = await until(async () => {
      const h = await history('rclean');
      return settled(h) && h;
    }, 'rclean settled', 60_000);
    expect(ts).toHaveLength(1);
    expect(ts[0]!.status?.state).toBe(TaskState.COMPLETE);
    await sleep(2_000);
    expect(await history('rclean')).toHaveLength(1);
  }, 90_000);

  it('any: an exit 0 is restarted, after the delay each time', async () => {
    await create('rany', 'exit 0', { condition: RestartPolicy_Condition.ANY, delayMs: 1_000 });
    const ts = await until(async () => {
      const h = await history('rany');
      return h.filter(finished).length >= 3 && h;
    }, 'rany restarted twice', 60_000);
    const done = ts.filter(finished);
    for (const t of done) expect(t.status?.state).toBe(TaskState.COMPLETE);
    expectDelays(done, 1_000);
    await c.control('h1', 'removeService', { serviceId: 'rany' });
  }, 90_000);

  it('window: attempts older than the window do not count; without it the same task gives up', async () => {
    // Each task runs 2 s then fails; with the 2 s delay its attempts are >= 4 s apart, older than
    // a 3 s window: one attempt allowed per window means it keeps restarting. The same task with
    // a 60 s window has used its one attempt and stays failed after the second run.
    const script = 'sleep 2; exit 1';
    await create('rwin', script, { condition: RestartPolicy_Condition.ON_FAILURE, delayMs: 2_000, maxAttempts: 1, windowMs: 3_000 });
    await create('rwinlong', script, { condition: RestartPolicy_Condition.ON_FAILURE, delayMs: 2_000, maxAttempts: 1, windowMs: 60_000 });
    const seen = new Set<string>();
    await until(async () => {
      for (const t of (await history('rwin')).filter(finished)) seen.add(t.id);
      return seen.size >= 4;
    }, 'rwin failed 4 times', 90_000);
    const long = await history('rwinlong');
    expect(settled(long)).toBe(true);
    expect(long).toHaveLength(2);
    // still going: never settled, and a fifth task comes after the delay
    const win = await until(async () => {
      const h = await history('rwin');
      return h.some((t) => t.desiredState === TaskState.RUNNING) && h;
    }, 'rwin restarted again', 30_000);
    expect(win.some((t) => t.desiredState === TaskState.COMPLETE)).toBe(false);
    expectDelays(win.filter(finished), 2_000);
    await c.control('h1', 'removeService', { serviceId: 'rwin' });
  }, 120_000);

  it('global: each node restarts its own task per the policy and settles on its own', async () => {
    await create('rglobal', 'exit 4', { condition: RestartPolicy_Condition.ON_FAILURE, delayMs: 500, maxAttempts: 1 }, true);
    const nodes = (await c.control<{ nodes: { id: string }[] }>('h1', 'listNodes', {})).nodes.map((n) => n.id).sort();
    const ts = await until(async () => {
      const h = await history('rglobal'); // oldest first, as settled() reads it
      return h.length === 4 && nodes.every((n) => settled(h.filter((t) => t.nodeId === n))) && h;
    }, 'rglobal settled on both nodes', 60_000);
    for (const n of nodes) expect(ts.filter((t) => t.nodeId === n && t.status?.exitCode === 4)).toHaveLength(2);
    await sleep(2_000);
    expect(await c.tasks('h1', 'rglobal')).toHaveLength(4);
  }, 90_000);

  it('an unhealthy task counts as failed: restarted per the policy, then settled, and service ps says why', async () => {
    const spec = ServiceSpec.fromPartial({
      annotations: { name: 'rsick' },
      task: {
        container: { image: 'busybox:latest', args: ['sleep', '100000'], stopGracePeriod: ms(500), healthcheck: { test: ['CMD-SHELL', 'exit 1'], interval: ms(300), retries: 1 } },
        restart: { condition: RestartPolicy_Condition.ON_FAILURE, delay: ms(500), maxAttempts: 1 },
      },
    });
    spec.mode = { $case: 'replicated', value: { replicas: 1 } };
    await c.control('h1', 'createService', { spec });
    const ts = await until(async () => {
      const h = await history('rsick');
      return settled(h) && h;
    }, 'rsick settled', 90_000);
    expect(ts).toHaveLength(2);
    for (const t of ts) expect(t.status?.err).toMatch(/unhealthy/);
    const ps = await runShoal(['service', 'ps', 'rsick'], { SHOAL_RUN: c.host('h1').run });
    expect(ps.stdout).toMatch(/rsick\.1 .*complete .*failed .*unhealthy/i);
  }, 120_000);
});
