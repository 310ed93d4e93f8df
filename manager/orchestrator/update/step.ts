// One pass of the updater over one service, inside a write transaction: settle slots, watch
// the new tasks through their monitor period, apply the failure action past the ratio, start
// the next batch after the delay, and mark the update completed.
import type { Logger } from 'pino';
import { TaskState, UpdateConfig_FailureAction, UpdateStatus, UpdateStatus_State as S, type Service } from '../../../proto/gen/types.js';
import type { ReadonlyDeep, WriteTx } from '../../store/index.js';
import { nodeTakesNewTasks } from '../tasks.js';
import { effectiveConfig } from './config.js';
import { failedEarly, failureText, replaceSlot, settleSlot } from './replace.js';
import { newRun, type UpdateRun } from './run.js';
import { groupSlots, slotOutdated, type UpdateSlot } from './slots.js';

type RO<T> = ReadonlyDeep<T>;

export interface UpdaterMemory {
  readonly runs: Map<string, UpdateRun>;
  /** Services left paused, with the spec_version they paused at: only a newer spec resumes. */
  readonly paused: Map<string, bigint>;
  /** Slots one transaction may replace (keeps proposals small). */
  readonly slotsPerTx: number;
}

function setStatus(tx: WriteTx, service: RO<Service>, state: S, nowMs: number, message: string, extra: Partial<Service> = {}, restart = false): void {
  const prev = service.updateStatus;
  const finished = state === S.COMPLETED || state === S.ROLLBACK_COMPLETED || state === S.PAUSED || state === S.ROLLBACK_PAUSED;
  const starting = state === S.UPDATING || state === S.ROLLBACK_STARTED;
  const updateStatus = UpdateStatus.fromPartial({
    state,
    startedAtMs: starting && (restart || prev?.state !== state) ? BigInt(nowMs) : (prev?.startedAtMs ?? BigInt(nowMs)),
    completedAtMs: finished ? BigInt(nowMs) : 0n,
    message,
  });
  tx.services.update({ ...service, ...extra, updateStatus } as RO<Service>);
}

function isUpdatable(service: RO<Service> | undefined): service is RO<Service> {
  const mode = service?.spec?.mode?.$case;
  return mode === 'replicated' || mode === 'global';
}

