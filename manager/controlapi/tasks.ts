// Task rpcs: list (by service, node and desired state), get, and the WatchTasks stream the CLI
// follows to show convergence: first the current tasks, then one event per applied proposal.
import type { GetTaskRequest, GetTaskResponse, ListTasksRequest, ListTasksResponse, WatchTasksEvent, WatchTasksRequest } from '../../proto/gen/control.js';
import { Task } from '../../proto/gen/types.js';
import type { MemoryStore, ObjectEvent, ReadonlyDeep, ReadTx } from '../store/index.js';
import { asMessage } from './errors.js';
import { findNode, findService, findTask } from './lookup.js';
import { onePage, PAGE_BYTES } from './paging.js';

function serviceIds(tx: ReadTx, refs: readonly string[]): Set<string> | undefined {
  return refs.length === 0 ? undefined : new Set(refs.map((r) => findService(tx, r).id));
}

/** Sorted by service, slot (node for global tasks), then newest first: a slot's current task leads its history. */
export function listTasks(store: MemoryStore, req: ListTasksRequest): ListTasksResponse {
  const states = new Set(req.desiredStates);
  const tasks = store.view((tx) => {
    const services = serviceIds(tx, req.serviceIds);
    const nodes = req.nodeIds.length === 0 ? undefined : new Set(req.nodeIds.map((r) => findNode(tx, r).id));
    let pool: ReadonlyDeep<Task>[];
    if (services) pool = [...services].flatMap((id) => tx.tasks.find('service', id));
    else if (nodes) pool = [...nodes].flatMap((id) => tx.tasks.find('node', id));
    else pool = tx.tasks.all();
    return pool.filter((t) => (!nodes || nodes.has(t.nodeId)) && (states.size === 0 || states.has(t.desiredState)));
  });
  const page = onePage(
    tasks,
    (t) => [t.serviceName, t.slot, t.nodeId, -Number(t.meta?.createdAtMs ?? 0n), t.desiredState, t.id],
    (t) => Task.encode(t as Task).finish().length,
    req,
  );
  return { tasks: page.items.map((t) => asMessage<Task>(t)), nextPageToken: page.nextPageToken };
}

export function getTask(store: MemoryStore, req: GetTaskRequest): GetTaskResponse {
  return { task: store.view((tx) => asMessage<Task>(findTask(tx, req.taskId))) };
}

/**
 * Events of at most PAGE_BYTES of tasks each (one task at least): no message nears the gRPC
 * limit. Only the last brings the reader to `after`; the others leave it at `before`.
 */
function* inChunks(tasks: Task[], removed: boolean, before: bigint, after: bigint): Generator<WatchTasksEvent> {
  let chunk: Task[] = [];
  let bytes = 0;
  for (const t of tasks) {
    const n = Task.encode(t).finish().length;
    if (chunk.length > 0 && bytes + n > PAGE_BYTES) {
      yield { tasks: chunk, removed, version: before };
      chunk = [];
      bytes = 0;
    }
    chunk.push(t);
    bytes += n;
  }
  if (chunk.length > 0 || tasks.length === 0) yield { tasks: chunk, removed, version: after };
}

/**
 * Follows tasks of the named services (all when none): yields the current tasks at once (or,
 * with resume_from_version, nothing: the changes since then follow), then per applied proposal
 * one event of changed tasks and one of removed tasks, each with the version it brings the
 * reader to. Ends when signal aborts; throws WatchFellBehindError if the reader falls too far
 * behind (onFellBehind is told at once, so a writer waiting for the client can stop waiting)
 * and WatchCompactedError if the resume version is no longer in the store's history.
 */
export async function* watchTasks(
  store: MemoryStore,
  req: WatchTasksRequest,
  signal: AbortSignal,
  onFellBehind?: (err: Error) => void,
): AsyncGenerator<WatchTasksEvent> {
  const resume = req.resumeFromVersion > 0n ? req.resumeFromVersion : undefined;
  const opts = { signal, filter: (e: ObjectEvent) => e.kind === 'task', onFellBehind, fromVersion: resume };
  const [initial, watcher] = store.viewAndWatch((tx) => {
    const ids = serviceIds(tx, req.serviceIds);
    if (resume !== undefined) return { ids, tasks: [], version: resume };
    const tasks = ids ? [...ids].flatMap((id) => tx.tasks.find('service', id)) : tx.tasks.all();
    return { ids, tasks: tasks.map((t) => asMessage<Task>(t)), version: store.version };
  }, opts);
  const wanted = (t: ReadonlyDeep<Task>): boolean => !initial.ids || initial.ids.has(t.serviceId);
  try {
    // a reader that lost the stream before the whole list came watches afresh (version 0)
    if (resume === undefined) yield* inChunks(initial.tasks, false, 0n, initial.version);
    let at = initial.version;
    let changed = new Map<string, Task>();
    let removed = new Map<string, Task>();
    for await (const e of watcher) {
      if (e.type === 'reset') {
        const all = store.view((tx) => tx.tasks.all().filter(wanted).map((t) => asMessage<Task>(t)));
        yield* inChunks(all, false, 0n, e.version);
        at = e.version;
        continue;
      }
      if (e.type === 'commit') {
        // a reader that saw the changes but not the removals of a commit resumes before it
        if (changed.size > 0) yield* inChunks([...changed.values()], false, at, removed.size > 0 ? at : e.version);
        if (removed.size > 0) yield* inChunks([...removed.values()], true, at, e.version);
        at = e.version;
        changed = new Map();
        removed = new Map();
        continue;
      }
      if (e.kind !== 'task' || !wanted(e.object)) continue;
      if (e.type === 'delete') {
        changed.delete(e.object.id);
        removed.set(e.object.id, asMessage<Task>(e.object));
      } else {
        changed.set(e.object.id, asMessage<Task>(e.object));
      }
    }
  } finally {
    watcher.close();
  }
}
