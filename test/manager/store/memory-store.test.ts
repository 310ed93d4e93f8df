import { describe, expect, it } from 'vitest';
import { StoreActions } from '../../../proto/gen/store.js';
import { Service, Task, TaskState } from '../../../proto/gen/types.js';
import { FakeClock } from '../../../manager/clock.js';
import {
  AsyncTransactionError,
  MemoryStore,
  NameConflictError,
  ObjectExistsError,
  SequenceConflictError,
  type Proposer,
  type StoreEvent,
} from '../../../manager/store/index.js';
import { makeNode, makeService } from './fixtures.js';

function task(id: string, serviceId: string, slot: number, nodeId = ''): Task {
  return Task.fromPartial({ id, serviceId, slot, nodeId, desiredState: TaskState.RUNNING, status: { state: TaskState.PENDING } });
}

function drain(w: { poll(): StoreEvent | undefined }): StoreEvent[] {
  const out: StoreEvent[] = [];
  for (let e = w.poll(); e; e = w.poll()) out.push(e);
  return out;
}

describe('MemoryStore', () => {
  it('applies a transaction as one proposal and versions objects with its index', async () => {
    const clock = new FakeClock();
    const store = new MemoryStore({ clock });
    await store.update((tx) => {
      tx.services.create(makeService('s1', 'web'));
      tx.tasks.create(task('t1', 's1', 1));
      tx.tasks.create(task('t2', 's1', 2));
    });
    expect(store.version).toBe(1n);
    store.view((tx) => {
      expect(tx.tasks.find('service', 's1').map((t) => t.id).sort()).toEqual(['t1', 't2']);
      expect(tx.tasks.get('t1')?.meta?.version).toBe(1n);
      expect(tx.tasks.get('t1')?.meta?.createdAtMs).toBe(BigInt(clock.now()));
      expect(tx.services.find('name', 'WEB').map((s) => s.id)).toEqual(['s1']);
    });
    await clock.advance(1000);
    const { result, version } = await store.updateVersioned((tx) => {
      const t = tx.tasks.get('t1')!;
      tx.tasks.update({ ...t, nodeId: 'n1' });
      return 'done';
    });
    expect([result, version]).toEqual(['done', 2n]);
    store.view((tx) => {
      const t = tx.tasks.get('t1')!;
      expect(t.meta?.version).toBe(2n);
      expect(t.meta?.updatedAtMs).toBe(t.meta!.createdAtMs + 1000n);
      expect(tx.tasks.find('node', 'n1').map((x) => x.id)).toEqual(['t1']);
      expect(tx.tasks.get('t2')?.meta?.version).toBe(1n);
    });
  });

  it('isolates a transaction: its writes are visible to itself only until commit', async () => {
    const store = new MemoryStore();
    let seenOutside: number | undefined;
    await store.update((tx) => {
      tx.tasks.create(task('t1', 's1', 1));
      expect(tx.tasks.get('t1')?.id).toBe('t1');
      expect(tx.tasks.find('slot', 's1\u00001').length).toBe(1);
      seenOutside = store.view((r) => r.tasks.all().length);
    });
    expect(seenOutside).toBe(0);
    expect(store.view((r) => r.tasks.all().length)).toBe(1);
  });

  it('refuses an update from a stale version, and a failed transaction changes nothing', async () => {
    const store = new MemoryStore();
    await store.update((tx) => tx.tasks.create(task('t1', 's1', 1)));
    const stale = store.view((tx) => tx.tasks.get('t1')!);
    await store.update((tx) => tx.tasks.update({ ...tx.tasks.get('t1')!, nodeId: 'a' }));
    const w = store.watch();
    await expect(
      store.update((tx) => {
        tx.tasks.create(task('t2', 's1', 2));
        tx.tasks.update({ ...stale, nodeId: 'b' });
      }),
    ).rejects.toBeInstanceOf(SequenceConflictError);
    await expect(store.update((tx) => tx.tasks.create(task('t1', 's1', 1)))).rejects.toBeInstanceOf(ObjectExistsError);
    await expect(
      store.update((tx) => {
        tx.tasks.create(task('t3', 's1', 3));
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    await expect(store.update(async () => undefined)).rejects.toBeInstanceOf(AsyncTransactionError);
    store.view((tx) => {
      expect(tx.tasks.all().map((t) => t.id)).toEqual(['t1']);
      expect(tx.tasks.get('t1')?.nodeId).toBe('a');
    });
    expect(drain(w)).toEqual([]);
    expect(store.version).toBe(2n);
  });

  it('checks versions again when applying, so every replica refuses the same conflicting proposal', async () => {
    // Two proposals built from the same read reach the log; the second must not apply.
    const log: Uint8Array[] = [];
    const proposer: Proposer = { propose: (d) => (log.push(d), Promise.resolve({ index: BigInt(log.length + 1) })) };
    const leader = new MemoryStore({ proposer });
    const base = new MemoryStore();
    await base.update((tx) => tx.tasks.create(task('t1', 's1', 1)));
    leader.restore(base.snapshot());
    const p1 = leader.update((tx) => tx.tasks.update({ ...tx.tasks.get('t1')!, nodeId: 'a' }));
    await new Promise((r) => setImmediate(r));
    expect(log.length).toBe(1);
    // A replica applies both entries; the second is a stale write of the same object.
    const replica = new MemoryStore();
    replica.restore(base.snapshot());
    const stale = StoreActions.decode(log[0]!);
    stale.proposalId = 'other';
    stale.actions[0]!.target = { $case: 'task', value: { ...task('t1', 's1', 1), nodeId: 'b' } };
    for (const s of [leader, replica]) {
      s.applyCommitted(log[0]!, 2n);
      s.applyCommitted(StoreActions.encode(stale).finish(), 3n);
      expect(s.view((tx) => tx.tasks.get('t1')?.nodeId)).toBe('a');
      expect(s.version).toBe(3n);
    }
    await p1;
  });

  it('keeps service names unique, case-insensitively, within and across transactions', async () => {
    const store = new MemoryStore();
    await store.update((tx) => tx.services.create(makeService('s1', 'web')));
    await expect(store.update((tx) => tx.services.create(makeService('s2', 'Web')))).rejects.toBeInstanceOf(NameConflictError);
    await expect(
      store.update((tx) => {
        tx.services.create(makeService('s3', 'api'));
        tx.services.create(makeService('s4', 'API'));
      }),
    ).rejects.toBeInstanceOf(NameConflictError);
    // Renaming frees the old name for another service in the same transaction.
    await store.update((tx) => {
      const s = tx.services.get('s1')!;
      tx.services.update({ ...s, spec: { ...s.spec!, annotations: { name: 'web-old', labels: {} } } });
      tx.services.create(makeService('s5', 'web'));
    });
    expect(store.view((tx) => tx.services.find('name', 'web').map((s) => s.id))).toEqual(['s5']);
  });

  it('delivers events per object in commit order, each proposal followed by its commit marker', async () => {
    const store = new MemoryStore();
    const w = store.watch();
    const tasksOnly = store.watch({ filter: (e) => e.kind === 'task' });
    await store.update((tx) => {
      tx.nodes.create(makeNode('n1'));
      tx.tasks.create(task('t1', 's1', 1));
    });
    await store.update((tx) => {
      tx.tasks.update({ ...tx.tasks.get('t1')!, nodeId: 'n1' });
      tx.tasks.create(task('t2', 's1', 2));
      tx.tasks.delete('t2'); // created and removed: nothing proposed for it
    });
    await store.update((tx) => tx.tasks.delete('t1'));
    const brief = (e: StoreEvent): string => (e.type === 'commit' || e.type === 'reset' ? `${e.type}@${e.version}` : `${e.type}:${e.kind}:${e.object.id}`);
    expect(drain(w).map(brief)).toEqual([
      'create:node:n1',
      'create:task:t1',
      'commit@1',
      'update:task:t1',
      'commit@2',
      'delete:task:t1',
      'commit@3',
    ]);
    expect(drain(tasksOnly).map(brief)).toEqual(['create:task:t1', 'commit@1', 'update:task:t1', 'commit@2', 'delete:task:t1', 'commit@3']);
    w.close();
    await store.update((tx) => tx.nodes.delete('n1'));
    expect(w.poll()).toBeUndefined();
  });

  it('wakes an async reader and ends its iteration when the watch is aborted', async () => {
    const store = new MemoryStore();
    const ac = new AbortController();
    const got: string[] = [];
    const reader = (async () => {
      for await (const e of store.watch({ signal: ac.signal })) {
        got.push(e.type);
        if (e.type === 'commit') ac.abort();
      }
    })();
    await store.update((tx) => tx.nodes.create(makeNode('n1')));
    await reader;
    expect(got).toEqual(['create', 'commit']);
  });

  it('round-trips a snapshot: same objects, versions and indexes; watchers are told to re-read', async () => {
    const store = new MemoryStore();
    await store.update((tx) => {
      tx.nodes.create(makeNode('n1', { labels: { zone: 'a' } }));
      tx.services.create(makeService('s1', 'web', { replicas: 3, constraints: ['node.labels.zone==a'] }));
      for (let i = 1; i <= 3; i++) tx.tasks.create(task(`t${i}`, 's1', i, 'n1'));
    });
    await store.update((tx) => tx.tasks.update({ ...tx.tasks.get('t2')!, desiredState: TaskState.SHUTDOWN }));
    const bytes = store.snapshot();
    const copy = new MemoryStore();
    const w = copy.watch();
    copy.restore(bytes);
    expect(copy.version).toBe(2n);
    expect(drain(w)).toEqual([{ type: 'reset', version: 2n }]);
    const dump = (s: MemoryStore): unknown => s.view((tx) => ({ n: tx.nodes.all(), s: tx.services.all(), t: tx.tasks.all() }));
    expect(dump(copy)).toEqual(dump(store));
    expect(copy.view((tx) => tx.tasks.find('node', 'n1').length)).toBe(3);
    expect(copy.view((tx) => Service.toJSON(tx.services.get('s1') as Service))).toEqual(Service.toJSON(store.view((tx) => tx.services.get('s1') as Service)));
    // Writing on the restored copy continues from the snapshot's index.
    await copy.update((tx) => tx.tasks.delete('t3'));
    expect(copy.version).toBe(3n);
  });

  it('shares one spec object between tasks with identical specs of one service version', async () => {
    const store = new MemoryStore();
    const spec = makeService('s1', 'web').spec!.task!;
    const other = { ...spec, container: { ...spec.container!, image: 'other:1' } };
    await store.update((tx) => {
      for (const [id, sp] of [['a', spec], ['b', spec], ['c', other]] as const) {
        tx.tasks.create(Task.fromPartial({ id, serviceId: 's1', specVersion: 1n, slot: 1, spec: sp }));
      }
    });
    store.view((tx) => {
      const [a, b, c] = ['a', 'b', 'c'].map((id) => tx.tasks.get(id)!);
      expect(a!.spec).toBe(b!.spec);
      expect(c!.spec).not.toBe(a!.spec);
      expect(c!.spec?.container?.image).toBe('other:1');
      expect(a!.spec?.container?.image).toBe('busybox:latest');
    });
  });

  it('serialises writers: a transaction queued behind another sees its writes', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const inner = new MemoryStore();
    const proposer: Proposer = {
      propose: async (d) => {
        await gate;
        const index = inner.version + 1n;
        store.applyCommitted(d, index);
        inner.applyCommitted(d, index);
        return { index };
      },
    };
    const store = new MemoryStore({ proposer });
    const first = store.update((tx) => tx.tasks.create(task('t1', 's1', 1)));
    const second = store.update((tx) => {
      const t = tx.tasks.get('t1');
      if (!t) throw new Error('second writer ran before the first committed');
      tx.tasks.update({ ...t, nodeId: 'n1' });
    });
    release();
    await Promise.all([first, second]);
    expect(store.view((tx) => tx.tasks.get('t1')?.nodeId)).toBe('n1');
  });

  it('passes a refusal of the log to the writer and changes nothing', async () => {
    const store = new MemoryStore({ proposer: { propose: () => Promise.reject(new Error('no quorum')) } });
    await expect(store.update((tx) => tx.nodes.create(makeNode('n1')))).rejects.toThrow('no quorum');
    expect(store.view((tx) => tx.nodes.all())).toEqual([]);
  });
});
