// From a task (the service's ContainerSpec, resources, networks) and the image's config to the
// runtime's ContainerSpec, with Docker's rules for entrypoint/cmd overrides. Whatever this node
// cannot honour becomes TaskRejectedError, before anything is created.
import { constants, hostname as osHostname } from 'node:os';
import { expandTemplate } from '../../rules/templates.js';
import { Mount_Type, type Task } from '../../proto/gen/types.js';
import type { ResolvedImage } from '../images/index.js';
import type { ContainerSpec, MountSpec, NetworkMode, Ulimit } from '../runtime/index.js';
import { checkCapability, checkSysctl, checkUlimit } from '../runtime/options.js';
import { TaskRejectedError } from './controller.js';

/** Labels every task container carries, so a restarted agent knows whose it is. */
export const LABEL_TASK_ID = 'shoal.task.id';
export const LABEL_SERVICE_ID = 'shoal.service.id';
export const LABEL_SERVICE_NAME = 'shoal.service.name';
export const LABEL_NODE_ID = 'shoal.node.id';
export const LABEL_STOP_SIGNAL = 'shoal.stop-signal';
export const LABEL_STOP_GRACE_MS = 'shoal.stop-grace-ms';

export const DEFAULT_STOP_GRACE_MS = 10_000;

export interface SpecContext {
  nodeId: string;
  /** This node's hostname, for {{.Node.Hostname}} (default: the host's). */
  hostname?: string;
  /** For task.spec.networks naming neither "host" nor "none" (overlay networks come later). */
  defaultNetwork: 'host' | 'none';
}

/** "TERM", "SIGTERM", "15" -> "SIGTERM"; throws TaskRejectedError for anything else. */
export function normalizeSignal(v: string): NodeJS.Signals {
  const s = v.trim();
  if (/^\d+$/.test(s)) {
    const found = Object.entries(constants.signals).find(([, n]) => n === Number(s));
    if (found) return found[0] as NodeJS.Signals;
  } else {
    const name = (/^sig/i.test(s) ? s : `SIG${s}`).toUpperCase();
    if (name in constants.signals) return name as NodeJS.Signals;
  }
  throw new TaskRejectedError(`invalid stop signal ${JSON.stringify(v)}: use a name like SIGTERM or SIGINT`);
}

/** A container name readable in `shoal container ls`: service.slot.task-id. */
export function containerName(task: Task): string {
  const service = (task.serviceName || 'task').replace(/[^a-zA-Z0-9_.-]/g, '-').replace(/^[^a-zA-Z0-9]+/, '') || 'task';
  const where = task.slot > 0 ? String(task.slot) : task.nodeId.slice(0, 12) || 'g';
  return `${service.slice(0, 60)}.${where}.${task.id}`.slice(0, 128);
}

/** What the controller made on the host before the spec: volume directories and task files. */
export interface PreparedMounts {
  /** The host directory of each volume (named or anonymous) the task mounts, by mount target. */
  volumes?: ReadonlyMap<string, string>;
  /** Read-only binds of the task's secrets and configs, placed after the service's own mounts. */
  files?: MountSpec[];
}

function mounts(task: Task, prepared: PreparedMounts): MountSpec[] {
  const own = (task.spec?.container?.mounts ?? []).map((m): MountSpec => {
    if (m.type === Mount_Type.BIND) return { type: 'bind', source: m.source, target: m.target, readOnly: m.readOnly };
    if (m.type === Mount_Type.TMPFS) {
      const opts: string[] = [];
      if (m.tmpfsSizeBytes > 0n) opts.push(`size=${m.tmpfsSizeBytes}`);
      if (m.tmpfsMode) opts.push(`mode=${m.tmpfsMode.toString(8)}`);
      return { type: 'tmpfs', target: m.target, options: opts.length ? opts.join(',') : undefined };
    }
    if (m.type === Mount_Type.VOLUME) {
      const dir = prepared.volumes?.get(m.target);
      if (dir) return { type: 'bind', source: dir, target: m.target, readOnly: m.readOnly };
      throw new TaskRejectedError(`mount of ${m.target}: volume ${m.source || '(anonymous)'} is not available on this node (no volume driver)`);
    }
    throw new TaskRejectedError(`mount of ${m.target}: mount type ${String(m.type)} is not supported (use bind, volume or tmpfs)`);
  });
  return [...own, ...(prepared.files ?? [])];
}

function network(task: Task, ctx: SpecContext): NetworkMode {
  for (const n of task.spec?.networks ?? []) {
    if (n.target === 'host' || n.target === 'none') return n.target;
  }
  return ctx.defaultNetwork;
}

function groups(task: Task): number[] | undefined {
  const gs = task.spec?.container?.groups ?? [];
  if (gs.length === 0) return undefined;
  return gs.map((g) => {
    if (!/^\d+$/.test(g)) throw new TaskRejectedError(`group ${JSON.stringify(g)}: give supplementary groups as numeric ids`);
    return Number(g);
  });
}

type TaskContainer = NonNullable<NonNullable<Task['spec']>['container']>;

/** Capabilities, sysctls, ulimits and init, checked as the runtime will (options.ts) but as a
 * TaskRejectedError naming the service's key, so a task that cannot run here never starts. */
