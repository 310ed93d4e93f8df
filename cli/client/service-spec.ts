// `shoal service create` flags -> a ServiceSpec. Everything a user can get wrong is checked
// here first with a message naming the flag; the manager checks again (other clients exist).
import { randomBytes } from 'node:crypto';
import { Mount, Mount_Type, RestartPolicy_Condition, ServiceSpec, type Resources } from '../../proto/gen/types.js';
import { UsageError } from '../errors.js';
import { durationProblem } from '../../rules/durations.js';
import { parseCpus, parseDuration, parseSize, type Parsed } from '../stack/units.js';

export interface ServiceFlags {
  name?: string;
  replicas?: string;
  mode?: string;
  constraint?: string[];
  placementPref?: string[];
  reserveCpu?: string;
  reserveMemory?: string;
  limitCpu?: string;
  limitMemory?: string;
  limitPids?: string;
  env?: string[];
  mount?: string[];
  label?: string[];
  containerLabel?: string[];
  hostname?: string;
  workdir?: string;
  user?: string;
  stopSignal?: string;
  stopGracePeriod?: string;
  restartCondition?: string;
  restartDelay?: string;
  restartMaxAttempts?: string;
  maxReplicas?: string;
}

function must<T>(flag: string, p: Parsed<T>): T {
  if (!p.ok) throw new UsageError(`${flag}: ${p.message}`);
  return p.value;
}

export function parseCount(flag: string, v: string): number {
  if (!/^\s*-?\d+\s*$/.test(v)) throw new UsageError(`${flag} must be a whole number >= 0, got "${v}"`);
  const n = Number(v);
  if (n < 0 || !Number.isSafeInteger(n) || n > 0xffffffff) throw new UsageError(`${flag} must be a whole number >= 0, got ${v}`);
  return n;
}

function nanos(flag: string, v: string | undefined): { nanos: bigint } | undefined {
  if (v === undefined) return undefined;
  const n = BigInt(Math.round(must(flag, parseDuration(v)) * 1e6));
  const problem = durationProblem(`${flag} ${v}`, n);
  if (problem) throw new UsageError(problem);
  return { nanos: n };
}

function keyValues(flag: string, items: readonly string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items ?? []) {
    const i = item.indexOf('=');
    const key = i < 0 ? item : item.slice(0, i);
    if (!key) throw new UsageError(`${flag} "${item}" has no key; write KEY=VALUE`);
    out[key] = i < 0 ? '' : item.slice(i + 1);
  }
  return out;
}

/** --mount type=bind,src=/host,dst=/ctr[,readonly] (also source/target/destination, ro, tmpfs-size). */
export function parseMount(text: string): Mount {
  const m = Mount.fromPartial({ type: Mount_Type.VOLUME });
  for (const part of text.split(',')) {
    const i = part.indexOf('=');
    const k = (i < 0 ? part : part.slice(0, i)).trim().toLowerCase();
    const v = i < 0 ? undefined : part.slice(i + 1).trim();
    switch (k) {
      case 'type':
        if (v === 'bind') m.type = Mount_Type.BIND;
        else if (v === 'volume') m.type = Mount_Type.VOLUME;
        else if (v === 'tmpfs') m.type = Mount_Type.TMPFS;
        else throw new UsageError(`--mount "${text}": type is bind, volume or tmpfs, not "${v}"`);
        break;
      case 'src':
      case 'source':
        m.source = v ?? '';
        break;
      case 'dst':
      case 'destination':
      case 'target':
        m.target = v ?? '';
        break;
      case 'ro':
      case 'readonly':
        m.readOnly = v === undefined || v === 'true' || v === '1';
        break;
      case 'bind-propagation':
        m.bindPropagation = v ?? '';
        break;
      case 'tmpfs-size':
        m.tmpfsSizeBytes = BigInt(must('--mount tmpfs-size', parseSize(v ?? '')));
        break;
      default:
        throw new UsageError(`--mount "${text}": unknown key "${k}"; use type, src, dst, readonly, bind-propagation, tmpfs-size`);
    }
  }
  if (!m.target) throw new UsageError(`--mount "${text}" needs dst=/path/in/container`);
  if (!m.target.startsWith('/')) throw new UsageError(`--mount "${text}": dst must be an absolute path`);
  if (m.type === Mount_Type.BIND && !m.source.startsWith('/')) throw new UsageError(`--mount "${text}": a bind mount needs src=/absolute/host/path`);
  return m;
}

