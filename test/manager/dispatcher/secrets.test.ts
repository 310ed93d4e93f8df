// Secrets and configs in the assignment streams, over real gRPC: sent whole before the first
// task of a node that needs them, removed by id after the last, and never sent to a node that
// runs no task needing them.
import { afterEach, describe, expect, it } from 'vitest';
import { AssignmentChange_Action, AssignmentsType, type AssignmentChange, type AssignmentsMessage } from '../../../proto/gen/dispatcher.js';
import { Config, Secret, Task, TaskState, TaskStatus } from '../../../proto/gen/types.js';
import { MemoryStore } from '../../../manager/store/index.js';
import { makeHarness, until, type Collected, type Harness } from './harness.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

function task(id: string, nodeId: string, secrets: string[] = [], configs: string[] = []): Task {
  return Task.fromPartial({
    id,
    nodeId,
    serviceId: `svc-${id}`,
    slot: 1,
    desiredState: TaskState.RUNNING,
    spec: {
      container: {
        image: 'busybox',
        secrets: secrets.map((s) => ({ secretId: s, secretName: `name-${s}`, file: { name: s, uid: '0', gid: '0', mode: 0o400 } })),
        configs: configs.map((c) => ({ configId: c, configName: `name-${c}`, file: undefined })),
      },
    },
    status: { state: TaskState.ASSIGNED },
  });
}

const secret = (id: string, data: string): Secret => Secret.fromPartial({ id, spec: { annotations: { name: `name-${id}` }, data: Buffer.from(data) } });
const config = (id: string, data: string): Config => Config.fromPartial({ id, spec: { annotations: { name: `name-${id}` }, data: Buffer.from(data) } });

/** One change as a short string: "+s:ID=data", "-c:ID", "+t:ID", "-t:ID". */
function brief(c: AssignmentChange): string {
  const sign = c.action === AssignmentChange_Action.UPDATE ? '+' : '-';
  if (c.task) return `${sign}t:${c.task.id}`;
  const [k, o] = c.secret ? ['s', c.secret] : ['c', c.config!];
  const data = o.spec ? `=${Buffer.from(o.spec.data).toString()}` : '';
  return `${sign}${k}:${o.id}${data}`;
}

async function stream(hh: Harness, nodeId: string): Promise<Collected<AssignmentsMessage>> {
  const c = hh.client(nodeId);
  const s = c.session(`host-${nodeId}`);
  await until(() => s.messages.length > 0 || s.ended, 'session');
  expect(s.error).toBeUndefined();
  const a = c.assignments(s.messages[0]!.sessionId);
  await until(() => a.messages.length === 1, `${nodeId} complete set`);
  return a;
}

async function next(a: Collected<AssignmentsMessage>, n: number, what: string): Promise<string[]> {
  await until(() => a.messages.length >= n, what);
  expect(a.messages).toHaveLength(n);
  const m = a.messages[n - 1]!;
  expect(m.appliesTo).toBe(a.messages[n - 2]?.resultsIn ?? '');
  return m.changes.map(brief);
}

