// From task + image config to the runtime's ContainerSpec: Docker's entrypoint/cmd rules, env,
// limits, network mode, labels, stop signal, names; and what is refused before anything exists.
import { describe, expect, it } from 'vitest';
import { Mount_Type, Task } from '../../../proto/gen/types.js';
import { containerName, containerSpecFor, LABEL_STOP_GRACE_MS, LABEL_STOP_SIGNAL, LABEL_TASK_ID, normalizeSignal, TaskRejectedError } from '../../../agent/executor/index.js';
import type { ResolvedImage } from '../../../agent/images/index.js';

const image: ResolvedImage = {
  id: 'sha256:abc',
  layerDirs: ['/l1', '/l2'],
  config: { entrypoint: ['/entry'], cmd: ['--serve'], env: ['A=1', 'PATH=/bin'], workingDir: '/srv', user: 'app', stopSignal: 'SIGQUIT' },
};
const ctx = { nodeId: 'node1', defaultNetwork: 'host' as const };

function task(container: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): Task {
  return Task.fromPartial({ id: 'tid1', serviceId: 'sid', serviceName: 'web', slot: 2, spec: { container: { image: 'img:1', ...container } }, ...extra });
}

describe('containerSpecFor', () => {
  it.each([
    ['image defaults', {}, ['/entry', '--serve']],
    ['args replace cmd', { args: ['--debug'] }, ['/entry', '--debug']],
    ['command replaces entrypoint and drops cmd', { command: ['/bin/sh'] }, ['/bin/sh']],
    ['command and args', { command: ['/bin/sh'], args: ['-c', 'true'] }, ['/bin/sh', '-c', 'true']],
  ])('%s', (_n, container, args) => {
    expect(containerSpecFor(task(container), image, ctx).args).toEqual(args);
  });

  it('merges env, takes dir and user from the task over the image, labels the container', () => {
    const s = containerSpecFor(task({ env: ['A=2', 'B=3'], dir: '/work', labels: { team: 'x' } }), image, ctx);
    expect(s.env).toEqual(['A=1', 'PATH=/bin', 'A=2', 'B=3']);
    expect(s.cwd).toBe('/work');
    expect(s.user).toBe('app');
    expect(s.rootfs.layers).toEqual(['/l1', '/l2']);
    expect(s.image).toEqual({ ref: 'img:1', id: 'sha256:abc' });
    expect(s.labels).toMatchObject({ team: 'x', [LABEL_TASK_ID]: 'tid1', [LABEL_STOP_SIGNAL]: 'SIGQUIT', [LABEL_STOP_GRACE_MS]: '10000' });
    expect(s.name).toBe('web.2.tid1');
  });

  it('maps limits, stop settings, mounts and the network mode', () => {
    const t = task(
      { stopSignal: 'INT', stopGracePeriod: { nanos: 1_500_000_000n }, mounts: [{ type: Mount_Type.TMPFS, target: '/cache', tmpfsSizeBytes: 1048576n, tmpfsMode: 0o1777 }, { type: Mount_Type.BIND, source: '/data', target: '/data', readOnly: true }] },
    );
    t.spec!.resources = { limits: { nanoCpus: 500_000_000n, memoryBytes: 64n << 20n, pids: 100n, generic: [] }, reservations: undefined };
    t.spec!.networks = [{ target: 'none', aliases: [] }];
    const s = containerSpecFor(t, image, ctx);
    expect(s.limits).toEqual({ cpuQuotaCores: 0.5, memoryBytes: 64 * 1024 * 1024, memorySwapBytes: 64 * 1024 * 1024, pidsMax: 100 });
    expect(s.labels).toMatchObject({ [LABEL_STOP_SIGNAL]: 'SIGINT', [LABEL_STOP_GRACE_MS]: '1500' });
    expect(s.mounts).toEqual([
      { type: 'tmpfs', target: '/cache', options: 'size=1048576,mode=1777' },
      { type: 'bind', source: '/data', target: '/data', readOnly: true },
    ]);
    expect(s.network).toBe('none');
    expect(containerSpecFor(task(), image, ctx).network).toBe('host');
  });

  it('binds named volumes from their prepared directories and puts task files after the own mounts', () => {
    const t = task({ mounts: [{ type: Mount_Type.VOLUME, source: 'db', target: '/var/lib/db', readOnly: true }, { type: Mount_Type.BIND, source: '/srv', target: '/srv' }] });
    const files = [{ type: 'bind' as const, source: '/run/shoal/secrets/tid1/0-s1', target: '/run/secrets/pw', readOnly: true }];
    expect(containerSpecFor(t, image, ctx, { volumes: new Map([['/var/lib/db', '/var/lib/shoal/volumes/db/_data']]), files }).mounts).toEqual([
      { type: 'bind', source: '/var/lib/shoal/volumes/db/_data', target: '/var/lib/db', readOnly: true },
      { type: 'bind', source: '/srv', target: '/srv', readOnly: false },
      files[0],
    ]);
  });

  it('refuses what the node cannot do, as TaskRejectedError', () => {
    const noCmd: ResolvedImage = { ...image, config: {} };
    expect(() => containerSpecFor(task(), noCmd, ctx)).toThrow(TaskRejectedError);
    expect(() => containerSpecFor(task({ mounts: [{ type: Mount_Type.VOLUME, source: 'v', target: '/v' }] }), image, ctx)).toThrow('mount of /v: volume v is not available on this node (no volume driver)');
    expect(() => containerSpecFor(task({ mounts: [{ type: Mount_Type.VOLUME, source: '', target: '/v' }] }), image, ctx)).toThrow('mount of /v: volume (anonymous) is not available on this node (no volume driver)');
    expect(() => containerSpecFor(task({ stopSignal: 'SIGNOPE' }), image, ctx)).toThrow(/invalid stop signal "SIGNOPE"/);
    expect(() => containerSpecFor(task({ groups: ['wheel'] }), image, ctx)).toThrow(/numeric ids/);
    // cap_drop is honoured; a net.* sysctl is not with the host's network (ctx's default here)
    expect(() => containerSpecFor(task({ capDrop: ['NET_RAW'], sysctls: { 'net.ipv4.ip_forward': '1' } }), image, ctx)).toThrow(/^sysctls: sysctl net.ipv4.ip_forward cannot be set with the host's network/);
  });

  it('normalizes signals and makes valid container names', () => {
    expect(normalizeSignal('term')).toBe('SIGTERM');
    expect(normalizeSignal('9')).toBe('SIGKILL');
    expect(containerName(Task.fromPartial({ id: 't9', serviceName: '_my app!', slot: 0, nodeId: 'abcdefghijklmnop' }))).toBe('my-app-.abcdefghijkl.t9');
    expect(containerName(Task.fromPartial({ id: 't9' }))).toBe('task.g.t9');
  });
});
