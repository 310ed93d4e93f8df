// The agent's status reports stay bounded on both ends: at most one pending report per task, and
// requests the dispatcher's queue takes (MAX_REPORTS_PER_REQUEST); a full queue
// (RESOURCE_EXHAUSTED) is retried with the latest status, not dropped.
import { status as grpcStatus } from '@grpc/grpc-js';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { TaskStatusUpdate } from '../../../proto/gen/dispatcher.js';
import { TaskState, TaskStatus } from '../../../proto/gen/types.js';
import { StatusReporter } from '../../../agent/session/index.js';
import { MAX_REPORTS_PER_REQUEST } from '../../../agent/session/status-reporter.js';
import { until } from './manager.js';

const st = (state: TaskState, message = ''): TaskStatus => TaskStatus.fromPartial({ state, message });
const quiet = pino({ level: 'silent' });

describe('StatusReporter bounds', () => {
  it('sends a large backlog in requests of at most MAX_REPORTS_PER_REQUEST, retrying a full queue', async () => {
    const sent: TaskStatusUpdate[][] = [];
    let refusals = 1;
    const r = new StatusReporter(
      () => async (u) => {
        if (refusals-- > 0) throw Object.assign(new Error('task status queue full'), { code: grpcStatus.RESOURCE_EXHAUSTED });
        sent.push(u);
      },
      quiet,
      1,
      10,
    );
    const tasks = 2 * MAX_REPORTS_PER_REQUEST + 500;
    for (let round = 0; round < 3; round++) for (let i = 0; i < tasks; i++) r.report(`t${i}`, st(TaskState.RUNNING, `round ${round}`));
    expect(r.pendingCount).toBe(tasks); // one per task, however many reports were made
    await until(() => r.pendingCount === 0, 'all sent', 20_000);
    expect(Math.max(...sent.map((b) => b.length))).toBe(MAX_REPORTS_PER_REQUEST);
    const latest = new Map(sent.flat().map((u) => [u.taskId, u.status!.message]));
    expect(latest.size).toBe(tasks);
    expect(new Set(latest.values())).toEqual(new Set(['round 2']));
    r.close();
  });
});