function resources(cpu: string | undefined, mem: string | undefined, pids: string | undefined, what: string): Resources | undefined {
  if (cpu === undefined && mem === undefined && pids === undefined) return undefined;
  return {
    nanoCpus: cpu === undefined ? 0n : BigInt(must(`--${what}-cpu`, parseCpus(cpu))),
    memoryBytes: mem === undefined ? 0n : BigInt(must(`--${what}-memory`, parseSize(mem))),
    pids: pids === undefined ? 0n : BigInt(parseCount(`--${what}-pids`, pids)),
    generic: [],
  };
}

const CONDITIONS: Record<string, RestartPolicy_Condition> = { any: RestartPolicy_Condition.ANY, 'on-failure': RestartPolicy_Condition.ON_FAILURE, none: RestartPolicy_Condition.NONE };

/** Without --name, Docker invents a name; ours says where it came from: busybox-x3k9q. */
export function defaultName(image: string): string {
  const base = image.replace(/[@:][^/]*$/, '').split('/').pop()!.replace(/[^a-zA-Z0-9_.-]/g, '').replace(/^[^a-zA-Z0-9]+/, '').slice(0, 56) || 'service';
  return `${base}-${randomBytes(4).readUInt32BE(0).toString(36).padStart(5, '0').slice(-5)}`;
}

export function buildServiceSpec(image: string, command: readonly string[], f: ServiceFlags, env: NodeJS.ProcessEnv = process.env): ServiceSpec {
  if (!image) throw new UsageError('service create needs an image: shoal service create --name NAME IMAGE [ARG...]');
  const mode = f.mode ?? 'replicated';
  if (mode !== 'replicated' && mode !== 'global') throw new UsageError(`--mode is replicated or global, not "${mode}"`);
  if (mode === 'global' && f.replicas !== undefined) throw new UsageError('--replicas applies to replicated services only: drop it, or use --mode replicated');
  if (mode === 'global' && f.maxReplicas !== undefined) throw new UsageError('--max-replicas applies to replicated services only');
  const replicas = f.replicas === undefined ? 1 : parseCount('--replicas', f.replicas);
  const condition = f.restartCondition === undefined ? RestartPolicy_Condition.ANY : CONDITIONS[f.restartCondition];
  if (condition === undefined) throw new UsageError(`--restart-condition is any, on-failure or none, not "${f.restartCondition}"`);
  const envList = (f.env ?? []).map((e) => (e.includes('=') ? e : env[e] !== undefined ? `${e}=${env[e]}` : e));
  const spec = ServiceSpec.fromPartial({
    annotations: { name: f.name ?? defaultName(image), labels: keyValues('--label', f.label) },
    task: {
      container: {
        image,
        args: [...command],
        env: envList,
        labels: keyValues('--container-label', f.containerLabel),
        hostname: f.hostname ?? '',
        dir: f.workdir ?? '',
        user: f.user ?? '',
        mounts: (f.mount ?? []).map(parseMount),
        stopSignal: f.stopSignal ?? '',
        stopGracePeriod: nanos('--stop-grace-period', f.stopGracePeriod),
      },
      resources: {
        reservations: resources(f.reserveCpu, f.reserveMemory, undefined, 'reserve'),
        limits: resources(f.limitCpu, f.limitMemory, f.limitPids, 'limit'),
      },
      restart: {
        condition,
        delay: nanos('--restart-delay', f.restartDelay),
        maxAttempts: f.restartMaxAttempts === undefined ? 0 : parseCount('--restart-max-attempts', f.restartMaxAttempts),
      },
      placement: {
        constraints: f.constraint ?? [],
        preferences: (f.placementPref ?? []).map((p) => {
          if (!/^spread=/i.test(p)) throw new UsageError(`--placement-pref "${p}": write spread=node.labels.<name>`);
          return { preference: { $case: 'spread' as const, value: { spreadDescriptor: p.replace(/^spread=/i, '') } } };
        }),
        maxReplicas: f.maxReplicas === undefined ? 0 : parseCount('--max-replicas', f.maxReplicas),
      },
    },
  });
  spec.mode = mode === 'global' ? { $case: 'global', value: {} } : { $case: 'replicated', value: { replicas } };
  return spec;
}
