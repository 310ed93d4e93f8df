// The agent's status reporter with a scripted sender: latest status per task wins, reports wait
// for a session, failed sends are retried, PERMISSION_DENIED drops the batch.
import { status as grpcStatus } from '@grpc/grpc-js';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { TaskStatusUpdate } from '../../../proto/gen/dispatcher.js';
import { TaskState, TaskStatus } from '../../../proto/gen/types.js';
import { StatusReporter, type SendStatus } from '../../../agent/session/index.js';
import { until } from './manager.js';

const st = (state: TaskState): TaskStatus => TaskStatus.fromPartial({ state });
const quiet = pino({ level: 'silent' });

describe('StatusReporter', () => {
  it('coalesces to the latest status per task and waits for a session', async () => {
    const sent: TaskStatusUpdate[][] = [];
    let sender: SendStatus | undefined;
    const r = new StatusReporter(() => sender, quiet, 5, 20);
    r.report('t1', st(TaskState.ACCEPTED));
    r.report('t1', st(TaskState.PREPARING));
    r.report('t2', st(TaskState.ACCEPTED));
    await new Promise((res) => setTimeout(res, 30));
    expect(r.pendingCount).toBe(2);
    sender = async (u) => void sent.push(u);
    r.kick();
    await until(() => r.pendingCount === 0, 'sent');
    expect(sent).toHaveLength(1);
    expect(sent[0]!.map((u) => [u.taskId, u.status!.state])).toEqual([
      ['t1', TaskState.PREPARING],
      ['t2', TaskState.ACCEPTED],
    ]);
    r.close();
  });

  it('retries a failed send, and drops a batch the manager refuses as not ours', async () => {
    let calls = 0;
    const failures = [Object.assign(new Error('unavailable'), { code: grpcStatus.UNAVAILABLE })];
    const r = new StatusReporter(() => async () => {
      calls++;
      const f = failures.shift();
      if (f) throw f;
    }, quiet, 1, 10);
    r.report('t1', st(TaskState.RUNNING));
    await until(() => r.pendingCount === 0, 'sent after a retry');
    expect(calls).toBe(2);
    failures.push(Object.assign(new Error('denied'), { code: grpcStatus.PERMISSION_DENIED }));
    r.report('t9', st(TaskState.RUNNING));
    await until(() => r.pendingCount === 0, 'dropped');
    expect(calls).toBe(3);
    r.close();
  });
});