function kernelOptions(c: TaskContainer, net: NetworkMode): Pick<ContainerSpec, 'capAdd' | 'capDrop' | 'sysctls' | 'ulimits' | 'init'> {
  const problems: string[] = [];
  const check = (key: string, p: string | undefined): void => {
    if (p !== undefined) problems.push(p.startsWith(`${key}:`) ? p : `${key}: ${p}`);
  };
  for (const cap of c.capAdd) check('cap_add', checkCapability(cap, 'cap_add', true));
  for (const cap of c.capDrop) check('cap_drop', checkCapability(cap, 'cap_drop'));
  for (const [k, v] of Object.entries(c.sysctls)) check('sysctls', checkSysctl(k, v, net));
  const ulimits: Ulimit[] = [];
  for (const u of c.ulimits) {
    const [soft, hard] = [u.soft, u.hard].map((v) => (v >= -1n && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : NaN)) as [number, number];
    const outOfRange = Number.isNaN(soft) || Number.isNaN(hard) ? `ulimit ${u.name}: ${u.soft}:${u.hard} is out of range (0 to 2^53, or -1 for unlimited)` : undefined;
    const twice = ulimits.some((x) => x.name === u.name) ? `ulimit ${u.name} is given twice` : undefined;
    const problem = outOfRange ?? checkUlimit({ name: u.name, soft, hard }) ?? twice;
    check('ulimits', problem);
    ulimits.push({ name: u.name, soft, hard });
  }
  if (problems.length) throw new TaskRejectedError(`${problems.join('; ')} (fix the service and update it)`);
  return {
    ...(c.capAdd.length ? { capAdd: [...c.capAdd] } : {}),
    ...(c.capDrop.length ? { capDrop: [...c.capDrop] } : {}),
    ...(Object.keys(c.sysctls).length ? { sysctls: { ...c.sysctls } } : {}),
    ...(ulimits.length ? { ulimits } : {}),
    ...(c.init ? { init: true } : {}),
  };
}

/** Docker's templates ({{.Node.Hostname}}, {{.Task.Slot}}, ...) expanded for this task. */
function taskHostname(task: Task, text: string, ctx: SpecContext): string {
  try {
    return expandTemplate(text, {
      serviceId: task.serviceId,
      serviceName: task.serviceName,
      nodeId: ctx.nodeId,
      nodeHostname: ctx.hostname ?? osHostname(),
      taskId: task.id,
      taskName: `${task.serviceName}.${task.slot > 0 ? task.slot : task.nodeId}.${task.id}`,
      taskSlot: String(task.slot),
    });
  } catch (err) {
    throw new TaskRejectedError(`hostname: ${(err as Error).message}`);
  }
}

export function containerSpecFor(task: Task, image: ResolvedImage, ctx: SpecContext, prepared: PreparedMounts = {}): ContainerSpec {
  const c = task.spec?.container;
  if (!c) throw new TaskRejectedError(`task ${task.id} has no container spec`);
  const cfg = image.config;
  // Docker's rule: a new entrypoint drops the image's cmd unless args are given too.
  const entrypoint = c.command.length > 0 ? c.command : (cfg.entrypoint ?? []);
  const cmd = c.args.length > 0 ? c.args : c.command.length > 0 ? [] : (cfg.cmd ?? []);
  const args = [...entrypoint, ...cmd];
  if (args.length === 0) throw new TaskRejectedError(`image ${c.image} has no Entrypoint or Cmd: give the service a command`);
  const limits = task.spec?.resources?.limits;
  const stopSignal = normalizeSignal(c.stopSignal || cfg.stopSignal || 'SIGTERM');
  const graceNanos = c.stopGracePeriod?.nanos;
  const graceMs = graceNanos !== undefined ? Number(graceNanos / 1_000_000n) : DEFAULT_STOP_GRACE_MS;
  const net = network(task, ctx);
  return {
    name: containerName(task),
    rootfs: { layers: image.layerDirs },
    image: { ref: c.image, id: image.id },
    args,
    env: [...(cfg.env ?? []), ...c.env],
    cwd: c.dir || cfg.workingDir || undefined,
    user: c.user || cfg.user || undefined,
    groups: groups(task),
    hostname: c.hostname ? taskHostname(task, c.hostname, ctx) : undefined,
    mounts: mounts(task, prepared),
    readOnly: c.readOnly,
    network: net,
    limits: {
      ...(limits && limits.nanoCpus > 0n ? { cpuQuotaCores: Number(limits.nanoCpus) / 1e9 } : {}),
      // no swap beyond the limit (as Kubernetes does): a task over its memory is OOM-killed
      ...(limits && limits.memoryBytes > 0n ? { memoryBytes: Number(limits.memoryBytes), memorySwapBytes: Number(limits.memoryBytes) } : {}),
      ...(limits && limits.pids > 0n ? { pidsMax: Number(limits.pids) } : {}),
    },
    labels: {
      ...c.labels,
      [LABEL_TASK_ID]: task.id,
      [LABEL_SERVICE_ID]: task.serviceId,
      [LABEL_SERVICE_NAME]: task.serviceName,
      [LABEL_NODE_ID]: ctx.nodeId,
      [LABEL_STOP_SIGNAL]: stopSignal,
      [LABEL_STOP_GRACE_MS]: String(graceMs),
    },
    ...kernelOptions(c, net),
  };
}
