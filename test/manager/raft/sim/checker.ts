// Linearizability checker for a history of single-key register operations (put, get, cas),
// after Wing & Gong with Lowe's memoization (as in Porcupine): the history is partitioned by
// key, and each partition is searched depth-first over the order of call/return events,
// caching (linearized set, state) pairs already explored.

export interface Operation {
  client: number;
  key: string;
  kind: 'put' | 'get' | 'cas';
  value?: string;            // put/cas: the new value; get: the value read
  expect?: string;           // cas
  ok?: boolean;              // cas: whether it swapped; undefined when the outcome is unknown
  current?: string;          // failed cas: the value it found (a failed cas observes the state)
  call: number;              // logical time of the invocation
  ret: number;               // logical time of the response; Infinity when unknown (timed out)
}

/** Sequential specification of one register: returns the next state, or undefined if `op` cannot occur in `state`. */
function step(state: string, op: Operation): string | undefined {
  const unknown = op.ret === Infinity;
  switch (op.kind) {
    case 'put': return op.value!;
    case 'get': return unknown || op.value === state ? state : undefined;
    case 'cas': {
      const swaps = state === op.expect;
      if (!unknown && op.ok !== swaps) return undefined;
      if (!unknown && !swaps && op.current !== undefined && op.current !== state) return undefined;
      return swaps ? op.value! : state;
    }
  }
}

interface Node {
  op: number;          // index into ops
  isCall: boolean;
  match?: Node;        // call -> its return
  prev?: Node;
  next?: Node;
}

export interface CheckResult { ok: boolean; key?: string; explored: number; gaveUp?: boolean }

/** Search budget per key: beyond it the checker reports failure rather than run for hours. */
const MAX_EXPLORED = 3_000_000;

/**
 * Drops writes whose outcome is unknown and whose value nobody observed: such a write can
 * always be placed last, so the history is linearizable with it iff it is without it (values
 * are unique, and failed cas operations report the value they saw). Without this, every
 * timed-out write doubles the search space.
 */
export function pruneUnobservedWrites(ops: Operation[]): Operation[] {
  let kept = ops;
  for (;;) {
    const observed = new Set<string>();
    for (const o of kept) {
      if (o.kind === 'get' && o.value !== undefined) observed.add(o.value);
      if (o.kind === 'cas') {
        if (o.expect !== undefined && o.ok !== false) observed.add(o.expect);
        if (o.current !== undefined) observed.add(o.current);
      }
    }
    const next = kept.filter((o) => o.ret !== Infinity || o.kind === 'get' || observed.has(o.value!));
    if (next.length === kept.length) return kept;
    kept = next;
  }
}

export function checkLinearizable(history: Operation[], initial = ''): CheckResult {
  const byKey = new Map<string, Operation[]>();
  for (const op of history) {
    // A read whose answer never came tells nothing.
    if (op.kind === 'get' && op.ret === Infinity) continue;
    let l = byKey.get(op.key);
    if (!l) byKey.set(op.key, (l = []));
    l.push(op);
  }
  let explored = 0;
  for (const [key, ops] of [...byKey].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    const r = checkPartition(pruneUnobservedWrites(ops), initial);
    explored += r.explored;
    if (!r.ok) return { ok: false, key, explored, gaveUp: r.gaveUp };
  }
  return { ok: true, explored };
}

function checkPartition(ops: Operation[], initial: string): { ok: boolean; explored: number; gaveUp?: boolean } {
  // Events in time order; at equal times calls come first, so touching operations count as
  // concurrent (never a false alarm from coarse clocks).
  const events: { t: number; isCall: boolean; op: number }[] = [];
  ops.forEach((o, i) => {
    events.push({ t: o.call, isCall: true, op: i });
    events.push({ t: o.ret, isCall: false, op: i });
  });
  events.sort((a, b) => a.t - b.t || (a.isCall === b.isCall ? a.op - b.op : a.isCall ? -1 : 1));
  const head: Node = { op: -1, isCall: false };
  let tail = head;
  const calls = new Map<number, Node>();
  for (const e of events) {
    const n: Node = { op: e.op, isCall: e.isCall, prev: tail };
    tail.next = n;
    tail = n;
    if (e.isCall) calls.set(e.op, n);
    else calls.get(e.op)!.match = n;
  }
  const lift = (c: Node): void => {
    c.prev!.next = c.next;
    if (c.next) c.next.prev = c.prev;
    const r = c.match!;
    r.prev!.next = r.next;
    if (r.next) r.next.prev = r.prev;
  };
  const unlift = (c: Node): void => {
    const r = c.match!;
    r.prev!.next = r;
    if (r.next) r.next.prev = r;
    c.prev!.next = c;
    if (c.next) c.next.prev = c;
  };
  let linearized = 0n;
  let state = initial;
  const cache = new Set<string>();
  const stack: { node: Node; state: string }[] = [];
  let entry = head.next;
  let explored = 0;
  while (head.next) {
    if (++explored > MAX_EXPLORED) return { ok: false, explored, gaveUp: true };
    if (!entry) return { ok: false, explored }; // unreachable: a return always precedes the end
    if (entry.isCall) {
      const next = step(state, ops[entry.op]!);
      if (next !== undefined) {
        const bits = linearized | (1n << BigInt(entry.op));
        const k = bits.toString(36) + '|' + next;
        if (!cache.has(k)) {
          cache.add(k);
          stack.push({ node: entry, state });
          state = next;
          linearized = bits;
          lift(entry);
          entry = head.next;
          continue;
        }
      }
      entry = entry.next;
    } else {
      // A return whose call is not linearized yet: backtrack.
      const top = stack.pop();
      if (!top) return { ok: false, explored };
      state = top.state;
      linearized &= ~(1n << BigInt(top.node.op));
      unlift(top.node);
      entry = top.node.next;
    }
  }
  return { ok: true, explored };
}
