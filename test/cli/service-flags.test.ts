// The flags `service create` and `service update` share (cli/commands/service-flags.ts): one
// definition, one parser; create sets lists, update edits them; both shapes give the same spec
// from the same values.
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { addSharedServiceOptions, applySharedServiceFlags, checkKernelOptionFlags, SHARED_FLAG_KEYS, type FlagShape, type Flags } from '../../cli/commands/service-flags.js';
import { RestartPolicy_Condition, ServiceSpec, UpdateConfig_Order } from '../../proto/gen/types.js';

function parse(shape: FlagShape, args: string[]): Flags {
  const cmd = addSharedServiceOptions(new Command().exitOverride(), shape);
  cmd.parse(args, { from: 'user' });
  return cmd.opts();
}

function apply(shape: FlagShape, args: string[], base: ServiceSpec = ServiceSpec.fromPartial({ annotations: { name: 's' } }), env: NodeJS.ProcessEnv = {}): ServiceSpec {
  const spec = ServiceSpec.fromJSON(ServiceSpec.toJSON(base));
  applySharedServiceFlags(spec, parse(shape, args), env);
  return spec;
}

const common = [
  '--limit-cpu', '0.5', '--limit-memory', '64M', '--limit-pids', '50', '--reserve-memory', '32M',
  '--restart-condition', 'on-failure', '--restart-delay', '2s', '--restart-max-attempts', '3', '--restart-window', '1m',
  '--health-cmd', 'true', '--health-retries', '2', '--update-parallelism', '2', '--update-order', 'start-first', '--rollback-monitor', '1s',
];

