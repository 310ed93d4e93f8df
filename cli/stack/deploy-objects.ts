// Reading and writing a stack's secrets, configs and networks during `stack deploy` and
// `stack rm`. Objects are created before services (the manager refuses a service naming one
// that does not exist) and removed after them (it refuses to remove one a service still names;
// a network whose last tasks are stopping is marked and goes after them).
import type { Network, Service } from '../../proto/gen/types.js';
import type { FileObject, ObjectControl } from './object-control.js';
import type { CurrentObjects, ObjectKind, ObjectPlan, ObjectPlanEntry } from './object-plan.js';
import type { DesiredFileObject, DesiredNetwork, DesiredObjects } from './objects.js';
import { digestSecret, SECRET_DIGEST_LABEL } from './secret-digest.js';
import { STACK_NAMESPACE_LABEL, type ObjectIds } from './to-proto.js';

const kinds = ['secret', 'config', 'network'] as const;

export interface RemoveOptions {
  log: (line: string) => void;
}

async function listOf(control: ObjectControl, kind: ObjectKind, filter: { names?: string[]; labels?: Record<string, string> }): Promise<(FileObject | Network)[]> {
  return kind === 'network' ? control.listNetworks(filter) : control.listFileObjects(kind, filter);
}

/** The cluster's side of the object plan. `stackServiceIds`: the stack's own services. */
export async function readCurrentObjects(
  control: ObjectControl & { listServices(req: object): Promise<Service[]> },
  stack: string,
  desired: DesiredObjects,
  stackServiceIds: ReadonlySet<string>,
): Promise<CurrentObjects> {
  const owned = {} as CurrentObjects['owned'];
  const named = {} as CurrentObjects['named'];
  for (const kind of kinds) {
    const list = await listOf(control, kind, { labels: { [STACK_NAMESPACE_LABEL]: stack } });
    // Filtered here too: the label filter's exact semantics belong to the manager.
    owned[kind] = list.filter((o) => o.spec?.annotations?.labels[STACK_NAMESPACE_LABEL] === stack);
    const names = desired[`${kind}s`].map((d) => d.name);
    named[kind] = names.length > 0 ? await listOf(control, kind, { names }) : [];
  }
  const all = await control.listServices({});
  return { owned, named, otherServices: all.filter((s) => !stackServiceIds.has(s.id)) };
}

/** Ids of the secrets and configs the plan knows (external, unchanged, ...); `pending` stands in
 *  for objects not created yet (--dry-run). */
export function idsOf(plan: ObjectPlan, pending = ''): ObjectIds {
  const ids = { secrets: new Map<string, string>(), configs: new Map<string, string>() };
  for (const e of plan.entries) {
    if (e.kind === 'network' || e.action === 'remove' || e.action === 'keep') continue;
    ids[`${e.kind}s`].set(e.name, e.id ?? pending);
  }
  return ids;
}

/** Creates and relabels what the plan says; fills in the ids of created objects. */
export async function applyObjectWrites(control: ObjectControl, plan: ObjectPlan, log: (line: string) => void): Promise<void> {
  for (const e of plan.entries) {
    if (e.action === 'create') {
      log(`creating ${e.kind} ${e.name}`);
      if (e.kind === 'network') {
        const n = await control.createNetwork((e.desired as DesiredNetwork).spec!);
        e.id = n.id;
      } else {
        const d = e.desired as DesiredFileObject;
        const labels = e.kind === 'secret' ? { ...d.labels, [SECRET_DIGEST_LABEL]: await digestSecret(d.data!) } : d.labels;
        const o = await control.createFileObject(e.kind, { annotations: { name: d.name, labels }, data: d.data! });
        e.id = o.id;
      }
    } else if (e.action === 'relabel' && e.kind !== 'network') {
      log(`updating labels of ${e.kind} ${e.name}`);
      const d = e.desired as DesiredFileObject;
      const current = await control.getFileObject(e.kind, e.id!);
      const digest = current.spec?.annotations?.labels[SECRET_DIGEST_LABEL];
      const labels = digest !== undefined ? { ...d.labels, [SECRET_DIGEST_LABEL]: digest } : d.labels;
      await control.updateFileObjectLabels(e.kind, e.id!, current.meta?.version ?? e.version ?? 0n, labels);
    } else if (e.action === 'unchanged' || e.action === 'differs' || e.action === 'external') {
      log(`${e.kind} ${e.name}: ${e.action === 'external' ? 'external' : e.action === 'differs' ? 'kept' : 'unchanged'}${e.note ? ` (${e.note})` : ''}`);
    } else if (e.action === 'keep') {
      log(`${e.kind} ${e.name}: kept (${e.note})`);
    }
  }
}

/** --prune: removes the stack's objects that left the file (after the services moved off them). */
export async function applyObjectRemovals(control: ObjectControl, plan: ObjectPlan, o: RemoveOptions): Promise<void> {
  for (const e of plan.entries.filter((x: ObjectPlanEntry) => x.action === 'remove')) {
    o.log(`removing ${e.kind} ${e.name}`);
    // A network whose last tasks are still stopping is marked for deletion by the manager, which
    // deletes it after them: no waiting here.
    if (e.kind === 'network') await control.removeNetwork(e.id!);
    else await control.removeFileObject(e.kind, e.id!);
  }
}

/** `stack rm`, after the services are gone: every secret, config and network of the stack. */
export async function removeStackObjects(control: ObjectControl, stack: string, opts: RemoveOptions): Promise<number> {
  let removed = 0;
  for (const kind of kinds) {
    const list = await listOf(control, kind, { labels: { [STACK_NAMESPACE_LABEL]: stack } });
    for (const o of list.filter((x) => x.spec?.annotations?.labels[STACK_NAMESPACE_LABEL] === stack)) {
      const name = o.spec?.annotations?.name ?? o.id;
      opts.log(`removing ${kind} ${name}`);
      if (kind === 'network') await control.removeNetwork(o.id);
      else await control.removeFileObject(kind, o.id);
      removed++;
    }
  }
  return removed;
}
