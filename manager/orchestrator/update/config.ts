// What an update run needs to know about a service: the effective update (or rollback) config
// with Docker's defaults filled in, and whether a task was made from the current task template.
import { TaskSpec, UpdateConfig, UpdateConfig_FailureAction, UpdateConfig_Order, type Service, type Task } from '../../../proto/gen/types.js';
import type { ReadonlyDeep } from '../../store/index.js';

type RO<T> = ReadonlyDeep<T>;

/** Docker's default monitor period after each new task starts. */
export const DEFAULT_MONITOR_MS = 5_000;

export interface EffectiveUpdateConfig {
  /** Slots replaced per batch; Infinity for "all at once" (parallelism 0). */
  parallelism: number;
  delayMs: number;
  monitorMs: number;
  failureAction: UpdateConfig_FailureAction;
  maxFailureRatio: number;
  startFirst: boolean;
}

function ms(d: { readonly nanos: bigint } | undefined, dflt: number): number {
  return d ? Number(d.nanos / 1_000_000n) : dflt;
}

/** The config that drives an update (rollback=false) or a rollback (rollback=true). */
export function effectiveConfig(service: RO<Service>, rollback: boolean): EffectiveUpdateConfig {
  const c: RO<UpdateConfig> = (rollback ? service.spec?.rollback : service.spec?.update) ?? UpdateConfig.fromPartial({ parallelism: 1 });
  return {
    parallelism: c.parallelism === 0 ? Infinity : c.parallelism,
    delayMs: ms(c.delay, 0),
    monitorMs: ms(c.monitor, DEFAULT_MONITOR_MS),
    failureAction: c.failureAction,
    maxFailureRatio: c.maxFailureRatio,
    startFirst: c.order === UpdateConfig_Order.START_FIRST,
  };
}

/** Key order fixed, so two equal specs give the same text whatever order maps were filled in. */
function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => {
    if (x && typeof x === 'object' && !Array.isArray(x)) {
      const o = x as Record<string, unknown>;
      return Object.fromEntries(Object.keys(o).sort().map((k) => [k, o[k]]));
    }
    return x;
  });
}

const specText = new WeakMap<object, string>();

function textOf(spec: RO<TaskSpec> | undefined): string {
  if (!spec) return canonical(TaskSpec.toJSON(TaskSpec.fromPartial({})));
  let t = specText.get(spec);
  if (t === undefined) {
    t = canonical(TaskSpec.toJSON(spec as TaskSpec));
    specText.set(spec, t);
  }
  return t;
}

/**
 * A task made from an older task template. The control API bumps spec_version on every spec
 * change, replicas included, so a version mismatch alone is not enough: the templates are
 * compared too.
 */
export function isOutdated(service: RO<Service>, t: RO<Task>): boolean {
  if (t.specVersion === service.specVersion) return false;
  return textOf(t.spec) !== textOf(service.spec?.task);
}
