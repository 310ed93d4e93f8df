// Container kernel options in the lab (2 hosts: h1 manager, h2 worker), driven by the real CLI:
// a stack whose service drops CHOWN, adds NET_ADMIN, sets IPC sysctls and a nofile ulimit and
// runs under an init; each task prints what it sees (pid 1's name, its limits, its effective
// capabilities, the sysctls, whether chown works), read back with `shoal service logs`. Then the
// same through `service create` flags, changed with `service update` flags. `stack rm` and
// `service rm` leave no container, supervisor or cgroup behind.
//
// Tasks use the host's network (the agent's default until overlay networks exist), where a
// net.* sysctl would change the host: those are refused by the agent, naming the sysctl, which
// the last test shows; the sysctls proven here are the IPC namespace's kernel.shmmax/msgmax.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ContainerRuntime } from '../../agent/runtime/index.js';
import { labSuite, until } from './cluster.js';

const lab = labSuite({ name: 'shoalopte2e', subnet: '10.231.68.0/24', hosts: 2, managers: 1, tmpPrefix: 'shoalopt-' });

const { shoal } = lab;
const HOSTS = ['h1', 'h2'];

/** What each task prints (busybox sh); ROUND tells the tasks of an update apart. */
const PROBE = [
  'echo round=${ROUND:-0}',
  'echo comm=$(cat /proc/1/comm)',
  'echo nofile=$(ulimit -n):$(ulimit -Hn)',
  'grep CapEff /proc/self/status',
  'echo shmmax=$(cat /proc/sys/kernel/shmmax)',
  'echo msgmax=$(cat /proc/sys/kernel/msgmax)',
  'touch /probe',
  'if chown 1000 /probe; then echo chown=ok; else echo chown=refused; fi',
  'sleep 100000',
].join('; ');

// Bits of /proc/PID/status CapEff (linux/capability.h) and Docker's default set, which the
// runtime starts from (native/shim/caps.c): the expected masks are computed, not copied.
const BIT: Record<string, number> = {
  CHOWN: 0, DAC_OVERRIDE: 1, FOWNER: 3, FSETID: 4, KILL: 5, SETGID: 6, SETUID: 7, SETPCAP: 8,
  NET_BIND_SERVICE: 10, NET_ADMIN: 12, NET_RAW: 13, SYS_CHROOT: 18, MKNOD: 27, AUDIT_WRITE: 29, SETFCAP: 31,
};
const DOCKER_DEFAULT = ['CHOWN', 'DAC_OVERRIDE', 'FSETID', 'FOWNER', 'MKNOD', 'NET_RAW', 'SETGID', 'SETUID', 'SETFCAP', 'SETPCAP', 'NET_BIND_SERVICE', 'SYS_CHROOT', 'KILL', 'AUDIT_WRITE'];
function capEff(add: string[], drop: string[]): string {
  const names = new Set([...DOCKER_DEFAULT.filter((n) => !drop.includes(n)), ...add]);
  return [...names].reduce((m, n) => m | (1n << BigInt(BIT[n]!)), 0n).toString(16).padStart(16, '0');
}

type Seen = Record<string, string>;

/** `service logs` stdout -> what each task printed, by its log prefix (`svc.slot.task@host`). */
function seenByTask(stdout: string): Map<string, Seen> {
  const out = new Map<string, Seen>();
  for (const line of stdout.split('\n')) {
    const m = /^(\S+@(\S+))\s+\| (\w+)[=:]\s*(.*)$/.exec(line);
    if (!m) continue;
    const seen = out.get(m[1]!) ?? { host: m[2]! };
    seen[m[3]!.toLowerCase()] = m[4]!;
    out.set(m[1]!, seen);
  }
  return out;
}

/** Polls `service logs` until tasks on `want` hosts have printed their whole probe (round `round`). */
async function probes(service: string, want: number, round: string): Promise<{ seen: Seen[]; stderr: string }> {
  return until(async () => {
    const r = await shoal(['service', 'logs', service]);
    const seen = [...seenByTask(r.stdout).values()].filter((s) => s.round === round && s.chown !== undefined);
    return new Set(seen.map((s) => s.host)).size >= want ? { seen, stderr: r.stderr } : undefined;
  }, `${want} tasks of ${service} printing round ${round}`, 90_000);
}

/** Containers the host's runtime still knows, supervisors naming its state, cgroups under its parent. */
async function leftovers(host: string): Promise<string[]> {
  const h = lab.c.host(host);
  const stateDir = join(h.run, 'containers');
  const rt = new ContainerRuntime({ stateDir, cgroupParent: h.cgroupParent, logger: pino({ level: 'silent' }) });
  const out = (await rt.list()).map((x) => `container ${x.id}`);
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    let cmd = '';
    try {
      cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    if (cmd.includes(stateDir)) out.push(`process ${p}`);
  }
  for (const ctl of ['memory', 'pids', 'unified']) {
    const parent = `/sys/fs/cgroup/${ctl}/${h.cgroupParent}`;
    if (!existsSync(parent)) continue;
    for (const d of readdirSync(parent, { withFileTypes: true })) if (d.isDirectory()) out.push(`cgroup ${ctl}/${h.cgroupParent}/${d.name}`);
  }
  return out;
}

async function expectNothingLeft(what: string): Promise<void> {
  for (const h of HOSTS) {
    await until(async () => (await leftovers(h)).length === 0, `nothing of ${what} left on ${h}`, 60_000).catch(async (err: Error) => {
      throw new Error(`${err.message}: ${(await leftovers(h)).join(', ')}`);
    });
  }
}

