// Capabilities, sysctls and ulimits in real containers: what the command sees inside, and the
// bad input refused before anything is created.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ContainerRuntime, ContainerSpecError, ContainerStartError, type ContainerSpec } from '../../../agent/runtime/index.js';
import { detectCgroups } from '../../../agent/runtime/cgroups/index.js';
import { collect, leftoverCgroups, leftoverMounts, makeBusyboxLayer } from './helpers.js';

let root: string;
let layer: string;
let stateDir: string;
let rt: ContainerRuntime;
const cgroupParent = `shoalro-opts-${process.pid}`;
const cgroups = detectCgroups({ logger: pino({ level: 'warn' }) });

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'shoalro-opts-'));
  layer = makeBusyboxLayer(join(root, 'layer'));
  stateDir = join(root, 'state');
  rt = new ContainerRuntime({ stateDir, cgroupParent, cgroups, logger: pino({ level: 'warn' }) });
});

afterAll(async () => {
  try {
    for (const c of await rt.list()) await rt.remove(c.id, { force: true }).catch(() => undefined);
    await cgroups.open(cgroupParent)?.remove();
    expect(leftoverCgroups(cgroupParent)).toEqual([]);
    expect(leftoverMounts(root)).toEqual([]);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

async function sh(script: string, extra: Partial<ContainerSpec> = {}): Promise<{ code: number; out: string; err: string }> {
  const c = await rt.run({ rootfs: { layers: [layer] }, args: ['/bin/sh', '-c', script], ...extra });
  try {
    const exit = await rt.wait(c.id);
    const logs = await collect(rt.logs(c.id));
    return {
      code: exit.code,
      out: logs.filter((l) => l.stream === 'stdout').map((l) => l.text).join(''),
      err: logs.filter((l) => l.stream === 'stderr').map((l) => l.text).join(''),
    };
  } finally {
    await rt.remove(c.id, { force: true });
  }
}

const capLine = (out: string, set: string): bigint => BigInt('0x' + new RegExp(`^${set}:\\s*([0-9a-f]+)`, 'm').exec(out)![1]!);
const CAP_CHOWN = 0n;
const CAP_NET_ADMIN = 12n;
const CAP_NET_RAW = 13n;
const DOCKER_CAPS = 0xa80425fbn;

describe('capabilities', () => {
  it('cap_drop CHOWN: chown fails inside, the rest of the default set stays', async () => {
    const r = await sh('grep ^Cap /proc/self/status; touch /tmp/f; chown 1000 /tmp/f; echo rc=$?', { capDrop: ['CHOWN'] });
    expect(r.out).toContain('rc=1');
    expect(r.err).toMatch(/Operation not permitted/);
    for (const set of ['CapEff', 'CapPrm', 'CapBnd']) expect(capLine(r.out, set)).toBe(DOCKER_CAPS & ~(1n << CAP_CHOWN));
    expect(capLine(r.out, 'CapInh')).toBe(0n);
    expect(capLine(r.out, 'CapAmb')).toBe(0n);
  });

  it('without options chown works (the drop above is what made it fail)', async () => {
    const r = await sh('touch /tmp/f; chown 1000 /tmp/f; echo rc=$?');
    expect(r.out).toContain('rc=0');
  });

  it('cap_add NET_ADMIN (any case, CAP_ prefix): the container may take its loopback down', async () => {
    const r = await sh('grep ^CapEff /proc/self/status; ip link set lo down; echo rc=$?; ip link show lo', { capAdd: ['cap_net_admin'] });
    expect(capLine(r.out, 'CapEff')).toBe(DOCKER_CAPS | (1n << CAP_NET_ADMIN));
    expect(r.out).toContain('rc=0');
    expect(r.out).not.toMatch(/<[^>]*\bUP\b/);
  });

  it('drop ALL keeps only the added ones; add ALL keeps everything but the dropped ones', async () => {
    const onlyRaw = await sh('grep ^CapEff /proc/self/status', { capDrop: ['ALL'], capAdd: ['NET_RAW'] });
    expect(capLine(onlyRaw.out, 'CapEff')).toBe(1n << CAP_NET_RAW);
    const all = await sh('grep -E "^Cap(Eff|Bnd)" /proc/self/status', { capAdd: ['ALL'], capDrop: ['NET_ADMIN'] });
    const eff = capLine(all.out, 'CapEff');
    expect(eff & (1n << CAP_NET_ADMIN)).toBe(0n);
    expect(eff & DOCKER_CAPS).toBe(DOCKER_CAPS);
    expect(eff & (1n << 21n)).not.toBe(0n); // SYS_ADMIN
    expect(capLine(all.out, 'CapBnd')).toBe(eff);
  });

  it('a non-root user keeps the set only as its bounding set, as in Docker', async () => {
    const r = await sh('grep -E "^Cap(Eff|Bnd)" /proc/self/status', { user: '1000', capAdd: ['NET_ADMIN'] });
    expect(capLine(r.out, 'CapEff')).toBe(0n);
    expect(capLine(r.out, 'CapBnd')).toBe(DOCKER_CAPS | (1n << CAP_NET_ADMIN));
  });

  it('exec gets the container capabilities and limits', async () => {
    const c = await rt.run({ rootfs: { layers: [layer] }, args: ['sleep', '30'], capDrop: ['ALL'], capAdd: ['KILL'], ulimits: [{ name: 'nofile', soft: 321, hard: 654 }] });
    try {
      const r = await rt.exec(c.id, { args: ['sh', '-c', 'grep ^CapEff /proc/self/status; ulimit -n; ulimit -Hn'] });
      expect(capLine(r.stdout, 'CapEff')).toBe(1n << 5n);
      expect(r.stdout).toContain('321\n654');
    } finally {
      await rt.remove(c.id, { force: true });
    }
  });

  // this host's kernel keeps CAP_SYS_RESOURCE out of every process's bounding set (others may not)
  const bnd = BigInt('0x' + /^CapBnd:\s*([0-9a-f]+)/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]!);
  it.runIf(!(bnd & (1n << 24n)))('a capability shoal does not hold itself is refused before create', async () => {
    await expect(rt.run({ rootfs: { layers: [layer] }, args: ['true'], capAdd: ['SYS_RESOURCE'] })).rejects.toThrow(/capAdd: capability SYS_RESOURCE is not available to shoal on this host/);
    // ALL means all there is: the same container starts without it
    const r = await sh('grep ^CapEff /proc/self/status', { capAdd: ['ALL'] });
    expect(capLine(r.out, 'CapEff') & (1n << 24n)).toBe(0n);
  });

  it('an unknown name is refused before anything is created', async () => {
    await expect(rt.run({ rootfs: { layers: [layer] }, args: ['true'], capAdd: ['NET_ADMIM'] })).rejects.toThrow(ContainerSpecError);
    await expect(rt.run({ rootfs: { layers: [layer] }, args: ['true'], capDrop: ['bogus'] })).rejects.toThrow(/capDrop: unknown capability "bogus"/);
    expect(readdirSync(stateDir).filter((e) => /^[0-9a-f]{64}$/.test(e))).toEqual([]);
  });
});

describe('sysctls', () => {
  // A new network namespace inherits ip_forward from the host's (IPv4 devconf is copied from
  // init_net), which an agent on this host may have turned on: set the opposite of a fresh one's.
  const fresh = (): string => execFileSync('unshare', ['-n', 'cat', '/proc/sys/net/ipv4/ip_forward'], { encoding: 'utf8' }).trim();

  it('are written inside the container namespaces (net and ipc) and read back there', async () => {
    const forward = fresh() === '1' ? '0' : '1';
    const r = await sh('cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmax /proc/sys/fs/mqueue/msg_max /proc/sys/kernel/sem', {
      sysctls: { 'net.ipv4.ip_forward': forward, 'kernel.shmmax': '123456789', 'fs.mqueue.msg_max': '42', 'kernel.sem': '250 32000 100 129' },
    });
    expect(r.err).toBe('');
    expect(r.out.replace(/\t/g, ' ')).toBe(`${forward}\n123456789\n42\n250 32000 100 129\n`);
  });

  it('do not leak to a container without them', async () => {
    const r = await sh('cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmax');
    expect(r.out).not.toContain('123456789');
    expect(r.out.split('\n')[0]).toBe(fresh());
  });

  it('refuses net.* with the host network, non-namespaced ones, and reports unknown ones at start', async () => {
    await expect(rt.run({ rootfs: { layers: [layer] }, args: ['true'], network: 'host', sysctls: { 'net.ipv4.ip_forward': '1' } })).rejects.toThrow(
      /sysctl net.ipv4.ip_forward cannot be set with the host's network/,
    );
    await expect(rt.run({ rootfs: { layers: [layer] }, args: ['true'], sysctls: { 'kernel.domainname': 'x' } })).rejects.toThrow(/kernel.domainname is not namespaced/);
    await expect(rt.run({ rootfs: { layers: [layer] }, args: ['true'], sysctls: { 'vm.swappiness': '1' } })).rejects.toThrow(ContainerSpecError);
    const err = await rt.run({ rootfs: { layers: [layer] }, args: ['true'], sysctls: { 'net.ipv4.shoalro_nope': '1' } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ContainerStartError);
    expect(String(err)).toMatch(/sysctl net.ipv4.shoalro_nope does not exist in the container's network namespace/);
    expect(readdirSync(stateDir).filter((e) => /^[0-9a-f]{64}$/.test(e))).toEqual([]);
  });
});

describe('ulimits', () => {
  it('ulimit -n and -c inside show the limits', async () => {
    const r = await sh('ulimit -n; ulimit -Hn; ulimit -c; ulimit -Hc', {
      ulimits: [{ name: 'nofile', soft: 1234, hard: 2345 }, { name: 'core', soft: -1, hard: -1 }],
    });
    expect(r.out).toBe('1234\n2345\nunlimited\nunlimited\n');
  });

  it('refuses unknown names, soft above hard, and twice the same', async () => {
    const run = (ulimits: ContainerSpec['ulimits']) => rt.run({ rootfs: { layers: [layer] }, args: ['true'], ulimits });
    await expect(run([{ name: 'nofiles', soft: 1, hard: 1 }])).rejects.toThrow(/unknown ulimit "nofiles"/);
    await expect(run([{ name: 'nofile', soft: 10, hard: 5 }])).rejects.toThrow(/soft limit 10 is above the hard limit 5/);
    await expect(run([{ name: 'nofile', soft: 5, hard: 5 }, { name: 'nofile', soft: 6, hard: 6 }])).rejects.toThrow(/given twice/);
  });

  it('a hard limit the host cannot grant fails the start with a clear reason, leaving nothing', async () => {
    // past fs.nr_open no process may go, CAP_SYS_RESOURCE or not
    const err = await rt.run({ rootfs: { layers: [layer] }, args: ['true'], ulimits: [{ name: 'nofile', soft: 1 << 30, hard: 2 ** 31 }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ContainerStartError);
    expect(String(err)).toMatch(/ulimit nofile/);
    expect(readdirSync(stateDir).filter((e) => /^[0-9a-f]{64}$/.test(e))).toEqual([]);
  });
});
