// deploy: -> DeploySpec, with Docker Swarm's defaults (update parallelism 1, monitor 5 s,
// failure action pause; restart delay 5 s; jobs restart on failure only).
import type { DeploySpec, RestartPolicySpec, ServiceMode, UpdateConfigSpec } from './model.js';
import { checkConstraint, checkSpread } from './constraints.js';
import { parseCpus, parseDuration, parseSize, type Parsed } from './units.js';
import { emptyRecord, isMap, newMap, type KeyPath, type Plain, type PlainMap } from './tree.js';
import type { FileContext } from './context.js';
import { memoryLimitProblem } from '../../rules/resources.js';

export function strings(v: Plain | undefined): Record<string, string> {
  const out = emptyRecord<string>();
  if (isMap(v)) for (const k of Object.keys(v)) if (v[k] !== null) out[k] = String(v[k]);
  return out;
}

export function unit<T>(ctx: FileContext, path: KeyPath, v: Plain | undefined, parse: (x: string | number) => Parsed<T>): T | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' && typeof v !== 'number') return undefined;
  const r = parse(v);
  if (!r.ok) { ctx.error(path, r.message); return undefined; }
  return r.value;
}

export function normalizeDeploy(svc: PlainMap, path: KeyPath, ctx: FileContext): DeploySpec {
  const d = isMap(svc.deploy) ? svc.deploy : newMap();
  const dp = [...path, 'deploy'];
  const mode = (typeof d.mode === 'string' ? d.mode : 'replicated') as ServiceMode;
  const global = mode === 'global' || mode === 'global-job';
  if (global && typeof d.replicas === 'number') {
    ctx.error([...dp, 'replicas'], `mode ${mode} runs one task on every eligible node: remove \`replicas\`, or use mode replicated`, 'key');
  }
  const placement = isMap(d.placement) ? d.placement : newMap();
  const res = isMap(d.resources) ? d.resources : newMap();
  const limits = isMap(res.limits) ? res.limits : newMap();
  const reserv = isMap(res.reservations) ? res.reservations : newMap();
  const rp = [...dp, 'resources'];
  const isJob = mode.endsWith('-job');
  const spec: DeploySpec = {
    mode,
    ...(global ? {} : { replicas: typeof d.replicas === 'number' ? d.replicas : 1 }),
    labels: strings(d.labels),
    endpointMode: d.endpoint_mode === 'dnsrr' ? 'dnsrr' : 'vip',
    placement: {
      constraints: Array.isArray(placement.constraints) ? placement.constraints.map(String) : [],
      preferences: Array.isArray(placement.preferences)
        ? placement.preferences.filter(isMap).map((p) => ({ spread: String(p.spread) }))
        : [],
    },
    resources: {
      limits: {
        nanoCpus: unit(ctx, [...rp, 'limits', 'cpus'], limits.cpus, parseCpus),
        memoryBytes: unit(ctx, [...rp, 'limits', 'memory'], limits.memory, parseSize),
        pids: typeof limits.pids === 'number' ? limits.pids : undefined,
      },
      reservations: {
        nanoCpus: unit(ctx, [...rp, 'reservations', 'cpus'], reserv.cpus, parseCpus),
        memoryBytes: unit(ctx, [...rp, 'reservations', 'memory'], reserv.memory, parseSize),
      },
    },
    restartPolicy: restartPolicy(svc, d, dp, isJob, ctx),
    updateConfig: updateConfig(d.update_config, [...dp, 'update_config'], ctx),
    rollbackConfig: updateConfig(d.rollback_config, [...dp, 'rollback_config'], ctx),
  };
  // The cluster refuses a reservation above its limit: say so here, with the line.
  const { limits: lim, reservations: rsv } = spec.resources;
  const memWhy = lim.memoryBytes !== undefined && lim.memoryBytes > 0 ? memoryLimitProblem(lim.memoryBytes) : undefined;
  if (memWhy) ctx.error([...rp, 'limits', 'memory'], `memory limit ${memWhy}`);
  if (lim.memoryBytes !== undefined && rsv.memoryBytes !== undefined && lim.memoryBytes > 0 && rsv.memoryBytes > lim.memoryBytes) {
    ctx.error([...rp, 'reservations', 'memory'], `reserved memory (${rsv.memoryBytes} bytes) exceeds the memory limit (${lim.memoryBytes} bytes): lower the reservation or raise limits.memory`);
  }
  if (lim.nanoCpus !== undefined && rsv.nanoCpus !== undefined && lim.nanoCpus > 0 && rsv.nanoCpus > lim.nanoCpus) {
    ctx.error([...rp, 'reservations', 'cpus'], `reserved CPUs (${rsv.nanoCpus / 1e9}) exceed the CPU limit (${lim.nanoCpus / 1e9}): lower the reservation or raise limits.cpus`);
  }
  spec.placement.constraints.forEach((c, i) => {
    const why = checkConstraint(c);
    if (why) ctx.error([...dp, 'placement', 'constraints', i], why);
  });
  spec.placement.preferences.forEach((p, i) => {
    const why = checkSpread(p.spread);
    if (why) ctx.error([...dp, 'placement', 'preferences', i, 'spread'], why);
  });
  if (typeof placement.max_replicas_per_node === 'number') spec.placement.maxReplicasPerNode = placement.max_replicas_per_node;
  dropUndefined(spec.resources.limits);
  dropUndefined(spec.resources.reservations);
  return spec;
}

