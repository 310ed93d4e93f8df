// Waiting until the services a deploy touched run their new spec: polls ListTasks for all of
// them at once and prints a line whenever a service's count moves, and once per failed task.
// Not cli/client's waitForConvergence: that follows one service and does not tell tasks of the
// old spec from the new, which a rolling update needs.
import { TaskState, UpdateStatus_State, type Service, type Task } from '../../proto/gen/types.js';
import type { StackControl } from './control.js';

export class ConvergeTimeoutError extends Error {
  readonly userError = true as const;
  constructor(message: string) {
    super(message);
    this.name = 'ConvergeTimeoutError';
  }
}

/** The rolling update of a deploy stopped (paused, or rolled back): waiting longer is pointless. */
export class UpdateStoppedError extends Error {
  readonly userError = true as const;
  constructor(message: string) {
    super(message);
    this.name = 'UpdateStoppedError';
  }
}

/**
 * Why the update this deploy started stopped, or undefined while it goes on. `since` is the
 * service's meta.updatedAtMs as our write returned it: a status from an earlier update (a
 * pause the updater has not reset yet) started before it and does not count.
 */
export function updateStopped(svc: Service, since: bigint): string | undefined {
  const st = svc.updateStatus;
  if (!st || st.startedAtMs < since) return undefined;
  const name = svc.spec?.annotations?.name ?? svc.id;
  const why = st.message ? `: ${st.message}` : '';
  switch (st.state) {
    case UpdateStatus_State.PAUSED:
      return `the update of ${name} is paused${why}; fix the cause, then deploy again or run \`shoal service rollback ${name}\``;
    case UpdateStatus_State.ROLLBACK_PAUSED:
      return `the rollback of ${name} is paused${why}; see \`shoal service ps ${name}\``;
    case UpdateStatus_State.ROLLBACK_COMPLETED:
      return `the update of ${name} failed and was rolled back${why}; see \`shoal service ps ${name}\``;
    default:
      return undefined;
  }
}

export interface Progress {
  /** Tasks of the current spec that are where they should be (running, or complete for jobs). */
  ready: number;
  /** How many there should be. */
  wanted: number;
  done: boolean;
}

/** Where one service stands, from its tasks. */
export function serviceProgress(svc: Service, tasks: readonly Task[]): Progress {
  const mine = tasks.filter((t) => t.serviceId === svc.id);
  const current = mine.filter((t) => t.specVersion === svc.specVersion);
  const state = (t: Task) => t.status?.state ?? TaskState.NEW;
  const live = (t: Task) => t.desiredState <= TaskState.RUNNING;
  // Old tasks still running mean a rolling update is in progress.
  const stale = mine.some((t) => t.specVersion !== svc.specVersion && live(t) && state(t) <= TaskState.RUNNING && state(t) >= TaskState.ASSIGNED);
  const mode = svc.spec?.mode;
  switch (mode?.$case) {
    case 'replicated': {
      const ready = current.filter((t) => live(t) && state(t) === TaskState.RUNNING).length;
      return { ready, wanted: mode.value.replicas, done: ready === mode.value.replicas && !stale };
    }
    case 'global': {
      const wanted = current.filter(live).length;
      const ready = current.filter((t) => live(t) && state(t) === TaskState.RUNNING).length;
      return { ready, wanted, done: wanted > 0 && ready === wanted && !stale };
    }
    case 'replicatedJob': {
      const ready = current.filter((t) => state(t) === TaskState.COMPLETE).length;
      return { ready, wanted: mode.value.totalCompletions, done: ready >= mode.value.totalCompletions };
    }
    case 'globalJob': {
      const ready = current.filter((t) => state(t) === TaskState.COMPLETE).length;
      return { ready, wanted: current.length, done: current.length > 0 && ready === current.length };
    }
    default:
      return { ready: 0, wanted: 0, done: true };
  }
}

export interface ConvergeOptions {
  timeoutMs: number;
  pollMs?: number;
  log: (line: string) => void;
}

export async function waitConverged(control: StackControl, written: readonly Service[], o: ConvergeOptions): Promise<void> {
  if (written.length === 0) return;
  const since = new Map(written.map((s) => [s.id, s.meta?.updatedAtMs ?? 0n]));
  let services = written;
  const deadline = Date.now() + o.timeoutMs;
  const last = new Map<string, string>();
  const reported = new Set<string>();
  const pending = new Set(services.map((s) => s.id));
  for (;;) {
    // Re-read the services: the updater may pause or roll back, which changes the spec version.
    const fresh = new Map((await control.listServices({ idPrefixes: [...pending] })).map((s) => [s.id, s]));
    services = services.map((s) => fresh.get(s.id) ?? s);
    for (const id of pending) {
      const svc = fresh.get(id);
      if (!svc) throw new UpdateStoppedError(`service ${services.find((s) => s.id === id)?.spec?.annotations?.name ?? id} was removed while the deploy waited for it`);
      const stopped = updateStopped(svc, since.get(id) ?? 0n);
      if (stopped) throw new UpdateStoppedError(stopped);
    }
    const tasks = await control.listTasks({ serviceIds: [...pending] });
    for (const svc of services.filter((s) => pending.has(s.id))) {
      const name = svc.spec?.annotations?.name ?? svc.id;
      const p = serviceProgress(svc, tasks);
      const line = p.done ? `${name}: converged (${p.ready}/${p.wanted})` : `${name}: ${p.ready}/${p.wanted}`;
      if (last.get(svc.id) !== line) o.log(line);
      last.set(svc.id, line);
      if (p.done) pending.delete(svc.id);
      for (const t of tasks) {
        const st = t.status?.state ?? TaskState.NEW;
        if (t.serviceId !== svc.id || t.specVersion !== svc.specVersion || reported.has(t.id)) continue;
        if (st === TaskState.FAILED || st === TaskState.REJECTED) {
          reported.add(t.id);
          o.log(`${name}.${t.slot || t.nodeId}: ${TaskState[st]!.toLowerCase()}: ${t.status?.err || t.status?.message || 'no reason given'}`);
        }
      }
    }
    if (pending.size === 0) return;
    if (Date.now() > deadline) {
      const names = services.filter((s) => pending.has(s.id)).map((s) => s.spec?.annotations?.name ?? s.id);
      throw new ConvergeTimeoutError(
        `${names.join(', ')} did not converge within ${Math.round(o.timeoutMs / 1000)} s; the deploy was applied and keeps converging: see \`shoal stack ps\`, or pass --timeout`,
      );
    }
    await new Promise((r) => setTimeout(r, o.pollMs ?? 250));
  }
}
