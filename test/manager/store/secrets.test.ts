// The secrets and configs tables: ids, versions, unique names, events and snapshots, as the
// other kinds have them.
import { describe, expect, it } from 'vitest';
import { Config, Secret } from '../../../proto/gen/types.js';
import { MemoryStore, NameConflictError, SequenceConflictError, type StoreEvent } from '../../../manager/store/index.js';

function secret(id: string, name: string, data = 'pw'): Secret {
  return Secret.fromPartial({ id, spec: { annotations: { name, labels: {} }, data: Buffer.from(data) } });
}

function config(id: string, name: string, data = 'cfg'): Config {
  return Config.fromPartial({ id, spec: { annotations: { name, labels: {} }, data: Buffer.from(data) } });
}

function drain(w: { poll(): StoreEvent | undefined }): string[] {
  const out: string[] = [];
  for (let e = w.poll(); e; e = w.poll()) out.push(e.type === 'commit' || e.type === 'reset' ? `${e.type}@${e.version}` : `${e.type}:${e.kind}:${e.object.id}`);
  return out;
}

describe('MemoryStore secrets and configs', () => {
  it('stores, versions, finds by name and deletes secrets and configs with events', async () => {
    const store = new MemoryStore();
    const w = store.watch();
    await store.update((tx) => {
      tx.secrets.create(secret('sec1', 'db-password'));
      tx.configs.create(config('cfg1', 'nginx.conf'));
    });
    const s = store.view((tx) => tx.secrets.get('sec1'))!;
    expect(s.meta?.version).toBe(1n);
    expect(Buffer.from(s.spec!.data).toString()).toBe('pw');
    expect(store.view((tx) => tx.secrets.find('name', 'DB-Password').map((x) => x.id))).toEqual(['sec1']);
    expect(store.view((tx) => tx.configs.find('name', 'nginx.conf').map((x) => x.id))).toEqual(['cfg1']);
    await store.update((tx) => {
      const cur = tx.secrets.get('sec1')!;
      tx.secrets.update({ ...cur, spec: { ...cur.spec!, annotations: { name: 'db-password', labels: { a: 'b' } } } });
    });
    expect(store.view((tx) => tx.secrets.get('sec1')!.meta?.version)).toBe(2n);
    // A writer holding the first version is refused.
    await expect(store.update((tx) => tx.secrets.update({ ...s, spec: { ...s.spec!, annotations: { name: 'x', labels: {} } } }))).rejects.toBeInstanceOf(
      SequenceConflictError,
    );
    await store.update((tx) => {
      tx.secrets.delete('sec1');
      tx.configs.delete('cfg1');
    });
    expect(store.view((tx) => [tx.secrets.all().length, tx.configs.all().length])).toEqual([0, 0]);
    expect(drain(w)).toEqual([
      'create:secret:sec1',
      'create:config:cfg1',
      'commit@1',
      'update:secret:sec1',
      'commit@2',
      'delete:secret:sec1',
      'delete:config:cfg1',
      'commit@3',
    ]);
  });

  it('keeps names unique per kind, case-insensitively; a secret and a config may share a name', async () => {
    const store = new MemoryStore();
    await store.update((tx) => tx.secrets.create(secret('s1', 'token')));
    await expect(store.update((tx) => tx.secrets.create(secret('s2', 'TOKEN')))).rejects.toBeInstanceOf(NameConflictError);
    await expect(
      store.update((tx) => {
        tx.configs.create(config('c1', 'app'));
        tx.configs.create(config('c2', 'App'));
      }),
    ).rejects.toBeInstanceOf(NameConflictError);
    await store.update((tx) => tx.configs.create(config('c3', 'token')));
    expect(store.view((tx) => [tx.secrets.all().map((x) => x.id), tx.configs.all().map((x) => x.id)])).toEqual([['s1'], ['c3']]);
  });

  it('round-trips secrets and configs through a snapshot, indexes included', async () => {
    const store = new MemoryStore();
    await store.update((tx) => {
      tx.secrets.create(secret('s1', 'one', 'first'));
      tx.secrets.create(secret('s2', 'two', 'second'));
      tx.configs.create(config('c1', 'conf', 'x=1'));
    });
    const copy = new MemoryStore();
    copy.restore(store.snapshot());
    expect(copy.view((tx) => tx.secrets.all())).toEqual(store.view((tx) => tx.secrets.all()));
    expect(copy.view((tx) => tx.configs.all())).toEqual(store.view((tx) => tx.configs.all()));
    expect(Buffer.from(copy.view((tx) => tx.secrets.find('name', 'TWO')[0]!.spec!.data)).toString()).toBe('second');
    await expect(copy.update((tx) => tx.configs.create(config('c2', 'CONF')))).rejects.toBeInstanceOf(NameConflictError);
  });
});
