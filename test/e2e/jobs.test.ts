// Jobs on a 3-host lab cluster (3 managers) with real daemons and containers:
// a replicated job runs total_completions tasks, at most max_concurrent at once, and nothing
// after; a failing job task follows its restart policy; a global job completes once per node;
// `service update --force` runs a job again; a new leader carries a job on without running its
// completed slots again. Counts come from the store via the Control API.
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Mount_Type, RestartPolicy_Condition, ServiceSpec, TaskState, type Service, type Task } from '../../proto/gen/types.js';
import { labSuite, until } from './cluster.js';

const lab = labSuite({ name: 'shoalrj2', subnet: '10.231.67.0/24', hosts: 3, managers: 3, tmpPrefix: 'shoalrj-', upMs: 180_000, downMs: 120_000 });

const ms = (n: number) => ({ nanos: BigInt(n) * 1_000_000n });
const sleep = (n: number) => new Promise((r) => setTimeout(r, n));
const finished = (t: Task) => (t.status?.state ?? 0) > TaskState.RUNNING;
const live = (t: Task) => t.desiredState <= TaskState.RUNNING && !finished(t);
const complete = (t: Task) => t.status?.state === TaskState.COMPLETE;
const { shoal } = lab;

interface JobOptions {
  mode: ServiceSpec['mode'];
  script: string;
  condition?: RestartPolicy_Condition;
  maxAttempts?: number;
  delayMs?: number;
  bind?: string;
  constraints?: string[];
}

async function createJob(name: string, o: JobOptions): Promise<Service> {
  const spec = ServiceSpec.fromPartial({
    annotations: { name },
    task: {
      container: {
        image: 'busybox:latest',
        args: ['sh', '-c', o.script],
        mounts: o.bind ? [{ type: Mount_Type.BIND, source: o.bind, target: '/shared' }] : [],
      },
      placement: { constraints: o.constraints ?? [] },
      restart: { condition: o.condition ?? RestartPolicy_Condition.ON_FAILURE, delay: ms(o.delayMs ?? 500), maxAttempts: o.maxAttempts ?? 0 },
    },
  });
  spec.mode = o.mode;
  return (await lab.c.control<{ service: Service }>('h1', 'createService', { spec })).service;
}

async function getService(name: string): Promise<Service> {
  return (await lab.c.control<{ service: Service }>('h1', 'getService', { serviceId: name })).service;
}

/** Waits for `cond` over the job's tasks, checking at every look that at most `most` run at once. */
async function watchJob(name: string, most: number, cond: (ts: Task[]) => boolean, what: string): Promise<{ tasks: Task[]; peak: number }> {
  let peak = 0;
  const tasks = await until(async () => {
    const ts = await lab.c.tasks('h1', name);
    const running = ts.filter(live).length;
    peak = Math.max(peak, running);
    expect(running, `${name}: ${running} tasks running at once`).toBeLessThanOrEqual(most);
    return cond(ts) && ts;
  }, what, 90_000);
  return { tasks, peak };
}

