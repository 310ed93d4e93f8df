// Turning a transaction's changes into StoreAction messages, and back into typed objects.
import { StoreAction, StoreActionKind } from '../../proto/gen/store.js';
import { Cluster, Config, Network, Node, Secret, Service, Task, type Meta } from '../../proto/gen/types.js';
import type { Change } from './tx.js';
import type { ObjectKind, ReadonlyDeep, StoreObject } from './types.js';

type Target = NonNullable<StoreAction['target']>;

const MESSAGES = { cluster: Cluster, node: Node, service: Service, task: Task, network: Network, secret: Secret, config: Config };

function target(kind: ObjectKind, value: StoreObject): Target {
  return { $case: kind, value } as Target;
}

/** One action per touched object, in the order the transaction first touched them. */
export function changesToActions(changes: readonly Change[], nowMs: bigint): StoreAction[] {
  const out: StoreAction[] = [];
  for (const c of changes) {
    if (!c.base && !c.obj) continue; // created and removed in the same transaction
    const expectedVersion = c.base?.meta?.version ?? 0n;
    if (!c.obj) {
      out.push({ kind: StoreActionKind.ACTION_REMOVE, expectedVersion, target: target(c.kind, (MESSAGES[c.kind] as { fromPartial(o: { id: string }): StoreObject }).fromPartial({ id: c.id })) });
      continue;
    }
    // The version is filled in when the proposal is applied (it is the Raft index).
    const meta: Meta = { version: 0n, createdAtMs: c.base?.meta?.createdAtMs ?? nowMs, updatedAtMs: nowMs };
    const value = { ...(c.obj as object), meta } as StoreObject;
    out.push({
      kind: c.base ? StoreActionKind.ACTION_UPDATE : StoreActionKind.ACTION_CREATE,
      expectedVersion,
      target: target(c.kind, value),
    });
  }
  return out;
}

export interface DecodedAction {
  readonly action: StoreActionKind;
  readonly kind: ObjectKind;
  readonly object: StoreObject & { id: string; meta: Meta | undefined };
  readonly expectedVersion: bigint;
}

export function decodeAction(a: StoreAction): DecodedAction {
  if (!a.target) throw new Error('store action without an object');
  return {
    action: a.kind,
    kind: a.target.$case,
    object: a.target.value,
    expectedVersion: a.expectedVersion,
  };
}

/** A mutable deep copy of a stored object, to change and pass to update(). */
export function cloneObject<T>(obj: ReadonlyDeep<T>): T {
  return structuredClone(obj) as T;
}

