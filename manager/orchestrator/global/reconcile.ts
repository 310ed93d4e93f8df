// One pass over one global service: one live task on every node that is ready, active and
// matches the constraints; tasks leave nodes that are drained, down, removed or no longer match.
import { TaskState, type Node, type Task } from '../../../proto/gen/types.js';
import { matchesConstraints, parseConstraints, type Constraint } from '../../scheduler/constraints.js';
import { nodeSupports } from '../../scheduler/filters.js';
import { slotKey, type ReadonlyDeep, type WriteTx } from '../../store/index.js';
import { SETTLED_DESIRED_STATE, type ReconcileOutcome } from '../replicated/reconcile.js';
import type { RestartTracker } from '../restarts.js';
import { byAge, hasFinished, isRunnable, jobIteration, newTask, nodeKeepsTasks, nodeTakesNewTasks, ofEarlierRun, withDesiredState } from '../tasks.js';
import { startFirstPending } from '../update/slots.js';

type RO<T> = ReadonlyDeep<T>;

export function reconcileGlobal(
  tx: WriteTx,
  serviceId: string,
  nowMs: number,
  restarts: RestartTracker,
  maxChanges = Infinity,
): ReconcileOutcome {
  const out: ReconcileOutcome = { created: 0, shutDown: 0, incomplete: false, wakeAt: [] };
  const full = (): boolean => (out.incomplete ||= tx.size >= maxChanges);
  const service = tx.services.get(serviceId);
  const tasks = tx.tasks.find('service', serviceId);
  const stop = (t: RO<Task>, desired: TaskState): void => {
    tx.tasks.update(withDesiredState(t, desired));
    out.shutDown++;
  };
  const mode = service?.spec?.mode?.$case;
  if (!service || (mode !== 'global' && mode !== 'globalJob')) {
    if (!service) for (const t of tasks) if (t.desiredState < TaskState.REMOVE) stop(t, TaskState.REMOVE);
    restarts.forgetService(serviceId);
    return out;
  }
  let constraints: Constraint[] | undefined;
  try {
    constraints = parseConstraints(service.spec?.task?.placement?.constraints ?? []);
  } catch {
    constraints = undefined; // refused by the control API; here it simply matches no node
  }
  const platforms = service.spec?.task?.placement?.platforms ?? [];
  const matches = (n: RO<Node>): boolean => constraints !== undefined && matchesConstraints(constraints, n) && nodeSupports(n, platforms);

  const job = mode === 'globalJob';
  if (job) restarts.startIteration(serviceId, jobIteration(service));
  const byNode = new Map<string, RO<Task>[]>();
  for (const t of tasks) {
    // A global job's earlier runs are history; a task of one that still runs is stopped.
    if (job && ofEarlierRun(t, service)) {
      if (isRunnable(t)) stop(t, TaskState.SHUTDOWN);
      continue;
    }
    const list = byNode.get(t.nodeId);
    if (list) list.push(t);
    else byNode.set(t.nodeId, [t]);
  }
  // Tasks on nodes that no longer exist.
  for (const [nodeId, list] of byNode) {
    if (tx.nodes.get(nodeId)) continue;
    if (full()) return out;
    for (const t of list) if (isRunnable(t)) stop(t, TaskState.SHUTDOWN);
  }
  for (const node of tx.nodes.all()) {
    if (full()) return out;
    const keep = nodeKeepsTasks(node) && matches(node);
    const list = (byNode.get(node.id) ?? []).sort(byAge);
    const alive: RO<Task>[] = [];
    let settled = false;
    const key = slotKey(serviceId, 0, node.id);
    restarts.recall(key, list, nowMs);
    for (const t of list) {
      if (t.desiredState === SETTLED_DESIRED_STATE) settled = true;
      if (!isRunnable(t)) continue;
      if (!keep) {
        stop(t, TaskState.SHUTDOWN);
      } else if (hasFinished(t)) {
        // A global job's task that exited 0 is done on its node for good.
        const jobDone = job && t.status?.state === TaskState.COMPLETE;
        if (!jobDone && restarts.onDeath(key, t, nowMs, list) === 'restart') {
          stop(t, TaskState.SHUTDOWN);
        } else {
          stop(t, SETTLED_DESIRED_STATE);
          settled = true;
        }
      } else {
        alive.push(t);
      }
    }
    // A start-first replacement still starting keeps its old task beside it (the updater ends it).
    while (alive.length > 1 && !startFirstPending(alive)) stop(alive.shift()!, TaskState.SHUTDOWN);
    if (alive.length > 0 || settled || !keep || !nodeTakesNewTasks(node)) continue;
    const due = restarts.dueAt(key);
    if (due !== undefined && due > nowMs) {
      out.wakeAt.push(due);
      continue;
    }
    restarts.done(key);
    tx.tasks.create(newTask(service, 0, node.id, nowMs));
    out.created++;
  }
  return out;
}