/** Returns the times (ms) at which this service wants another pass. */
export function stepService(tx: WriteTx, serviceId: string, mem: UpdaterMemory, nowMs: number, log: Logger): number[] {
  const service = tx.services.get(serviceId);
  if (!isUpdatable(service)) {
    mem.runs.delete(serviceId);
    mem.paused.delete(serviceId);
    return [];
  }
  const previous = mem.runs.get(serviceId);
  let run = previous;
  // A new spec during an update: start over from the current state.
  if (run && run.version !== service.specVersion) run = undefined;
  const slots = groupSlots(tx.tasks.find('service', serviceId));
  for (const s of slots.values()) settleSlot(tx, service, s, nowMs);

  const state = service.updateStatus?.state ?? S.UNKNOWN;
  if (state === S.PAUSED || state === S.ROLLBACK_PAUSED) {
    const at = mem.paused.get(serviceId) ?? service.specVersion;
    mem.paused.set(serviceId, at);
    if (at === service.specVersion) {
      mem.runs.delete(serviceId);
      return [];
    }
  }
  mem.paused.delete(serviceId);
  const global = service.spec?.mode?.$case === 'global';
  const eligible = (s: UpdateSlot): boolean => !global || nodeTakesNewTasks(tx.nodes.get(s.nodeId));
  // A slot that already holds a task of this spec_version was tried (its new task failed and
  // the old one still runs, or it is on its way): trying again would loop on a bad image.
  const tried = (s: UpdateSlot): boolean => s.all.some((t) => t.specVersion === service.specVersion);
  const outdated = [...slots.values()]
    .filter((s) => eligible(s) && slotOutdated(service, s) && !tried(s))
    .sort((a, b) => a.slot - b.slot || (a.nodeId < b.nodeId ? -1 : 1));

  if (!run) {
    mem.runs.delete(serviceId);
    if (outdated.length === 0) {
      // Nothing (left) to replace: also a paused update overtaken by a spec that the
      // orchestrator alone brought in (its slots were empty, waiting for a restart).
      if (state === S.UPDATING || state === S.PAUSED || state === S.ROLLBACK_PAUSED) setStatus(tx, service, S.COMPLETED, nowMs, 'update completed');
      if (state === S.ROLLBACK_STARTED) setStatus(tx, service, S.ROLLBACK_COMPLETED, nowMs, 'rollback completed');
      return [];
    }
    // ROLLBACK_STARTED left over from a rollback that a new spec overtook is an update (the
    // control API writes a fresh status, with a new start time, for each rollback it asks for).
    const overtaken = previous?.rollback === true && previous.statusStartedAt === service.updateStatus?.startedAtMs;
    const rollback = state === S.ROLLBACK_STARTED && !overtaken;
    run = newRun(service.specVersion, rollback, effectiveConfig(service, rollback), outdated.length, nowMs, service.updateStatus?.startedAtMs ?? 0n);
    mem.runs.set(serviceId, run);
    log.info({ serviceId, version: String(run.version), rollback, slots: outdated.length }, 'update started');
    // A run of this leader for an older spec was overtaken: the new spec's update starts now
    // (its status gets a new start time, so a client that wrote the new spec can tell the
    // outcome is its own). Without a previous run (a new leader), an UPDATING status is the
    // same update carried on.
    const overtook = previous !== undefined && previous.version !== service.specVersion && state === S.UPDATING;
    if (!rollback && (state !== S.UPDATING || overtook)) {
      // Status first, in its own proposal: the orchestrators react to the service write
      // before any slot holds two tasks.
      setStatus(tx, service, S.UPDATING, nowMs, 'update in progress', {}, overtook);
      return []; // the service event brings the next pass
    }
  }
  const wake: number[] = [];
  const cfg = run.config;
  let sawFailure = false;

  for (const [taskId, since] of run.monitoring) {
    const t = tx.tasks.get(taskId);
    const slot = t ? [...run.batch].find(([, id]) => id === taskId)?.[0] : undefined;
    if (!t) {
      run.monitoring.delete(taskId);
      for (const [k, id] of run.batch) if (id === taskId) run.batch.delete(k);
      continue;
    }
    if (failedEarly(t)) {
      run.failures++;
      run.lastFailure = failureText(t);
      sawFailure = true;
      run.monitoring.delete(taskId);
      if (slot) run.batch.delete(slot);
      log.warn({ serviceId, taskId, failures: run.failures, total: run.total }, 'updated task failed');
      continue;
    }
    if (t.desiredState > TaskState.RUNNING) {
      // Shut down by someone else (scale-down, a later run): neither a success nor a failure.
      run.monitoring.delete(taskId);
      if (slot) run.batch.delete(slot);
      continue;
    }
    if (t.status?.state !== TaskState.RUNNING) continue;
    if (slot) run.batch.delete(slot);
    const at = since ?? nowMs;
    run.monitoring.set(taskId, at);
    if (at + cfg.monitorMs <= nowMs) run.monitoring.delete(taskId);
    else wake.push(at + cfg.monitorMs);
  }

  if (run.failures > 0 && run.failures / run.total > cfg.maxFailureRatio && cfg.failureAction !== UpdateConfig_FailureAction.CONTINUE) {
    const what = `${run.failures} of ${run.total} updated tasks failed (${run.lastFailure})`;
    mem.runs.delete(serviceId);
    if (cfg.failureAction === UpdateConfig_FailureAction.ROLLBACK && !run.rollback && service.previousSpec) {
      log.warn({ serviceId, failures: run.failures }, 'update failed; rolling back');
      setStatus(tx, service, S.ROLLBACK_STARTED, nowMs, `rollback started: ${what}`, {
        spec: service.previousSpec as Service['spec'],
        previousSpec: service.spec as Service['spec'],
        specVersion: service.specVersion + 1n,
        previousSpecVersion: service.specVersion,
      } as Partial<Service>);
    } else {
      log.warn({ serviceId, failures: run.failures }, 'update paused');
      mem.paused.set(serviceId, service.specVersion);
      setStatus(tx, service, run.rollback ? S.ROLLBACK_PAUSED : S.PAUSED, nowMs, `${run.rollback ? 'rollback' : 'update'} paused: ${what}`);
    }
    return [];
  }

  const todo = outdated.filter((s) => !run.attempted.has(s.key));
  if (run.fill > 0 && todo.length > 0) return fillBatch(tx, service, run, todo, nowMs, mem.slotsPerTx, wake);
  run.fill = 0;
  if (run.batch.size > 0) return wake;
  if (todo.length === 0) {
    if (run.monitoring.size > 0) return wake;
    mem.runs.delete(serviceId);
    const failed = run.failures > 0 ? ` (${run.failures} of ${run.total} updated tasks failed)` : '';
    log.info({ serviceId, rollback: run.rollback, failures: run.failures }, 'update completed');
    setStatus(tx, service, run.rollback ? S.ROLLBACK_COMPLETED : S.COMPLETED, nowMs, `${run.rollback ? 'rollback' : 'update'} completed${failed}`);
    return [];
  }
  if (run.attempted.size > 0 && run.nextBatchAt <= 0) run.nextBatchAt = nowMs + cfg.delayMs;
  if (nowMs < run.nextBatchAt) return [...wake, run.nextBatchAt];
  // The orchestrator reacts to the same failure (restart verdict) in a pass of its own; a
  // start-first pair made now could be taken for a duplicate by that pass, so start a moment later.
  if (sawFailure && cfg.startFirst) return [...wake, nowMs + 1];
  run.fill = Math.min(cfg.parallelism, todo.length);
  log.debug({ serviceId, slots: run.fill }, 'batch started');
  return fillBatch(tx, service, run, todo, nowMs, mem.slotsPerTx, wake);
}

/**
 * Replaces the next slots of the batch, at most slotsPerTx in this transaction (each slot
 * writes two or three objects); a bigger batch continues in the next pass at once.
 */
function fillBatch(tx: WriteTx, service: RO<Service>, run: UpdateRun, todo: UpdateSlot[], nowMs: number, slotsPerTx: number, wake: number[]): number[] {
  const take = todo.slice(0, Math.min(run.fill, slotsPerTx));
  for (const s of take) {
    const id = replaceSlot(tx, service, s, run.config.startFirst, nowMs);
    run.attempted.add(s.key);
    run.batch.set(s.key, id);
    run.monitoring.set(id, undefined);
  }
  run.fill = take.length < todo.length ? run.fill - take.length : 0;
  // The delay runs from the end of this batch: 0 means "not yet known".
  run.nextBatchAt = 0;
  return run.fill > 0 ? [...wake, nowMs] : wake;
}