function restartPolicy(svc: PlainMap, d: PlainMap, dp: KeyPath, isJob: boolean, ctx: FileContext): RestartPolicySpec {
  const p = isMap(d.restart_policy) ? d.restart_policy : undefined;
  const out: RestartPolicySpec = { condition: isJob ? 'on-failure' : 'any', delayMs: 5000, maxAttempts: 0, windowMs: 0 };
  if (p) {
    const rp = [...dp, 'restart_policy'];
    if (typeof p.condition === 'string') out.condition = p.condition as RestartPolicySpec['condition'];
    out.delayMs = unit(ctx, [...rp, 'delay'], p.delay, parseDuration) ?? out.delayMs;
    out.windowMs = unit(ctx, [...rp, 'window'], p.window, parseDuration) ?? out.windowMs;
    if (typeof p.max_attempts === 'number') out.maxAttempts = p.max_attempts;
    return out;
  }
  // `restart:` is the developer's single-host policy; cluster mode uses it only as a fallback.
  if (typeof svc.restart === 'string') {
    const m = /^(no|always|unless-stopped|on-failure)(?::(\d+))?$/.exec(svc.restart);
    if (!m) {
      ctx.error([...dp.slice(0, -1), 'restart'], `invalid restart "${svc.restart}": use no, always, unless-stopped or on-failure[:N]`);
    } else {
      out.condition = m[1] === 'no' ? 'none' : m[1] === 'on-failure' ? 'on-failure' : 'any';
      if (m[2] !== undefined) out.maxAttempts = Number(m[2]);
    }
  }
  return out;
}

function updateConfig(v: Plain | undefined, path: KeyPath, ctx: FileContext): UpdateConfigSpec {
  const u = isMap(v) ? v : newMap();
  return {
    parallelism: typeof u.parallelism === 'number' ? u.parallelism : 1,
    delayMs: unit(ctx, [...path, 'delay'], u.delay, parseDuration) ?? 0,
    failureAction: (typeof u.failure_action === 'string' ? u.failure_action : 'pause') as UpdateConfigSpec['failureAction'],
    monitorMs: unit(ctx, [...path, 'monitor'], u.monitor, parseDuration) ?? 5000,
    maxFailureRatio: typeof u.max_failure_ratio === 'number' ? u.max_failure_ratio : 0,
    order: u.order === 'start-first' ? 'start-first' : 'stop-first',
  };
}

function dropUndefined(o: object): void {
  for (const [k, v] of Object.entries(o)) if (v === undefined) delete (o as Record<string, unknown>)[k];
}