describe('e2e: jobs', () => {
  it('replicated job, 4 completions, 2 at a time: 4 complete tasks, then nothing; --force runs it again', async () => {
    // Each container also counts, in a directory every lab host shares, the containers running
    // beside it when it starts: the concurrency as the containers saw it, not only as the store says.
    const shared = join(lab.dir, 'conc');
    mkdirSync(join(shared, 'run'), { recursive: true });
    const script = 'm=/shared/run/$(cat /proc/sys/kernel/random/uuid); touch $m; ls /shared/run | wc -l >> /shared/seen; sleep 1; rm $m';
    await createJob('rjob', { mode: { $case: 'replicatedJob', value: { totalCompletions: 4, maxConcurrent: 2 } }, script, bind: shared });
    const first = await watchJob('rjob', 2, (ts) => ts.filter(complete).length === 4, '4 completions');
    expect(first.peak).toBe(2); // it did use its concurrency
    const seen = () => readFileSync(join(shared, 'seen'), 'utf8').trim().split(/\s+/).map(Number);
    expect(seen()).toHaveLength(4);
    expect(Math.max(...seen())).toBeLessThanOrEqual(2);
    await sleep(2_000); // four restart delays: a restart of a completed task would show
    let ts = await lab.c.tasks('h1', 'rjob');
    expect(ts).toHaveLength(4);
    expect(ts.map((t) => t.slot).sort()).toEqual([1, 2, 3, 4]);
    for (const t of ts) {
      expect(t.status?.state).toBe(TaskState.COMPLETE);
      expect(t.desiredState).toBe(TaskState.COMPLETE);
    }
    const ls = await shoal(['service', 'ls']);
    expect(ls.code, ls.stderr).toBe(0);
    expect(ls.stdout).toMatch(/rjob\s+replicated job\s+0\/2 \(4\/4 completed\)/);

    // A new iteration: the CLI's --force bumps the spec, the job runs 4 more tasks.
    const before = (await getService('rjob')).specVersion;
    // without -d the CLI follows the new run to its end (a job never shows "N/M running")
    const up = await shoal(['service', 'update', '--force', 'rjob']);
    expect(up.code, up.stderr).toBe(0);
    expect(up.stdout).toMatch(/rjob: 4\/4 completed/);
    const now = (await getService('rjob')).specVersion;
    expect(now).toBeGreaterThan(before);
    await watchJob('rjob', 2, (x) => x.filter((t) => complete(t) && t.specVersion === now).length === 4, 'second run complete');
    await sleep(2_000);
    ts = await lab.c.tasks('h1', 'rjob');
    expect(ts).toHaveLength(8);
    const rerun = ts.filter((t) => t.specVersion === now);
    expect(rerun.map((t) => t.slot).sort()).toEqual([1, 2, 3, 4]);
    for (const t of rerun) expect(t.jobIteration).toBe(now);
    expect(seen()).toHaveLength(8);
    expect(Math.max(...seen())).toBeLessThanOrEqual(2);
  }, 180_000);

  it('a failing job task is restarted per its policy: one that fails once then succeeds, one that always fails', async () => {
    // The bind-mounted directory is the same on every lab host: the first run leaves a mark
    // and fails, the restarted one finds it and succeeds.
    await createJob('rjonce', { mode: { $case: 'replicatedJob', value: { totalCompletions: 1, maxConcurrent: 1 } }, script: 'if [ -e /shared/mark ]; then exit 0; fi; touch /shared/mark; exit 1', bind: lab.dir });
    await createJob('rjbad', { mode: { $case: 'replicatedJob', value: { totalCompletions: 1, maxConcurrent: 1 } }, script: 'exit 2', maxAttempts: 2 });
    const once = await watchJob('rjonce', 1, (ts) => ts.some(complete), 'rjonce completed');
    expect(once.tasks.map((t) => t.status?.state).sort()).toEqual([TaskState.COMPLETE, TaskState.FAILED]);
    const bad = await watchJob('rjbad', 1, (ts) => ts.length === 3 && ts.every(finished) && ts.some((t) => t.desiredState === TaskState.COMPLETE), 'rjbad gave up');
    for (const t of bad.tasks) expect(t.status?.exitCode).toBe(2);
    await sleep(2_000);
    expect(await lab.c.tasks('h1', 'rjbad')).toHaveLength(3);
    expect(await lab.c.tasks('h1', 'rjonce')).toHaveLength(2);
  }, 120_000);

  it('global job: one completed task per node, nothing after; a forced update runs it again', async () => {
    await createJob('gjob', { mode: { $case: 'globalJob', value: {} }, script: 'true' });
    const nodes = (await lab.c.control<{ nodes: { id: string }[] }>('h1', 'listNodes', {})).nodes.map((n) => n.id).sort();
    expect(nodes).toHaveLength(3);
    await watchJob('gjob', 3, (ts) => ts.filter(complete).length === 3, 'gjob on 3 nodes');
    await sleep(2_000);
    let ts = await lab.c.tasks('h1', 'gjob');
    expect(ts).toHaveLength(3);
    expect(ts.map((t) => t.nodeId).sort()).toEqual(nodes);
    expect(ts.every((t) => t.desiredState === TaskState.COMPLETE)).toBe(true);

    const svc = await getService('gjob');
    const spec = ServiceSpec.fromPartial(svc.spec!);
    spec.task!.forceUpdate += 1n;
    await lab.c.control('h1', 'updateService', { serviceId: svc.id, version: svc.meta!.version, spec });
    const now = (await getService('gjob')).specVersion;
    await watchJob('gjob', 3, (x) => x.filter((t) => complete(t) && t.specVersion === now).length === 3, 'gjob again on 3 nodes');
    await sleep(2_000);
    ts = await lab.c.tasks('h1', 'gjob');
    expect(ts).toHaveLength(6);
    expect(ts.filter((t) => t.specVersion === now).map((t) => t.nodeId).sort()).toEqual(nodes);
  }, 120_000);

  it('service create --mode replicated-job waits for the completions; a job that fails exits 1 and says so', async () => {
    const ok = await shoal(['service', 'create', '--name', 'cjob', '--mode', 'replicated-job', '--replicas', '3', '--max-concurrent', '2', 'busybox', 'true']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/cjob: 3\/3 completed\n[0-9a-z]{25}\n$/);
    const svc = await getService('cjob');
    expect(svc.spec!.mode).toEqual({ $case: 'replicatedJob', value: { totalCompletions: 3, maxConcurrent: 2 } });
    expect(svc.spec!.task!.restart!.condition).toBe(RestartPolicy_Condition.ON_FAILURE);
    expect((await lab.c.tasks('h1', 'cjob')).filter(complete)).toHaveLength(3);

    const bad = await shoal(['service', 'create', '--name', 'cbad', '--mode', 'global-job', '--restart-max-attempts', '1', '--restart-delay', '500ms', 'busybox', 'false']);
    expect(bad.code, bad.stdout).toBe(1);
    expect(bad.stderr).toMatch(/cbad: the job ended with 3 of 3 tasks failed; see `shoal service ps cbad`/);
    const ts = await lab.c.tasks('h1', 'cbad');
    expect(ts).toHaveLength(6); // one restart on each of the 3 nodes
    expect(ts.every((t) => t.status?.state === TaskState.FAILED && t.status.exitCode === 1)).toBe(true);
  }, 120_000);

  it('SIGKILL the leader mid-job: the new leader finishes the job and never runs a completed slot again', async () => {
    await createJob('fjob', { mode: { $case: 'replicatedJob', value: { totalCompletions: 6, maxConcurrent: 2 } }, script: 'sleep 2' });
    await watchJob('fjob', 2, (ts) => ts.filter(complete).length >= 2, '2 completions');
    const leader = await lab.c.leader(['h1', 'h2', 'h3']);
    const doneBefore = (await lab.c.tasks('h1', 'fjob')).filter((t) => t.desiredState === TaskState.COMPLETE).map((t) => t.slot);
    expect(doneBefore.length).toBeGreaterThanOrEqual(2);
    await lab.c.kill(leader, 'SIGKILL');
    const rest = ['h1', 'h2', 'h3'].filter((h) => h !== leader);
    await lab.c.leader(rest, 30_000);
    const via = rest[0]!;
    // each slot ends with a completed task of this run (the dead host's tasks are run elsewhere)
    const ts = await until(async () => {
      const x = await lab.c.tasks(via, 'fjob').catch(() => [] as Task[]);
      const slots = new Set(x.filter((t) => t.desiredState === TaskState.COMPLETE && complete(t)).map((t) => t.slot));
      return slots.size === 6 && x;
    }, 'fjob 6 slots completed under the new leader', 90_000);
    for (const slot of doneBefore) expect(ts.filter((t) => t.slot === slot), `slot ${slot} ran again`).toHaveLength(1);
    await lab.c.start(leader);
  }, 150_000);

  it('a leader change gives a failing task neither a fresh restart budget nor a shorter delay', async () => {
    const managers = ['h1', 'h2', 'h3'];
    const leader = await lab.c.leader(managers);
    const rest = managers.filter((h) => h !== leader);
    const via = rest[0]!;
    const spec = { mode: { $case: 'replicatedJob' as const, value: { totalCompletions: 1, maxConcurrent: 1 } }, script: 'exit 5', maxAttempts: 2, delayMs: 6_000, constraints: [`node.hostname!=${leader}`] };
    const svc = ServiceSpec.fromPartial({ annotations: { name: 'fbad' }, task: { container: { image: 'busybox:latest', args: ['sh', '-c', spec.script] }, placement: { constraints: spec.constraints }, restart: { condition: RestartPolicy_Condition.ON_FAILURE, delay: ms(spec.delayMs), maxAttempts: spec.maxAttempts } } });
    svc.mode = spec.mode;
    await lab.c.control(via, 'createService', { spec: svc });
    // the first failure is decided by this leader, which then dies during the restart delay
    await until(async () => (await lab.c.tasks(via, 'fbad')).some((t) => t.desiredState === TaskState.SHUTDOWN && t.status?.exitCode === 5), 'first failure restarted', 60_000);
    await lab.c.kill(leader, 'SIGKILL');
    await lab.c.leader(rest, 30_000);
    const ts = await until(async () => {
      const x = await lab.c.tasks(via, 'fbad').catch(() => [] as Task[]);
      return x.some((t) => t.desiredState === TaskState.COMPLETE) && x;
    }, 'fbad gave up under the new leader', 60_000);
    await sleep(7_000); // more than the delay: a restart past the budget would show
    const all = await lab.c.tasks(via, 'fbad');
    expect(all.filter((t) => t.status?.exitCode === 5)).toHaveLength(3); // 1 + max attempts 2, across both leaders
    expect(all).toHaveLength(ts.length);
    // the restart the dead leader decided still waited its 6 s (an election takes less)
    all.sort((a, b) => Number(a.meta!.createdAtMs - b.meta!.createdAtMs));
    for (let i = 1; i < all.length; i++) expect(all[i]!.meta!.createdAtMs - all[i - 1]!.status!.timestampMs).toBeGreaterThanOrEqual(6_000n);
    await lab.c.start(leader);
  }, 150_000);
});
