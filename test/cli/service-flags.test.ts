// The flags `service create` and `service update` share (cli/commands/service-flags.ts): one
// definition, one parser; create sets lists, update edits them; both shapes give the same spec
// from the same values.
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { addSharedServiceOptions, applySharedServiceFlags, SHARED_FLAG_KEYS, type FlagShape, type Flags } from '../../cli/commands/service-flags.js';
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

  it('SHARED_FLAG_KEYS names every option the helper defines, in both shapes', () => {
    for (const shape of ['create', 'update'] as const) {
      const cmd = addSharedServiceOptions(new Command(), shape);
      for (const o of cmd.options) expect(SHARED_FLAG_KEYS, o.flags).toContain(o.attributeName());
    }
  });
});