describe('secrets and configs in assignments', () => {
  it('go to the nodes that need them, before their tasks, and are removed after the last one', async () => {
    const store = new MemoryStore();
    await store.update((tx) => {
      tx.secrets.create(secret('s1', 'one'));
      tx.secrets.create(secret('s2', 'two'));
      tx.configs.create(config('c1', 'cfg'));
      tx.tasks.create(task('t1', 'n1', ['s1'], ['c1']));
      tx.tasks.create(task('t2', 'n1', ['s1']));
      tx.tasks.create(task('t3', 'n2'));
      tx.tasks.create(task('tp', 'n1', ['s2'])); // pending: not the node's yet, nor its secret
      tx.tasks.update({ ...tx.tasks.get('tp')!, status: TaskStatus.fromPartial({ state: TaskState.PENDING }) });
    });
    h = await makeHarness({}, store);
    h.start();
    const a1 = await stream(h, 'n1');
    const a2 = await stream(h, 'n2');
    const a3 = await stream(h, 'n3');
    expect(a1.messages[0]!.type).toBe(AssignmentsType.COMPLETE);
    expect(a1.messages[0]!.changes.map(brief)).toEqual(['+s:s1=one', '+c:c1=cfg', '+t:t1', '+t:t2']);
    expect(a2.messages[0]!.changes.map(brief)).toEqual(['+t:t3']);
    expect(a3.messages[0]!.changes.map(brief)).toEqual([]);

    // A new task needing a new secret: the secret comes first, in the same message.
    await store.update((tx) => tx.tasks.create(task('t4', 'n1', ['s2'])));
    expect(await next(a1, 2, 't4 with s2')).toEqual(['+s:s2=two', '+t:t4']);
    // n2 gets s1 only once a task of its own needs it.
    await store.update((tx) => tx.tasks.create(task('t5', 'n2', ['s1'])));
    expect(await next(a2, 2, 't5 with s1')).toEqual(['+s:s1=one', '+t:t5']);

    // t1 ends: its config goes (by id, no data); s1 stays for t2; t1 itself is not re-sent.
    await store.update((tx) => tx.tasks.update({ ...tx.tasks.get('t1')!, status: TaskStatus.fromPartial({ state: TaskState.FAILED }) }));
    expect(await next(a1, 3, 'c1 removed')).toEqual(['-c:c1']);
    expect(a1.messages[2]!.changes[0]!.config!.spec).toBeUndefined();
    // A status report of a running task sends nothing at all.
    await store.update((tx) => tx.tasks.update({ ...tx.tasks.get('t2')!, status: TaskStatus.fromPartial({ state: TaskState.RUNNING }) }));
    // The last task needing s1 leaves n1: task removal first, then the secret's.
    await store.update((tx) => tx.tasks.delete('t2'));
    expect(await next(a1, 4, 's1 removed')).toEqual(['-t:t2', '-s:s1']);

    // A task moving between nodes takes its secret along.
    await store.update((tx) => tx.tasks.update({ ...tx.tasks.get('t4')!, nodeId: 'n2' }));
    expect(await next(a1, 5, 't4 left n1')).toEqual(['-t:t4', '-s:s2']);
    expect(await next(a2, 3, 't4 came to n2')).toEqual(['+s:s2=two', '+t:t4']);

    // A reopened stream's COMPLETE set carries every object still needed.
    const again = await stream(h, 'n2');
    expect(again.messages[0]!.changes.map(brief)).toEqual(['+s:s1=one', '+s:s2=two', '+t:t3', '+t:t5', '+t:t4']);
    // n3 never saw a secret or a config, nor any message after its COMPLETE set.
    expect(a3.messages).toHaveLength(1);
    expect(a3.messages.flatMap((m) => m.changes).some((c) => c.secret || c.config)).toBe(false);
  });

  it('sends an object shared by two tasks once, and keeps it while one task replaces the other', async () => {
    const store = new MemoryStore();
    await store.update((tx) => {
      tx.secrets.create(secret('s1', 'x'));
      tx.tasks.create(task('old', 'n1', ['s1']));
    });
    h = await makeHarness({}, store);
    h.start();
    const a = await stream(h, 'n1');
    expect(a.messages[0]!.changes.map(brief)).toEqual(['+s:s1=x', '+t:old']);
    // A rolling update in one transaction: the old task shuts down, its replacement arrives.
    await store.update((tx) => {
      tx.tasks.update({ ...tx.tasks.get('old')!, desiredState: TaskState.SHUTDOWN, status: TaskStatus.fromPartial({ state: TaskState.SHUTDOWN }) });
      tx.tasks.create(task('new', 'n1', ['s1']));
    });
    expect(await next(a, 2, 'replacement')).toEqual(['+t:old', '+t:new']);
    await store.update((tx) => tx.tasks.delete('new'));
    expect(await next(a, 3, 'last one gone')).toEqual(['-t:new', '-s:s1']);
  });
});
