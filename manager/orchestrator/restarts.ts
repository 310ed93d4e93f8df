// The restart policy's memory: when a slot's failed task may be replaced (delay) and how often
// it was already (max attempts within a window). Kept in the leader's memory; a new leader
// (or one that never saw the slot) first reads the attempts back from the slot's task history,
// so a leader change does not hand a crash-looping slot a fresh budget (Swarm's does).
import { TaskState, type Task } from '../../proto/gen/types.js';
import type { ReadonlyDeep } from '../store/index.js';
import { byAge, restartAllowed, restartDelayMs } from './tasks.js';

export type DeathVerdict = 'restart' | 'settle';

export class RestartTracker {
  private readonly due = new Map<string, number>();
  private readonly attempts = new Map<string, number[]>();
  private readonly iterations = new Map<string, bigint>();
  /** The last death decided per slot, so that deciding it again changes nothing. */
  private readonly verdicts = new Map<string, { taskId: string; verdict: DeathVerdict }>();
  /** Slots this leader has looked at (recall reads a slot's history only once). */
  private readonly known = new Set<string>();

  /** A job runs again (new iteration): its slots count their attempts afresh. */
  startIteration(serviceId: string, iteration: bigint): void {
    if (this.iterations.get(serviceId) === iteration) return;
    this.forgetService(serviceId);
    this.iterations.set(serviceId, iteration);
  }

  /**
   * Decides about a task that died while meant to run, recording the restart if there is one.
   * `history` is the slot's other tasks (of the current job run), read when the slot is new here.
   */
  onDeath(slot: string, t: ReadonlyDeep<Task>, nowMs: number, history: readonly ReadonlyDeep<Task>[] = []): DeathVerdict {
    // The same death seen again (its transaction was refused and is retried, smaller): the
    // same answer, without counting the attempt twice.
    const seen = this.verdicts.get(slot);
    if (seen?.taskId === t.id) return seen.verdict;
    if (!this.attempts.has(slot)) this.attempts.set(slot, pastAttempts(t, history));
    const verdict = this.decide(slot, t, nowMs);
    this.verdicts.set(slot, { taskId: t.id, verdict });
    return verdict;
  }

  private decide(slot: string, t: ReadonlyDeep<Task>, nowMs: number): DeathVerdict {
    if (!restartAllowed(t)) return 'settle';
    const policy = t.spec?.restart;
    const max = policy?.maxAttempts ?? 0;
    if (max > 0) {
      const windowMs = policy?.window ? Number(policy.window.nanos / 1_000_000n) : 0;
      let times = this.attempts.get(slot) ?? [];
      if (windowMs > 0) times = times.filter((at) => at > nowMs - windowMs);
      if (times.length >= max) {
        this.attempts.set(slot, times);
        return 'settle';
      }
      this.attempts.set(slot, [...times, nowMs]);
    }
    const delay = restartDelayMs(t);
    if (delay > 0) this.due.set(slot, nowMs + delay);
    return 'restart';
  }

  /**
   * Called for every slot a pass looks at. The first time this leader meets a slot: if its
   * newest task died and was shut down for a restart that has not happened yet (the leader
   * that decided it is gone), the restart still waits out the rest of its delay.
   */
  recall(slot: string, tasks: readonly ReadonlyDeep<Task>[], nowMs: number): void {
    if (this.known.has(slot)) return;
    this.known.add(slot);
    const newest = [...tasks].sort(byAge).at(-1);
    if (!newest || newest.desiredState !== TaskState.SHUTDOWN || !DIED.has(newest.status?.state ?? TaskState.NEW)) return;
    const at = Number(newest.status?.timestampMs ?? 0n) + restartDelayMs(newest);
    if (at > nowMs && !this.due.has(slot)) this.due.set(slot, at);
  }

  /** When a waiting slot may get its new task, or undefined if it does not wait. */
  dueAt(slot: string): number | undefined {
    return this.due.get(slot);
  }

  /** The slot got its task or went away: stop waiting. */
  done(slot: string): void {
    this.due.delete(slot);
  }

  /** Forgets everything about a service (removed). */
  forgetService(serviceId: string): void {
    this.iterations.delete(serviceId);
    const prefix = `${serviceId}\u0000`;
    for (const m of [this.due, this.attempts, this.verdicts]) for (const k of [...m.keys()]) if (k.startsWith(prefix)) m.delete(k);
    for (const k of [...this.known]) if (k.startsWith(prefix)) this.known.delete(k);
  }

  /** Services with a slot waiting out a delay. */
  waitingServices(): Set<string> {
    return new Set([...this.due.keys()].map((k) => k.slice(0, k.indexOf('\u0000'))));
  }
}

/** States a task ends in by itself (not stopped on request). */
const DIED = new Set<TaskState>([TaskState.COMPLETE, TaskState.FAILED, TaskState.REJECTED]);

/**
 * Restarts recorded in the store: tasks of the slot that ended by themselves and were then told
 * to shut down, which only a restart does (a scale-down, an update or a lost node stops a task
 * still running; a settled one is desired COMPLETE). Only tasks of the dead one's spec version
 * count: a task an update stopped may have died of the signal before it was told. When they
 * ended stands for when the restart was decided. The history limit (5 per slot by default)
 * caps what can be read back.
 */
function pastAttempts(dead: ReadonlyDeep<Task>, history: readonly ReadonlyDeep<Task>[]): number[] {
  return history
    .filter((x) => x.id !== dead.id && x.specVersion === dead.specVersion && x.desiredState === TaskState.SHUTDOWN && DIED.has(x.status?.state ?? TaskState.NEW))
    .map((x) => Number(x.status?.timestampMs ?? 0n))
    .sort((a, b) => a - b);
}
