// The step function over a scripted fake controller: each row is (desired state, current
// state, what the controller does) -> (next state, fields of the status, controller calls).
import { describe, expect, it } from 'vitest';
import { Task, TaskState, TaskStatus } from '../../../proto/gen/types.js';
import { step, TaskRejectedError, type Controller, type ExitInfo } from '../../../agent/executor/index.js';

class FakeController implements Controller {
  calls: string[] = [];
  constructor(private readonly script: { prepare?: Error; start?: Error; exit?: ExitInfo | Error; shutdown?: Error } = {}) {}
  async prepare(): Promise<void> {
    this.calls.push('prepare');
    if (this.script.prepare) throw this.script.prepare;
  }
  async start(): Promise<{ containerId: string; pid: number }> {
    this.calls.push('start');
    if (this.script.start) throw this.script.start;
    return { containerId: 'c1', pid: 42 };
  }
  async wait(signal?: AbortSignal): Promise<ExitInfo> {
    this.calls.push('wait');
    const exit = this.script.exit;
    if (exit instanceof Error) throw exit;
    if (exit) return exit;
    return new Promise((_, reject) => signal?.addEventListener('abort', () => reject(new Error('aborted'))));
  }
  async shutdown(): Promise<void> {
    this.calls.push('shutdown');
    if (this.script.shutdown) throw this.script.shutdown;
  }
  async remove(): Promise<void> {
    this.calls.push('remove');
  }
}

const task = (desiredState: TaskState): Task => Task.fromPartial({ id: 't1', desiredState, spec: { container: { image: 'busybox' } } });
const status = (state: TaskState, extra: Partial<TaskStatus> = {}): TaskStatus => TaskStatus.fromPartial({ state, ...extra });
const now = (): number => 1_000;

type Row = [string, TaskState, TaskState, ConstructorParameters<typeof FakeController>[0], TaskState, Partial<TaskStatus>, string[]];
const R = TaskState.RUNNING;
const S = TaskState.SHUTDOWN;
const rows: Row[] = [
  ['assigned -> accepted', R, TaskState.ASSIGNED, {}, TaskState.ACCEPTED, { message: 'accepted' }, []],
  ['accepted -> preparing', R, TaskState.ACCEPTED, {}, TaskState.PREPARING, {}, []],
  ['preparing -> starting', R, TaskState.PREPARING, {}, TaskState.STARTING, {}, ['prepare']],
  ['image missing -> rejected', R, TaskState.PREPARING, { prepare: new TaskRejectedError('image nope not found on node h1') }, TaskState.REJECTED, { err: 'image nope not found on node h1' }, ['prepare']],
  ['starting -> running', R, TaskState.STARTING, {}, R, { containerId: 'c1', pid: 42, message: 'started' }, ['start']],
  ['start fails -> failed', R, TaskState.STARTING, { start: new Error('exec: not found') }, TaskState.FAILED, { err: 'exec: not found' }, ['start']],
  ['exit 0 -> complete', R, R, { exit: { exitCode: 0, oomKilled: false, signal: null } }, TaskState.COMPLETE, { exitCode: 0 }, ['wait']],
  ['exit 3 -> failed', R, R, { exit: { exitCode: 3, oomKilled: false, signal: null } }, TaskState.FAILED, { exitCode: 3, err: 'task: non-zero exit (3)' }, ['wait']],
  ['oom -> failed', R, R, { exit: { exitCode: 137, oomKilled: true, signal: 'SIGKILL' } }, TaskState.FAILED, { exitCode: 137, oomKilled: true }, ['wait']],
  ['container lost -> failed', R, R, { exit: new Error('container gone') }, TaskState.FAILED, { err: 'container gone' }, ['wait']],
  ['running, desired shutdown -> shutdown', S, R, {}, S, { message: 'shutdown' }, ['shutdown']],
  ['never started, desired shutdown -> shutdown without controller', S, TaskState.ASSIGNED, {}, S, {}, []],
  ['desired remove stops too', TaskState.REMOVE, TaskState.STARTING, {}, S, {}, ['shutdown']],
  ['shutdown fails -> failed', S, R, { shutdown: new Error('EPERM') }, TaskState.FAILED, { err: 'EPERM' }, ['shutdown']],
];

describe('step', () => {
  it.each(rows)('%s', async (_name, desired, from, script, to, fields, calls) => {
    const ctl = new FakeController(script);
    const out = await step(task(desired), status(from, { containerId: from === R ? 'c1' : '' }), ctl, { now });
    expect(out.state).toBe(to);
    expect(out).toMatchObject(fields);
    expect(out.timestampMs).toBe(1_000n);
    expect(ctl.calls).toEqual(calls);
  });

  it('returns the same status object for a terminal task, whatever is desired', async () => {
    for (const state of [TaskState.COMPLETE, TaskState.FAILED, TaskState.SHUTDOWN, TaskState.REJECTED]) {
      for (const desired of [R, S, TaskState.REMOVE]) {
        const ctl = new FakeController();
        const cur = status(state);
        expect(await step(task(desired), cur, ctl, { now })).toBe(cur);
        expect(ctl.calls).toEqual([]);
      }
    }
  });

  it('returns the current status unchanged when its wait is aborted (desired state changed)', async () => {
    const ctl = new FakeController();
    const ac = new AbortController();
    const cur = status(R, { containerId: 'c1', pid: 42 });
    const p = step(task(R), cur, ctl, { now, signal: ac.signal });
    ac.abort();
    expect(await p).toBe(cur);
  });

  it('carries the container id and pid into the final status', async () => {
    const ctl = new FakeController({ exit: { exitCode: 0, oomKilled: false, signal: null } });
    const out = await step(task(R), status(R, { containerId: 'c9', pid: 7 }), ctl, { now });
    expect(out).toMatchObject({ state: TaskState.COMPLETE, containerId: 'c9', pid: 7 });
  });

  it('walks a task from ASSIGNED to COMPLETE one transition per call', async () => {
    const ctl = new FakeController({ exit: { exitCode: 0, oomKilled: false, signal: null } });
    const seen: TaskState[] = [];
    let cur = status(TaskState.ASSIGNED);
    for (;;) {
      const next = await step(task(R), cur, ctl, { now });
      if (next === cur) break;
      seen.push(next.state);
      cur = next;
    }
    expect(seen).toEqual([TaskState.ACCEPTED, TaskState.PREPARING, TaskState.STARTING, R, TaskState.COMPLETE]);
    expect(ctl.calls).toEqual(['prepare', 'start', 'wait']);
  });
});
