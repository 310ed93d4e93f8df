// cap_add/cap_drop, sysctls, ulimits and init from a task to the runtime: passed through, the
// ones this node cannot honour rejected naming the key, and one real task that uses them all.
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Task, TaskState, type ContainerSpec } from '../../../proto/gen/types.js';
import { ContainerController, containerSpecFor, step, TaskRejectedError } from '../../../agent/executor/index.js';
import type { ResolvedImage } from '../../../agent/images/index.js';
import { collect } from '../runtime/helpers.js';
import { makeAgentFixture, type AgentFixture } from './fixture.js';

const image: ResolvedImage = { id: 'sha256:abc', layerDirs: ['/l1'], config: { cmd: ['/bin/true'] } };
const ctx = { nodeId: 'node1', defaultNetwork: 'none' as const };

let seq = 0;
function task(container: Partial<ContainerSpec>, networks: string[] = []): Task {
  return Task.fromPartial({
    id: `shoalrotask${++seq}`,
    serviceId: 'svc',
    serviceName: 'opts',
    slot: seq,
    nodeId: 'node1',
    desiredState: TaskState.RUNNING,
    spec: { container: { image: 'busybox', ...container }, networks: networks.map((target) => ({ target, aliases: [] })) },
    status: { state: TaskState.ASSIGNED },
  });
}

describe('containerSpecFor: kernel options', () => {
  it('passes capabilities, sysctls, ulimits and init through', () => {
    const s = containerSpecFor(
      task({
        capAdd: ['NET_ADMIN'],
        capDrop: ['cap_chown'],
        sysctls: { 'net.core.somaxconn': '1024', 'kernel.shmmax': '65536' },
        ulimits: [{ name: 'nofile', soft: 1024n, hard: 2048n }, { name: 'core', soft: -1n, hard: -1n }],
        init: true,
      }),
      image,
      ctx,
    );
    expect(s.capAdd).toEqual(['NET_ADMIN']);
    expect(s.capDrop).toEqual(['cap_chown']);
    expect(s.sysctls).toEqual({ 'net.core.somaxconn': '1024', 'kernel.shmmax': '65536' });
    expect(s.ulimits).toEqual([{ name: 'nofile', soft: 1024, hard: 2048 }, { name: 'core', soft: -1, hard: -1 }]);
    expect(s.init).toBe(true);
  });

  it('leaves them out when the service has none', () => {
    const s = containerSpecFor(task({}), image, ctx);
    for (const k of ['capAdd', 'capDrop', 'sysctls', 'ulimits', 'init'] as const) expect(s[k]).toBeUndefined();
  });

  it.each([
    ['an unknown capability', { capAdd: ['NET_ADMIM'] }, [], /^cap_add: unknown capability "NET_ADMIM"/],
    ['an unknown dropped capability', { capDrop: ['nope'] }, [], /^cap_drop: unknown capability "nope"/],
    ['net.* with the host network', { sysctls: { 'net.ipv4.ip_forward': '1' } }, ['host'], /^sysctls: sysctl net.ipv4.ip_forward cannot be set with the host's network/],
    ['a sysctl that is not namespaced', { sysctls: { 'vm.swappiness': '10' } }, [], /^sysctls: sysctl vm.swappiness is not namespaced/],
    ['an unknown ulimit', { ulimits: [{ name: 'files', soft: 1n, hard: 1n }] }, [], /^ulimits: unknown ulimit "files"/],
    ['a soft limit above the hard one', { ulimits: [{ name: 'nofile', soft: 9n, hard: 8n }] }, [], /^ulimits: ulimit nofile: soft limit 9 is above the hard limit 8/],
    ['a limit past 2^53', { ulimits: [{ name: 'nofile', soft: 1n << 60n, hard: 1n << 60n }] }, [], /^ulimits: ulimit nofile: 1152921504606846976:1152921504606846976 is out of range/],
  ])('rejects %s, naming the key', (_n, container, networks, message) => {
    const t = task(container as Partial<ContainerSpec>, networks);
    expect(() => containerSpecFor(t, image, ctx)).toThrow(TaskRejectedError);
    expect(() => containerSpecFor(t, image, ctx)).toThrow(message);
  });
});

// this host keeps CAP_SYS_RESOURCE out of every process's bounding set: no task can have it here
const bnd = BigInt('0x' + /^CapBnd:\s*([0-9a-f]+)/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]!);
it.runIf(!(bnd & (1n << 24n)))('rejects a capability this node cannot grant, naming the key', () => {
  expect(() => containerSpecFor(task({ capAdd: ['SYS_RESOURCE'] }), image, ctx)).toThrow(/^cap_add: capability SYS_RESOURCE is not available to shoal on this host/);
  expect(containerSpecFor(task({ capAdd: ['ALL'] }), image, ctx).capAdd).toEqual(['ALL']);
});

describe('a task with kernel options on the real runtime', () => {
  let fx: AgentFixture;
  beforeAll(async () => {
    fx = await makeAgentFixture('opts', 'shoalro');
  });
  afterAll(async () => {
    expect(await fx.cleanup()).toEqual([]);
  });

  it('runs with its capabilities, sysctl, ulimit and init, and completes', async () => {
    const t = task({
      command: ['/bin/sh', '-c'],
      args: ['grep ^CapEff /proc/self/status; cat /proc/sys/net/core/somaxconn; ulimit -n; tr "\\0" " " < /proc/1/cmdline; echo'],
      capDrop: ['ALL'],
      capAdd: ['NET_ADMIN'],
      sysctls: { 'net.core.somaxconn': '777' },
      ulimits: [{ name: 'nofile', soft: 555n, hard: 555n }],
      init: true,
    });
    const ctl = new ContainerController(t, { runtime: fx.runtime, images: fx.images, hostname: hostname(), nodeId: 'node1', defaultNetwork: 'none', logger: fx.logger });
    let cur = t.status!;
    for (;;) {
      const next = await step(t, cur, ctl);
      if (next === cur) break;
      cur = next;
    }
    expect(cur.state).toBe(TaskState.COMPLETE);
    const out = (await collect(fx.runtime.logs(cur.containerId))).map((l) => l.text).join('');
    expect(out).toBe('CapEff:\t0000000000001000\n777\n555\nshoal-init -- /bin/sh -c ' + t.spec!.container!.args[0] + ' \n');
    await ctl.remove();
  });
});
