// Jobs from `shoal service create --mode replicated-job|global-job`: the mode and its counts on
// the spec, and waiting for the run to finish (a job's tasks end: "N/M running" never settles).
import { ControlService, ListTasksRequest } from '../../proto/gen/control.js';
import { RestartPolicy_Condition, TaskState, type Service, type ServiceSpec, type Task } from '../../proto/gen/types.js';
import { parseCount } from '../client/service-spec.js';
import { listAll, type Connection } from '../client/index.js';
import { UsageError } from '../errors.js';

export const JOB_MODES = ['replicated-job', 'global-job'] as const;

export function isJobMode(mode: string | undefined): mode is (typeof JOB_MODES)[number] {
  return (JOB_MODES as readonly string[]).includes(mode ?? '');
}

/** A service whose mode is a job (its tasks run to completion). */
export function isJobService(svc: Service): boolean {
  const c = svc.spec?.mode?.$case;
  return c === 'replicatedJob' || c === 'globalJob';
}

export class JobFailedError extends Error {
  readonly userError = true as const;
}

/**
 * Sets a job's mode on a spec built as replicated (replicated-job: --replicas completions,
 * --max-concurrent at once, default all of them) or global (global-job). Jobs restart on
 * failure unless told otherwise, as Docker's do.
 */
export function setJobMode(spec: ServiceSpec, mode: (typeof JOB_MODES)[number], f: { replicas?: string; maxConcurrent?: string; restartCondition?: string }): void {
  if (mode === 'replicated-job') {
    const total = f.replicas === undefined ? 1 : parseCount('--replicas', f.replicas);
    if (total === 0) throw new UsageError('--replicas of a replicated job is the number of completions: at least 1');
    const concurrent = f.maxConcurrent === undefined ? total : parseCount('--max-concurrent', f.maxConcurrent);
    if (concurrent === 0) throw new UsageError('--max-concurrent must be at least 1');
    spec.mode = { $case: 'replicatedJob', value: { totalCompletions: total, maxConcurrent: concurrent } };
  } else {
    spec.mode = { $case: 'globalJob', value: {} };
  }
  if (f.restartCondition === undefined && spec.task?.restart) spec.task.restart.condition = RestartPolicy_Condition.ON_FAILURE;
}

export interface JobProgress {
  completed: number;
  /** Slots (replicated) or nodes (global) that ended without completing and will not retry. */
  failed: number;
  want: number;
  done: boolean;
}

/** Where the current run of a job stands (earlier runs, before an update, do not count). */
export function jobProgress(svc: Service, tasks: readonly Task[], sinceStartMs: number): JobProgress {
  const run = tasks.filter((t) => t.specVersion === svc.specVersion);
  const slotOf = (t: Task): string => (t.slot ? String(t.slot) : t.nodeId);
  const completed = new Set(run.filter((t) => t.status?.state === TaskState.COMPLETE).map(slotOf));
  const settled = new Set(run.filter((t) => t.desiredState === TaskState.COMPLETE).map(slotOf));
  const failed = [...settled].filter((s) => !completed.has(s)).length;
  const mode = svc.spec?.mode;
  if (mode?.$case === 'replicatedJob') {
    const want = mode.value.totalCompletions || mode.value.maxConcurrent || 1;
    return { completed: completed.size, failed, want, done: settled.size >= want };
  }
  // A global job makes all its tasks in one write: done once every node's task settled (one
  // waiting out its restart delay has not), or when no node took one.
  const nodes = new Set(run.map(slotOf));
  return { completed: completed.size, failed, want: nodes.size, done: nodes.size > 0 ? settled.size >= nodes.size : sinceStartMs > 3_000 };
}

/** Polls the job's tasks until its run ends, printing "NAME: N/M completed" as it moves. */
export async function waitForJob(c: Connection, svc: Service, timeoutMs: number | undefined, out: (line: string) => void): Promise<{ done: boolean; progress: JobProgress }> {
  const client = c.controlClient();
  const name = svc.spec?.annotations?.name ?? svc.id;
  const start = Date.now();
  let last = '';
  for (;;) {
    const tasks = await listAll(c, ControlService.listTasks, ListTasksRequest.fromPartial({ serviceIds: [svc.id] }), (r) => r.tasks);
    const p = jobProgress(svc, tasks, Date.now() - start);
    const line = `${name}: ${p.completed}/${p.want} completed${p.failed ? `, ${p.failed} failed` : ''}`;
    if (line !== last) out((last = line));
    if (p.done) {
      if (p.failed > 0) throw new JobFailedError(`${name}: the job ended with ${p.failed} of ${p.want} tasks failed; see \`shoal service ps ${name}\``);
      return { done: true, progress: p };
    }
    if (timeoutMs !== undefined && Date.now() - start > timeoutMs) return { done: false, progress: p };
    await new Promise((r) => setTimeout(r, 300));
  }
}
