// Property: a store that commits through a log, and a replica that applies the same log (from
// a snapshot taken part-way), end with identical state, whatever the transactions were, and
// refused transactions leave no trace.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Task, TaskState } from '../../../proto/gen/types.js';
import { MemoryStore, slotKey, type Proposer } from '../../../manager/store/index.js';

type Op =
  | { op: 'create'; id: number; slot: number }
  | { op: 'update'; id: number; node: string; stale: boolean }
  | { op: 'remove'; id: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant('create' as const), id: fc.nat(7), slot: fc.nat(3) }),
  fc.record({ op: fc.constant('update' as const), id: fc.nat(7), node: fc.constantFrom('a', 'b', 'c'), stale: fc.boolean() }),
  fc.record({ op: fc.constant('remove' as const), id: fc.nat(7) }),
);

function dump(s: MemoryStore): unknown {
  return s.view((tx) =>
    tx.tasks
      .all()
      .map((t) => Task.toJSON(t as Task))
      .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
  );
}

describe('store replay', () => {
  it('leader and replica agree after any sequence of transactions', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(opArb, { minLength: 1, maxLength: 4 }), { maxLength: 25 }), fc.nat(25), async (txs, cut) => {
        const log: Uint8Array[] = [];
        let leader!: MemoryStore;
        const proposer: Proposer = {
          propose: (d) => {
            log.push(d);
            const index = BigInt(log.length);
            leader.applyCommitted(d, index);
            return Promise.resolve({ index });
          },
        };
        leader = new MemoryStore({ proposer });
        let snapshot: Uint8Array | undefined;
        let snapshotAt = 0;
        const seen = new Map<string, Task>();
        for (const [i, ops] of txs.entries()) {
          if (i === cut) {
            snapshot = leader.snapshot();
            snapshotAt = log.length;
          }
          const before = dump(leader);
          const ok = await leader
            .update((tx) => {
              for (const o of ops) {
                const id = `t${o.id}`;
                if (o.op === 'create') tx.tasks.create(Task.fromPartial({ id, serviceId: 's', slot: o.slot, desiredState: TaskState.RUNNING }));
                else if (o.op === 'remove') tx.tasks.delete(id);
                else {
                  const cur = o.stale ? (seen.get(id) ?? tx.tasks.get(id)) : tx.tasks.get(id);
                  if (!cur) throw new Error('missing');
                  tx.tasks.update({ ...cur, nodeId: o.node });
                }
              }
            })
            .then(
              () => true,
              () => false,
            );
          if (!ok) expect(dump(leader)).toEqual(before);
          leader.view((tx) => tx.tasks.all().forEach((t) => seen.has(t.id) || seen.set(t.id, t as Task)));
        }
        const replica = new MemoryStore();
        if (snapshot) replica.restore(snapshot);
        for (let i = snapshotAt; i < log.length; i++) replica.applyCommitted(log[i]!, BigInt(i + 1));
        expect(dump(replica)).toEqual(dump(leader));
        expect(replica.version).toBe(leader.version);
        // Indexes agree with the objects.
        for (const s of [leader, replica]) {
          s.view((tx) => {
            for (const t of tx.tasks.all()) expect(tx.tasks.find('slot', slotKey('s', t.slot, t.nodeId)).map((x) => x.id)).toContain(t.id);
            expect(tx.tasks.find('service', 's').length).toBe(tx.tasks.all().length);
            for (const n of ['a', 'b', 'c']) expect(tx.tasks.find('node', n).every((t) => t.nodeId === n)).toBe(true);
          });
        }
      }),
      { numRuns: 150 },
    );
  });
});
