// The secret store (COMPLETE replaces, UPDATE adds, REMOVE drops by id) and the plan of a task's
// files: targets, owners and modes with their defaults, and every reference the agent refuses.
import { describe, expect, it } from 'vitest';
import { Config, Secret, Task } from '../../../proto/gen/types.js';
import { planTaskFiles, SecretStore, TaskFileError } from '../../../agent/secrets/index.js';

const secret = (id: string, name: string, data = 'pw'): Secret => Secret.fromPartial({ id, spec: { annotations: { name }, data: Buffer.from(data) } });
const config = (id: string, name: string, data = 'cfg'): Config => Config.fromPartial({ id, spec: { annotations: { name }, data: Buffer.from(data) } });

function task(container: Record<string, unknown>): Task {
  return Task.fromPartial({ id: 'shoalsatask', spec: { container: { image: 'busybox', ...container } } });
}

function store(): SecretStore {
  const s = new SecretStore();
  s.replace([secret('s1', 'db_password'), secret('s2', 'api_key')], [config('c1', 'app.conf')]);
  return s;
}

describe('SecretStore', () => {
  it('replaces the whole set on COMPLETE, adds on UPDATE and drops by id on REMOVE', () => {
    const s = store();
    expect(s.ids()).toEqual({ secrets: ['s1', 's2'], configs: ['c1'] });
    s.putSecret(secret('s3', 'new'));
    s.removeSecret('s1');
    s.removeConfig('c1');
    s.putConfig(config('c2', 'other'));
    expect(s.ids()).toEqual({ secrets: ['s2', 's3'], configs: ['c2'] });
    s.replace([secret('s9', 'only')], []);
    expect(s.ids()).toEqual({ secrets: ['s9'], configs: [] });
    expect(s.secret('s2')).toBeUndefined();
    expect(Buffer.from(s.secret('s9')!.spec!.data).toString()).toBe('pw');
  });
});

describe('planTaskFiles', () => {
  it('puts relative secrets under /run/secrets and configs at /<name>, owned by root with mode 0444 by default', () => {
    const files = planTaskFiles(task({ secrets: [{ secretId: 's1', secretName: 'db_password' }], configs: [{ configId: 'c1', configName: 'app.conf' }] }), store());
    expect(files.map(({ data, ...f }) => ({ ...f, data: Buffer.from(data).toString() }))).toEqual([
      { kind: 'secret', id: 's1', name: 'db_password', target: '/run/secrets/db_password', uid: 0, gid: 0, mode: 0o444, data: 'pw' },
      { kind: 'config', id: 'c1', name: 'app.conf', target: '/app.conf', uid: 0, gid: 0, mode: 0o444, data: 'cfg' },
    ]);
  });

  it('honours target names, absolute targets, numeric owners and modes', () => {
    const files = planTaskFiles(
      task({
        secrets: [
          { secretId: 's1', secretName: 'db_password', file: { name: 'db', uid: '1000', gid: '2000', mode: 0o400 } },
          { secretId: 's1', secretName: 'db_password', file: { name: '/etc/app//db.pw', uid: '', gid: '', mode: 0 } },
        ],
        configs: [{ configId: 'c1', configName: 'app.conf', file: { name: 'etc/app.conf', uid: '0', gid: '0', mode: 0o640 } }],
      }),
      store(),
    );
    expect(files.map((f) => [f.target, f.uid, f.gid, f.mode])).toEqual([
      ['/run/secrets/db', 1000, 2000, 0o400],
      ['/etc/app/db.pw', 0, 0, 0o444],
      ['/etc/app.conf', 0, 0, 0o640],
    ]);
  });

  it.each([
    ['an unknown secret, by name', { secrets: [{ secretId: 'nope', secretName: 'missing_pw' }] }, 'secret "missing_pw" (id nope) was not sent to this node'],
    ['an unknown config, by name', { configs: [{ configId: 'cx', configName: 'gone.conf' }] }, 'config "gone.conf" (id cx) was not sent to this node'],
    ['a user name as uid', { secrets: [{ secretId: 's1', secretName: 'db_password', file: { name: 'x', uid: 'app', gid: '', mode: 0 } }] }, 'uid "app" of secret "db_password" (id s1): give a numeric id'],
    ['a target with ..', { secrets: [{ secretId: 's1', secretName: 'db_password', file: { name: '../../etc/shadow', uid: '', gid: '', mode: 0 } }] }, "must not contain '..'"],
    ['a directory target', { configs: [{ configId: 'c1', configName: 'app.conf', file: { name: '/etc/', uid: '', gid: '', mode: 0 } }] }, 'must name a file'],
    ['a mode past 07777', { configs: [{ configId: 'c1', configName: 'app.conf', file: { name: '', uid: '', gid: '', mode: 0o10000 } }] }, 'mode 10000 of config "app.conf"'],
    ['two files on one target', { secrets: [{ secretId: 's1', secretName: 'db_password', file: { name: '/x', uid: '', gid: '', mode: 0 } }], configs: [{ configId: 'c1', configName: 'app.conf', file: { name: '/x', uid: '', gid: '', mode: 0 } }] }, 'both target /x'],
  ])('refuses %s, naming it', (_n, container, msg) => {
    expect(() => planTaskFiles(task(container), store())).toThrow(TaskFileError);
    expect(() => planTaskFiles(task(container), store())).toThrow(msg);
  });

  it('refuses any reference when the node keeps no store, and plans nothing for a task without any', () => {
    expect(() => planTaskFiles(task({ secrets: [{ secretId: 's1', secretName: 'db_password' }] }), undefined)).toThrow(/was not sent to this node/);
    expect(planTaskFiles(task({}), undefined)).toEqual([]);
  });
});