const stack = `services:
  probe:
    image: busybox:latest
    command: ${JSON.stringify(['sh', '-c', PROBE.replaceAll('$', () => '$$')])}
    cap_drop: [CHOWN]
    cap_add: [NET_ADMIN]
    sysctls:
      kernel.shmmax: "1073741824"
      kernel.msgmax: "65536"
    ulimits:
      nofile: { soft: 777, hard: 888 }
    init: true
    stop_grace_period: 2s
    deploy: { replicas: 2, placement: { max_replicas_per_node: 1 } }
`;

describe('e2e: container kernel options from the CLI', () => {
  it('a stack service sees its capabilities, sysctls, ulimits and init on both hosts; stack rm leaves nothing', async () => {
    const file = join(lab.dir, 'stack.yml');
    writeFileSync(file, stack);
    const d = await shoal(['stack', 'deploy', '--timeout', '60s', '-c', file, 'opt']);
    expect(d.code, `${d.stdout}\n${d.stderr}`).toBe(0);

    const { seen, stderr } = await probes('opt_probe', 2, '0');
    expect(seen.map((s) => s.host)).toEqual(expect.arrayContaining(HOSTS));
    for (const s of seen) {
      expect(s, s.host).toMatchObject({
        comm: 'shoal-init',
        nofile: '777:888',
        capeff: capEff(['NET_ADMIN'], ['CHOWN']),
        shmmax: '1073741824',
        msgmax: '65536',
        chown: 'refused',
      });
    }
    expect(stderr).toMatch(/chown: \/probe: Operation not permitted/);

    const rm = await shoal(['stack', 'rm', 'opt']);
    expect(rm.code, rm.stderr).toBe(0);
    expect(rm.stdout).toMatch(/removing service opt_probe/);
    for (const kind of ['service', 'network']) {
      const ls = await shoal([kind, 'ls', '--format', 'json']);
      expect(ls.code, ls.stderr).toBe(0);
      const names = (JSON.parse(ls.stdout) as { name?: string; spec?: { annotations?: { name?: string } } }[]).map((x) => x.name ?? x.spec?.annotations?.name);
      expect(names.filter((n) => n?.startsWith('opt_')), kind).toEqual([]);
    }
    await expectNothingLeft('stack opt');
  }, 240_000);

  it('service create flags give the same; service update flags change them in new tasks', async () => {
    const create = await shoal([
      'service', 'create', '--name', 'optcli', '--replicas', '2', '--max-replicas', '1', '--stop-grace-period', '2s',
      '--cap-drop', 'CHOWN', '--cap-add', 'NET_ADMIN', '--sysctl', 'kernel.shmmax=1073741824', '--sysctl', 'kernel.msgmax=65536',
      '--ulimit', 'nofile=777:888', '--init', '--wait-timeout', '90s',
      // `--` ends the options: -c belongs to the container's command
      'busybox:latest', '--', 'sh', '-c', PROBE,
    ]);
    expect(create.code, `${create.stdout}\n${create.stderr}`).toBe(0);
    const first = await probes('optcli', 2, '0');
    expect(first.seen.map((s) => s.host)).toEqual(expect.arrayContaining(HOSTS));
    for (const s of first.seen) {
      expect(s, s.host).toMatchObject({ comm: 'shoal-init', nofile: '777:888', capeff: capEff(['NET_ADMIN'], ['CHOWN']), shmmax: '1073741824', msgmax: '65536', chown: 'refused' });
    }

    // CHOWN was dropped: --cap-add takes it off the drop list (back to the default set)
    const update = await shoal([
      'service', 'update', '--env-add', 'ROUND=1', '--update-parallelism', '0', '--update-monitor', '1s',
      '--cap-add', 'CHOWN', '--sysctl-rm', 'kernel.msgmax', '--ulimit-add', 'nofile=555', '--no-init', 'optcli',
    ]);
    expect(update.code, `${update.stdout}\n${update.stderr}`).toBe(0);
    expect(update.stdout).toMatch(/optcli: update completed/);
    const second = await probes('optcli', 2, '1');
    expect(second.seen.map((s) => s.host)).toEqual(expect.arrayContaining(HOSTS));
    for (const s of second.seen) {
      // without the init the command itself is pid 1; msgmax is the IPC namespace's default again
      expect(s, s.host).toMatchObject({ comm: 'sh', nofile: '555:555', capeff: capEff(['NET_ADMIN'], []), shmmax: '1073741824', chown: 'ok' });
      expect(s.msgmax, s.host).not.toBe('65536');
    }

    const rm = await shoal(['service', 'rm', 'optcli']);
    expect(rm.code, rm.stderr).toBe(0);
    await expectNothingLeft('service optcli');
  }, 240_000);

  it('a net.* sysctl with the host network is refused by the agent, naming the sysctl', async () => {
    const create = await shoal(['service', 'create', '-d', '--name', 'optnet', '--sysctl', 'net.ipv4.ip_forward=1', 'busybox:latest', 'sleep', '100000']);
    expect(create.code, create.stderr).toBe(0);
    const ps = await until(async () => {
      const r = await shoal(['service', 'ps', '--no-trunc', 'optnet']);
      return /net\.ipv4\.ip_forward/.test(r.stdout) ? r.stdout : undefined;
    }, 'optnet task refused', 60_000);
    expect(ps).toMatch(/rejected.*sysctl net\.ipv4\.ip_forward cannot be set with the host's network/i);
    const rm = await shoal(['service', 'rm', 'optnet']);
    expect(rm.code, rm.stderr).toBe(0);
    await expectNothingLeft('service optnet');
  }, 120_000);
});
