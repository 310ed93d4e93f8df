// Places a group of identical tasks in one pass. Nodes that pass the static filters go into a
// tree: one level per spread preference (one branch per label value), a min-heap of nodes at the
// leaves ordered by tasks of this service, then tasks overall. Each task walks down to the
// branch with the fewest tasks of the service and takes the best node there: O(log n) per task.
import { spreadValue, type SpreadDescriptor } from './constraints.js';
import { dynamicFailure, explain, staticFailure, type Requirements } from './filters.js';
import { MinHeap } from './heap.js';
import type { NodeInfo } from './node-info.js';

interface Branch {
  /** Tasks of the service in this branch, counting the ones placed in this pass. */
  count: number;
  exhausted: boolean;
  place(taskId: string): NodeInfo | undefined;
}

class Leaf implements Branch {
  count = 0;
  exhausted = false;
  private readonly heap: MinHeap<NodeInfo>;

  constructor(
    nodes: NodeInfo[],
    private readonly req: Requirements,
  ) {
    const svc = req.usage.serviceId;
    for (const n of nodes) this.count += n.serviceTasks(svc);
    this.heap = new MinHeap(nodes, (a, b) => {
      const sa = a.serviceTasks(svc);
      const sb = b.serviceTasks(svc);
      if (sa !== sb) return sa < sb;
      if (a.tasks.size !== b.tasks.size) return a.tasks.size < b.tasks.size;
      return a.id < b.id;
    });
  }

  place(taskId: string): NodeInfo | undefined {
    for (let top = this.heap.peek(); top; top = this.heap.peek()) {
      // Resources, ports and per-node caps only shrink during a pass: a node that fails now
      // fails for the rest of the group.
      if (dynamicFailure(top, this.req)) {
        this.heap.pop();
        continue;
      }
      top.add(taskId, this.req.usage);
      this.heap.topChanged();
      this.count++;
      return top;
    }
    return undefined;
  }
}

class Inner implements Branch {
  count = 0;
  exhausted = false;

  constructor(private readonly children: Branch[]) {
    for (const c of children) this.count += c.count;
  }

  place(taskId: string): NodeInfo | undefined {
    for (;;) {
      let best: Branch | undefined;
      for (const c of this.children) if (!c.exhausted && (!best || c.count < best.count)) best = c;
      if (!best) return undefined;
      const info = best.place(taskId);
      if (info) {
        this.count++;
        return info;
      }
      best.exhausted = true;
    }
  }
}

function build(nodes: NodeInfo[], levels: readonly SpreadDescriptor[], req: Requirements): Branch {
  if (levels.length === 0) return new Leaf(nodes, req);
  const [level, ...rest] = levels as [SpreadDescriptor, ...SpreadDescriptor[]];
  const groups = new Map<string, NodeInfo[]>();
  for (const n of nodes) {
    const v = spreadValue(level, n.node);
    const g = groups.get(v);
    if (g) g.push(n);
    else groups.set(v, [n]);
  }
  const children = [...groups.keys()].sort().map((v) => build(groups.get(v)!, rest, req));
  return new Inner(children);
}

export interface GroupPlacement {
  readonly assigned: [taskId: string, nodeId: string][];
  readonly unplaced: string[];
  /** Why the unplaced tasks fit nowhere. */
  readonly reason?: string;
}

/** Places taskIds (all with requirements req) on nodes, recording each placement in the NodeInfos. */
export function placeGroup(taskIds: readonly string[], req: Requirements, nodes: readonly NodeInfo[]): GroupPlacement {
  const assigned: [string, string][] = [];
  if (req.invalid) return { assigned, unplaced: [...taskIds], reason: explain(nodes, req) };
  const eligible = nodes.filter((n) => !staticFailure(n, req));
  const root = build(eligible, req.spread, req);
  let i = 0;
  for (; i < taskIds.length; i++) {
    const info = root.place(taskIds[i]!);
    if (!info) break;
    assigned.push([taskIds[i]!, info.id]);
  }
  if (i === taskIds.length) return { assigned, unplaced: [] };
  return { assigned, unplaced: taskIds.slice(i), reason: explain(nodes, req) };
}

/** A task whose node was chosen beforehand (global services): that node or nothing. */
export function placeOnNode(taskId: string, req: Requirements, info: NodeInfo | undefined): GroupPlacement {
  if (!info) return { assigned: [], unplaced: [taskId], reason: 'no suitable node (its node is no longer in the cluster)' };
  if (req.invalid || staticFailure(info, req) || dynamicFailure(info, req)) {
    return { assigned: [], unplaced: [taskId], reason: explain([info], req) };
  }
  info.add(taskId, req.usage);
  return { assigned: [[taskId, info.id]], unplaced: [] };
}
