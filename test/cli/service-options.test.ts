// `shoal service create|update` with the container's kernel options (--cap-add, --cap-drop,
// --sysctl, --ulimit, --init and update's -add/-rm forms): the real CLI process against a control
// API on a unix socket, with the real orchestrator, scheduler and updater and a fake agent. What
// the containers see is proven in the lab (test/e2e/options.test.ts); here: what is stored and
// sent to the tasks, and that bad values are refused before anything reaches the cluster.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TaskState } from '../../proto/gen/types.js';
import { expectOneLineError, startCli, type CliHarness } from './service-harness.js';

let h: CliHarness;
beforeAll(async () => {
  h = await startCli();
});
afterAll(async () => {
  await h?.close();
});

const service = (name: string) => h.control.store.view((tx) => tx.services.find('name', name)[0]);
const serviceCount = (): number => h.control.store.view((tx) => tx.services.all().length);
/** The container specs of the service's running tasks. */
const liveContainers = (name: string) =>
  h.control.store.view((tx) =>
    tx.tasks
      .find('service', service(name)!.id)
      .filter((t) => t.desiredState === TaskState.RUNNING && t.status?.state === TaskState.RUNNING)
      .map((t) => t.spec!.container!),
  );

describe('shoal service create|update: kernel options', () => {
  it('create stores the options and its tasks carry them', async () => {
    const r = await h.shoal([
      'service', 'create', '--name', 'opts', '--replicas', '2',
      '--cap-drop', 'chown', '--cap-add', 'NET_ADMIN', '--cap-add', 'CAP_SYS_TIME',
      '--sysctl', 'kernel.shmmax=1073741824', '--sysctl', 'kernel.msgmax=65536',
      '--ulimit', 'nofile=777:888', '--ulimit', 'core=0', '--init',
      'busybox', 'sleep', '1000',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/opts: 2\/2 running/);
    const want = {
      capAdd: ['CAP_NET_ADMIN', 'CAP_SYS_TIME'],
      capDrop: ['CAP_CHOWN'],
      sysctls: { 'kernel.msgmax': '65536', 'kernel.shmmax': '1073741824' },
      ulimits: [{ name: 'core', soft: 0n, hard: 0n }, { name: 'nofile', soft: 777n, hard: 888n }],
      init: true,
    };
    expect(service('opts')!.spec!.task!.container).toMatchObject(want);
    const live = liveContainers('opts');
    expect(live).toHaveLength(2);
    for (const c of live) expect(c).toMatchObject(want);
    // inspect shows them as the API's JSON (which leaves out zeros)
    const inspect = await h.shoal(['service', 'inspect', 'opts']);
    expect((JSON.parse(inspect.stdout) as { spec: { task: { container: object } } }[])[0]!.spec.task.container).toMatchObject({
      capAdd: ['CAP_NET_ADMIN', 'CAP_SYS_TIME'],
      ulimits: [{ name: 'core' }, { name: 'nofile', soft: '777', hard: '888' }],
      init: true,
    });
  });

  it('update edits the options and replaces the tasks with ones that carry the new set', async () => {
    const r = await h.shoal([
      'service', 'update', '--update-monitor', '100ms', '--update-parallelism', '0',
      '--cap-add', 'CHOWN', '--cap-drop', 'SYS_TIME', '--cap-drop', 'KILL',
      '--sysctl-rm', 'kernel.msgmax', '--sysctl-add', 'kernel.shmmax=2147483648',
      '--ulimit-rm', 'core', '--ulimit-add', 'nofile=555', '--no-init', 'opts',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/opts: update completed/);
    // CHOWN was dropped, so adding it takes it off the drop list; SYS_TIME was added, so
    // dropping it takes it off the add list; KILL was neither, so it is dropped
    const want = {
      capAdd: ['CAP_NET_ADMIN'],
      capDrop: ['CAP_KILL'],
      sysctls: { 'kernel.shmmax': '2147483648' },
      ulimits: [{ name: 'nofile', soft: 555n, hard: 555n }],
      init: false,
    };
    expect(service('opts')!.spec!.task!.container).toMatchObject(want);
    const live = liveContainers('opts');
    expect(live).toHaveLength(2);
    for (const c of live) expect(c).toMatchObject(want);
    // the same flags again change nothing: the lists are kept sorted and without duplicates
    const again = await h.shoal(['service', 'update', '--cap-drop', 'KILL', '--ulimit-add', 'nofile=555:555', '--no-init', 'opts']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/no change/);
  });

  it('refuses bad values with one line naming the flag, before anything is written or read', async () => {
    const before = serviceCount();
    const bad: [string[], RegExp][] = [
      [['--cap-add', 'NET_ADMN'], /^shoal: --cap-add: unknown capability "NET_ADMN": use a Linux capability such as NET_ADMIN/],
      [['--sysctl', 'vm.swappiness=1'], /^shoal: --sysctl: sysctl vm.swappiness is not namespaced: a container may set net\.\*/],
      [['--sysctl', 'kernel.shmmax'], /^shoal: --sysctl "kernel.shmmax" is not KEY=VALUE: write e.g. --sysctl kernel.shmmax=/],
      [['--ulimit', 'nofile=888:777'], /^shoal: --ulimit: ulimit nofile: soft limit 888 is above the hard limit 777/],
      [['--ulimit', 'open_files=10'], /^shoal: --ulimit: unknown ulimit "open_files": use one of /],
    ];
    for (const [flags, msg] of bad) expectOneLineError(await h.shoal(['service', 'create', '--name', 'bad', ...flags, 'busybox']), msg);
    expect(serviceCount()).toBe(before);
    expect(service('bad')).toBeUndefined();

    const version = service('opts')!.meta!.version;
    expectOneLineError(await h.shoal(['service', 'update', '--ulimit-add', 'nofile=lots', 'opts']), /^shoal: --ulimit-add "nofile=lots" is not NAME=SOFT\[:HARD\]/);
    expectOneLineError(await h.shoal(['service', 'update', '--cap-drop', 'everything', 'opts']), /^shoal: --cap-drop: unknown capability "everything"/);
    expect(service('opts')!.meta!.version).toBe(version);
    // judged before the service is looked up: the flag is named, not the missing service
    expectOneLineError(await h.shoal(['service', 'update', '--sysctl-add', 'fs.file-max=1', 'no-such-service']), /^shoal: --sysctl-add: sysctl fs.file-max is not namespaced/);
  });
});
