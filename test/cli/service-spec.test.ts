// `service create` flags to a ServiceSpec, and the flag errors a user can make.
import { describe, expect, it } from 'vitest';
import { Mount_Type, RestartPolicy_Condition } from '../../proto/gen/types.js';
import { buildServiceSpec, parseMount } from '../../cli/client/service-spec.js';

describe('service create flags', () => {
  it('builds the whole spec', () => {
    const s = buildServiceSpec('redis:7', ['redis-server', '--port', '7000'], {
      name: 'cache',
      replicas: '4',
      constraint: ['node.labels.zone==a'],
      placementPref: ['spread=node.labels.rack'],
      reserveCpu: '0.5',
      reserveMemory: '256M',
      limitCpu: '2',
      limitMemory: '1G',
      limitPids: '100',
      env: ['A=1', 'FROM_ENV'],
      mount: ['type=bind,src=/srv,dst=/data,readonly'],
      label: ['team=x'],
      hostname: 'h',
      workdir: '/w',
      user: '1000:1000',
      stopSignal: 'SIGINT',
      stopGracePeriod: '30s',
      restartCondition: 'on-failure',
      restartDelay: '2s',
      restartMaxAttempts: '3',
      maxReplicas: '2',
    }, { FROM_ENV: 'yes' });
    expect(s.mode).toEqual({ $case: 'replicated', value: { replicas: 4 } });
    const t = s.task!;
    expect(t.container).toMatchObject({ image: 'redis:7', args: ['redis-server', '--port', '7000'], env: ['A=1', 'FROM_ENV=yes'], hostname: 'h', dir: '/w', user: '1000:1000', stopSignal: 'SIGINT' });
    expect(t.container!.stopGracePeriod).toEqual({ nanos: 30_000_000_000n });
    expect(t.container!.mounts[0]).toMatchObject({ type: Mount_Type.BIND, source: '/srv', target: '/data', readOnly: true });
    expect(t.resources!.reservations).toMatchObject({ nanoCpus: 500_000_000n, memoryBytes: 256n * 1024n * 1024n });
    expect(t.resources!.limits).toMatchObject({ nanoCpus: 2_000_000_000n, memoryBytes: 1024n ** 3n, pids: 100n });
    expect(t.restart).toMatchObject({ condition: RestartPolicy_Condition.ON_FAILURE, delay: { nanos: 2_000_000_000n }, maxAttempts: 3 });
    expect(t.placement).toMatchObject({ constraints: ['node.labels.zone==a'], maxReplicas: 2, preferences: [{ preference: { $case: 'spread', value: { spreadDescriptor: 'node.labels.rack' } } }] });
    expect(s.annotations).toEqual({ name: 'cache', labels: { team: 'x' } });
  });

  it('makes global services and refuses contradictions and bad values, naming the flag', () => {
    expect(buildServiceSpec('busybox', [], { name: 'g', mode: 'global' }).mode).toEqual({ $case: 'global', value: {} });
    const bad: [Parameters<typeof buildServiceSpec>[2], RegExp][] = [
      [{ mode: 'global', replicas: '2' }, /--replicas applies to replicated services only/],
      [{ mode: 'global', maxReplicas: '1' }, /--max-replicas applies to replicated services only/],
      [{ mode: 'job' }, /--mode is replicated or global, not "job"/],
      [{ replicas: '-1' }, /--replicas must be a whole number >= 0, got -1/],
      [{ replicas: 'three' }, /--replicas must be a whole number >= 0, got "three"/],
      [{ reserveCpu: '-1' }, /--reserve-cpu: invalid cpus/],
      [{ limitMemory: 'lots' }, /--limit-memory: invalid size "lots"/],
      [{ stopGracePeriod: '10' }, /--stop-grace-period: invalid duration "10"/],
      [{ restartCondition: 'always' }, /--restart-condition is any, on-failure or none/],
      [{ placementPref: ['node.labels.zone'] }, /--placement-pref "node.labels.zone": write spread=/],
      [{ label: ['=x'] }, /--label "=x" has no key/],
    ];
    for (const [flags, text] of bad) expect(() => buildServiceSpec('busybox', [], { name: 'x', ...flags })).toThrow(text);
    expect(() => buildServiceSpec('', [], { name: 'x' })).toThrow(/needs an image/);
  });

  it('names a service after its image when --name is missing', () => {
    expect(buildServiceSpec('registry.local:5000/team/redis:7@sha256:ab', [], {}).annotations!.name).toMatch(/^redis-[0-9a-z]{5}$/);
    expect(buildServiceSpec('busybox', [], {}).annotations!.name).toMatch(/^busybox-[0-9a-z]{5}$/);
  });

  it('parses mounts and refuses incomplete ones', () => {
    expect(parseMount('type=tmpfs,dst=/tmp,tmpfs-size=64m')).toMatchObject({ type: Mount_Type.TMPFS, target: '/tmp', tmpfsSizeBytes: 64n * 1024n * 1024n });
    expect(parseMount('source=vol,target=/v')).toMatchObject({ type: Mount_Type.VOLUME, source: 'vol', target: '/v', readOnly: false });
    expect(() => parseMount('type=bind,src=rel,dst=/x')).toThrow(/a bind mount needs src=\/absolute/);
    expect(() => parseMount('type=bind,src=/a')).toThrow(/needs dst=/);
    expect(() => parseMount('type=nfs,dst=/a')).toThrow(/type is bind, volume or tmpfs/);
    expect(() => parseMount('dst=/a,colour=red')).toThrow(/unknown key "colour"/);
  });
});