describe('shared service flags', () => {
  it('create and update give the same spec from the same values', () => {
    const created = apply('create', [...common, '-e', 'A=1', '--label', 'x=1', '--constraint', 'node.role==worker']);
    const updated = apply('update', [...common, '--env-add', 'A=1', '--label-add', 'x=1', '--constraint-add', 'node.role==worker']);
    expect(ServiceSpec.toJSON(updated)).toEqual(ServiceSpec.toJSON(created));
    const t = created.task!;
    expect(t.container!.env).toEqual(['A=1']);
    expect(created.annotations!.labels).toEqual({ x: '1' });
    expect(t.placement!.constraints).toEqual(['node.role==worker']);
    expect(t.resources!.limits).toMatchObject({ nanoCpus: 500_000_000n, memoryBytes: 64n << 20n, pids: 50n });
    expect(t.resources!.reservations!.memoryBytes).toBe(32n << 20n);
    expect(t.restart).toMatchObject({ condition: RestartPolicy_Condition.ON_FAILURE, delay: { nanos: 2_000_000_000n }, maxAttempts: 3, window: { nanos: 60_000_000_000n } });
    expect(t.container!.healthcheck).toMatchObject({ test: ['CMD-SHELL', 'true'], retries: 2 });
    expect(created.update).toMatchObject({ parallelism: 2, order: UpdateConfig_Order.START_FIRST });
    expect(created.rollback).toMatchObject({ parallelism: 1, monitor: { nanos: 1_000_000_000n } });
  });

  it('update edits what is stored and leaves the rest; a bare --env KEY comes from the environment', () => {
    const base = ServiceSpec.fromPartial({
      annotations: { name: 's', labels: { a: '1', b: '2' } },
      task: { container: { image: 'i', env: ['A=1', 'B=2'] }, placement: { constraints: ['c1', 'c2'] }, restart: { condition: RestartPolicy_Condition.NONE, maxAttempts: 4 } },
    });
    const s = apply('update', ['--env-add', 'B=3', '--env-add', 'HOME_DIR', '--env-rm', 'A', '--label-rm', 'a', '--constraint-rm', 'c1', '--restart-delay', '1s'], base, { HOME_DIR: '/h' });
    expect(s.task!.container!.env).toEqual(['B=3', 'HOME_DIR=/h']);
    expect(s.annotations!.labels).toEqual({ b: '2' });
    expect(s.task!.placement!.constraints).toEqual(['c2']);
    expect(s.task!.restart).toMatchObject({ condition: RestartPolicy_Condition.NONE, maxAttempts: 4, delay: { nanos: 1_000_000_000n } });
    const same = apply('update', [], base);
    expect([same.task!.container!.env, same.annotations!.labels, same.task!.placement!.constraints, same.task!.restart]).toEqual([
      base.task!.container!.env,
      base.annotations!.labels,
      base.task!.placement!.constraints,
      base.task!.restart,
    ]);
  });

  it('refuses bad values naming the flag', () => {
    expect(() => apply('create', ['--restart-condition', 'always'])).toThrow(/--restart-condition is any, on-failure, none, not "always"/);
    expect(() => apply('update', ['--restart-window', 'soon'])).toThrow(/--restart-window: /);
    expect(() => apply('create', ['--limit-memory', 'lots'])).toThrow(/--limit-memory: invalid size "lots"/);
    expect(() => apply('create', ['--label', '=x'])).toThrow(/--label "=x" has no key/);
    expect(() => apply('update', ['--update-max-failure-ratio', '2'])).toThrow(/--update-max-failure-ratio is a number from 0 to 1/);
    expect(() => apply('create', ['--no-healthcheck', '--health-cmd', 'true'])).toThrow(/--no-healthcheck conflicts/);
    expect(() => apply('create', ['--health-retries', '2'])).toThrow(/add --health-cmd/);
  });

  it('kernel options: create and update give the same spec; names take Docker\'s spelling', () => {
    const kernel = ['--cap-add', 'net_admin', '--cap-drop', 'CAP_CHOWN', '--cap-drop', 'chown', '--init'];
    const created = apply('create', [...kernel, '--sysctl', 'kernel.shmmax=1073741824', '--ulimit', 'nofile=777:888', '--ulimit', 'core=0']);
    const updated = apply('update', [...kernel, '--sysctl-add', 'kernel.shmmax=1073741824', '--ulimit-add', 'nofile=777:888', '--ulimit-add', 'core=0']);
    expect(ServiceSpec.toJSON(updated)).toEqual(ServiceSpec.toJSON(created));
    const ctr = created.task!.container!;
    expect(ctr.capAdd).toEqual(['CAP_NET_ADMIN']);
    expect(ctr.capDrop).toEqual(['CAP_CHOWN']);
    expect(ctr.sysctls).toEqual({ 'kernel.shmmax': '1073741824' });
    expect(ctr.ulimits).toEqual([{ name: 'core', soft: 0n, hard: 0n }, { name: 'nofile', soft: 777n, hard: 888n }]);
    expect(ctr.init).toBe(true);
    // added and dropped at once: added (as Docker); ALL stands alone in its list
    expect(apply('create', ['--cap-add', 'SYS_TIME', '--cap-drop', 'sys_time', '--cap-drop', 'ALL', '--cap-drop', 'KILL']).task!.container).toMatchObject({ capAdd: ['CAP_SYS_TIME'], capDrop: ['ALL'] });
    expect(apply('create', ['--ulimit', 'nproc=-1']).task!.container!.ulimits).toEqual([{ name: 'nproc', soft: -1n, hard: -1n }]);
  });

  it('update edits the kernel options as docker service update does, and leaves them alone without flags', () => {
    const base = ServiceSpec.fromPartial({
      annotations: { name: 's' },
      task: { container: { image: 'i', capAdd: ['NET_ADMIN'], capDrop: ['CHOWN'], sysctls: { 'kernel.shmmax': '1', 'kernel.msgmax': '2' }, ulimits: [{ name: 'nofile', soft: 1n, hard: 2n }, { name: 'core', soft: 0n, hard: 0n }], init: true } },
    });
    // untouched: even the stack's spelling (no CAP_ prefix) stays as stored
    expect(apply('update', ['--env-add', 'A=1'], base).task!.container).toMatchObject({ capAdd: ['NET_ADMIN'], capDrop: ['CHOWN'], init: true, ulimits: base.task!.container!.ulimits });
    // --cap-add of a dropped capability takes it off the drop list (no add); --cap-drop of an added one likewise
    const once = apply('update', ['--cap-add', 'chown', '--cap-drop', 'NET_ADMIN', '--cap-drop', 'KILL'], base).task!.container!;
    expect([once.capAdd, once.capDrop]).toEqual([[], ['CAP_KILL']]);
    // ...and a second --cap-add then adds it
    const twice = apply('update', ['--cap-add', 'CHOWN', '--cap-add', 'KILL'], ServiceSpec.fromPartial({ task: { container: once } })).task!.container!;
    expect([twice.capAdd, twice.capDrop]).toEqual([['CAP_CHOWN'], []]);
    const s = apply('update', ['--sysctl-rm', 'kernel.msgmax', '--sysctl-add', 'kernel.shmmax=3', '--ulimit-rm', 'core', '--ulimit-add', 'nofile=5', '--ulimit-add', 'nproc=10:20', '--no-init'], base).task!.container!;
    expect(s.sysctls).toEqual({ 'kernel.shmmax': '3' });
    expect(s.ulimits).toEqual([{ name: 'nofile', soft: 5n, hard: 5n }, { name: 'nproc', soft: 10n, hard: 20n }]);
    expect(s.init).toBe(false);
    expect(apply('update', ['--init'], ServiceSpec.fromPartial({ task: { container: s } })).task!.container!.init).toBe(true);
  });

  it('refuses bad kernel options naming the flag and the fix, on a spec or alone', () => {
    expect(() => apply('create', ['--cap-add', 'NET_ADMN'])).toThrow(/^--cap-add: unknown capability "NET_ADMN": use a Linux capability such as NET_ADMIN/);
    expect(() => apply('update', ['--cap-drop', 'bogus'])).toThrow(/^--cap-drop: unknown capability "bogus"/);
    expect(() => apply('create', ['--sysctl', 'vm.swappiness=10'])).toThrow(/^--sysctl: sysctl vm.swappiness is not namespaced: a container may set net\.\*, kernel\.shm\*/);
    expect(() => apply('update', ['--sysctl-add', 'kernel.shmmax'])).toThrow(/^--sysctl-add "kernel.shmmax" is not KEY=VALUE: write e.g. --sysctl-add kernel.shmmax=/);
    expect(() => apply('create', ['--sysctl', 'kernel.shmmax='])).toThrow(/is not KEY=VALUE/);
    expect(() => apply('create', ['--ulimit', 'nofile'])).toThrow(/^--ulimit "nofile" is not NAME=SOFT\[:HARD\]: write e.g. --ulimit nofile=1024:2048/);
    expect(() => apply('create', ['--ulimit', 'nofile=1k'])).toThrow(/is not NAME=SOFT\[:HARD\]/);
    expect(() => apply('create', ['--ulimit', 'files=10'])).toThrow(/^--ulimit: unknown ulimit "files": use one of core, cpu/);
    expect(() => apply('update', ['--ulimit-add', 'nofile=10:5'])).toThrow(/^--ulimit-add: ulimit nofile: soft limit 10 is above the hard limit 5/);
    expect(() => apply('create', ['--ulimit', 'nofile=-1:5'])).toThrow(/unlimited soft limit \(-1\) is above the hard limit 5/);
    expect(() => apply('create', ['--ulimit', 'nofile=-2'])).toThrow(/-2 is not a limit: give a whole number, or -1 for unlimited/);
    expect(() => apply('create', ['--ulimit', 'nofile=99999999999999999999'])).toThrow(/99999999999999999999 is not a limit/);
    expect(() => checkKernelOptionFlags(parse('update', ['--ulimit-add', 'nofile=x']))).toThrow(/--ulimit-add "nofile=x"/);
    expect(() => checkKernelOptionFlags(parse('update', ['--cap-add', 'ALL', '--sysctl-rm', 'anything', '--ulimit-rm', 'x', '--no-init']))).not.toThrow();
  });

  it('SHARED_FLAG_KEYS names every option the helper defines, in both shapes', () => {
    for (const shape of ['create', 'update'] as const) {
      const cmd = addSharedServiceOptions(new Command(), shape);
      for (const o of cmd.options) expect(SHARED_FLAG_KEYS, o.flags).toContain(o.attributeName());
    }
  });
});
