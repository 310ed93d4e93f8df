// `service create --mode replicated-job|global-job` (cli/commands/service-job.ts): the mode on
// the spec, and when a job's current run counts as done, completed or failed.
import { describe, expect, it } from 'vitest';
import { jobProgress, setJobMode } from '../../cli/commands/service-job.js';
import { RestartPolicy_Condition, Service, ServiceSpec, Task, TaskState } from '../../proto/gen/types.js';
import { expectOneLineError, runShoal } from './service-harness.js';

const spec = (): ServiceSpec => ServiceSpec.fromPartial({ annotations: { name: 'j' }, task: { container: { image: 'busybox' }, restart: {} } });

function task(slot: number, nodeId: string, state: TaskState, desired: TaskState, specVersion = 2n): Task {
  return Task.fromPartial({ id: `${slot}${nodeId}${state}${desired}${specVersion}`, slot, nodeId, specVersion, desiredState: desired, status: { state } });
}

describe('service create: jobs', () => {
  it('replicated-job: --replicas completions, --max-concurrent at once (default all); restarts on failure by default', () => {
    const s = spec();
    setJobMode(s, 'replicated-job', { replicas: '4', maxConcurrent: '2' });
    expect(s.mode).toEqual({ $case: 'replicatedJob', value: { totalCompletions: 4, maxConcurrent: 2 } });
    expect(s.task!.restart!.condition).toBe(RestartPolicy_Condition.ON_FAILURE);
    const d = spec();
    setJobMode(d, 'replicated-job', { replicas: '3' });
    expect(d.mode).toEqual({ $case: 'replicatedJob', value: { totalCompletions: 3, maxConcurrent: 3 } });
    const n = spec();
    n.task!.restart!.condition = RestartPolicy_Condition.NONE;
    setJobMode(n, 'global-job', { restartCondition: 'none' });
    expect(n.mode).toEqual({ $case: 'globalJob', value: {} });
    expect(n.task!.restart!.condition).toBe(RestartPolicy_Condition.NONE);
    expect(() => setJobMode(spec(), 'replicated-job', { replicas: '0' })).toThrow(/at least 1/);
    expect(() => setJobMode(spec(), 'replicated-job', { maxConcurrent: 'x' })).toThrow(/--max-concurrent/);
  });

  it('a replicated job is done once every slot settled; failures and earlier runs are told apart', () => {
    const svc = Service.fromPartial({ specVersion: 2n, spec: { mode: { $case: 'replicatedJob', value: { totalCompletions: 3, maxConcurrent: 2 } } } });
    const C = TaskState.COMPLETE;
    const running = [task(1, 'a', C, C), task(2, 'a', TaskState.RUNNING, TaskState.RUNNING), task(1, 'a', C, C, 1n), task(2, 'a', C, C, 1n), task(3, 'a', C, C, 1n)];
    expect(jobProgress(svc, running, 0)).toEqual({ completed: 1, failed: 0, want: 3, done: false });
    const ended = [task(1, 'a', C, C), task(2, 'a', TaskState.FAILED, TaskState.SHUTDOWN), task(2, 'a', C, C), task(3, 'a', TaskState.FAILED, C)];
    expect(jobProgress(svc, ended, 0)).toEqual({ completed: 2, failed: 1, want: 3, done: true });
  });

  it('a global job is done when its tasks on every node ended, or when no node took one', () => {
    const svc = Service.fromPartial({ specVersion: 2n, spec: { mode: { $case: 'globalJob', value: {} } } });
    const C = TaskState.COMPLETE;
    expect(jobProgress(svc, [task(0, 'n1', C, C), task(0, 'n2', TaskState.STARTING, TaskState.RUNNING)], 0)).toMatchObject({ completed: 1, want: 2, done: false });
    // n2's task failed and waits out its restart delay: not done
    expect(jobProgress(svc, [task(0, 'n1', C, C), task(0, 'n2', TaskState.FAILED, TaskState.SHUTDOWN)], 0)).toMatchObject({ completed: 1, failed: 0, done: false });
    expect(jobProgress(svc, [task(0, 'n1', C, C), task(0, 'n2', C, C)], 0)).toEqual({ completed: 2, failed: 0, want: 2, done: true });
    expect(jobProgress(svc, [], 1_000).done).toBe(false);
    expect(jobProgress(svc, [], 5_000)).toEqual({ completed: 0, failed: 0, want: 0, done: true });
  });

  it('the CLI refuses an unknown mode and --max-concurrent outside replicated-job, before connecting', async () => {
    const env = { SHOAL_RUN: '/nonexistent/shoalrj' };
    expectOneLineError(await runShoal(['service', 'create', '--mode', 'job', 'busybox'], env), /--mode is replicated, global, replicated-job or global-job, not "job"/);
    expectOneLineError(await runShoal(['service', 'create', '--mode', 'global-job', '--max-concurrent', '2', 'busybox'], env), /--max-concurrent applies to --mode replicated-job only/);
    expectOneLineError(await runShoal(['service', 'create', '--max-concurrent', '2', 'busybox'], env), /--max-concurrent applies to --mode replicated-job only/);
  });
});
