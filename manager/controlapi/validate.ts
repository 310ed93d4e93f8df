// Checks a service spec before anything is written: a refused spec changes nothing. Messages
// name the field, the value and the accepted forms.
import type { Duration, Resources, ServiceSpec } from '../../proto/gen/types.js';
import { Mount_Type } from '../../proto/gen/types.js';
import { parseConstraints, parseSpreadDescriptor } from '../scheduler/constraints.js';
import type { ReadonlyDeep } from '../store/index.js';
import { invalidArgument } from './errors.js';
import { validateFileTargets } from './references.js';

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
export const MAX_NAME_LENGTH = 63;
/** More replicas than this in one service is a typo, not a plan. */
export const MAX_REPLICAS = 100_000;

export function validateServiceName(name: string): void {
  if (!name) throw invalidArgument('a service needs a name (--name NAME)');
  if (name.length > MAX_NAME_LENGTH) throw invalidArgument(`service name "${name}" is ${name.length} characters long; at most ${MAX_NAME_LENGTH} are allowed`);
  if (!NAME_RE.test(name)) throw invalidArgument(`service name "${name}" is invalid: use letters, digits, "_", "." and "-", starting with a letter or digit`);
}

/** Secrets, configs and networks: names are not DNS labels, so Swarm's 64 characters apply. */
export const MAX_OBJECT_NAME_LENGTH = 64;

export function validateObjectName(kind: string, name: string): void {
  if (!name) throw invalidArgument(`a ${kind} needs a name (\`shoal ${kind} create NAME ...\`)`);
  if (name.length > MAX_OBJECT_NAME_LENGTH) {
    throw invalidArgument(`${kind} name "${name}" is ${name.length} characters long; at most ${MAX_OBJECT_NAME_LENGTH} are allowed`);
  }
  if (!NAME_RE.test(name)) throw invalidArgument(`${kind} name "${name}" is invalid: use letters, digits, "_", "." and "-", starting with a letter or digit`);
}

export function validateLabels(kind: string, labels: Readonly<Record<string, string>>): void {
  for (const k of Object.keys(labels)) {
    if (!k.trim()) throw invalidArgument(`a ${kind} label has an empty key; write key=value`);
  }
}

function checkCount(what: string, v: number): void {
  if (!Number.isInteger(v) || v < 0) throw invalidArgument(`${what} must be a whole number >= 0, got ${v}`);
  if (v > MAX_REPLICAS) throw invalidArgument(`${what} of ${v} is more than the ${MAX_REPLICAS} allowed`);
}

function checkResources(what: string, r: ReadonlyDeep<Resources> | undefined): void {
  if (!r) return;
  if (r.nanoCpus < 0n) throw invalidArgument(`${what} CPUs must not be negative`);
  if (r.memoryBytes < 0n) throw invalidArgument(`${what} memory must not be negative`);
  if (r.pids < 0n) throw invalidArgument(`${what} pids must not be negative`);
  for (const g of r.generic) {
    if (!g.kind) throw invalidArgument(`${what} generic resource needs a kind (e.g. gpu)`);
    if (g.count < 0n) throw invalidArgument(`${what} generic resource "${g.kind}" count must not be negative`);
  }
}

function checkDuration(what: string, d: ReadonlyDeep<Duration> | undefined): void {
  if (d && d.nanos < 0n) throw invalidArgument(`${what} must not be negative`);
}

/** Throws an INVALID_ARGUMENT ControlError naming the first problem of spec. */
export function validateServiceSpec(spec: ReadonlyDeep<ServiceSpec> | undefined): asserts spec is ReadonlyDeep<ServiceSpec> {
  if (!spec) throw invalidArgument('the request has no service spec');
  validateServiceName(spec.annotations?.name ?? '');
  const task = spec.task;
  const c = task?.container;
  if (!c || !c.image.trim()) throw invalidArgument(`service "${spec.annotations?.name}" needs an image (e.g. \`shoal service create --name web busybox\`)`);
  if (/\s/.test(c.image)) throw invalidArgument(`image "${c.image}" contains whitespace`);
  const mode = spec.mode;
  if (!mode) throw invalidArgument('the service mode is missing: replicated, global, replicated-job or global-job');
  if (mode.$case === 'replicated') checkCount('replicas', mode.value.replicas);
  if (mode.$case === 'replicatedJob') {
    checkCount('max concurrent', mode.value.maxConcurrent);
    checkCount('total completions', mode.value.totalCompletions);
  }
  const placement = task?.placement;
  if (placement) {
    parseConstraints(placement.constraints);
    for (const p of placement.preferences) {
      if (p.preference?.$case !== 'spread') throw invalidArgument('a placement preference must be spread=<field>, e.g. spread=node.labels.zone');
      parseSpreadDescriptor(p.preference.value.spreadDescriptor);
    }
    if (placement.maxReplicas > 0 && mode.$case !== 'replicated') {
      throw invalidArgument(`max replicas per node applies to replicated services only, not to ${mode.$case} ones`);
    }
  }
  const res = task?.resources;
  checkResources('reserved', res?.reservations);
  checkResources('limit of', res?.limits);
  const lim = res?.limits;
  const rsv = res?.reservations;
  if (lim && rsv) {
    if (lim.nanoCpus > 0n && rsv.nanoCpus > lim.nanoCpus) throw invalidArgument('reserved CPUs exceed the CPU limit; lower --reserve-cpu or raise --limit-cpu');
    if (lim.memoryBytes > 0n && rsv.memoryBytes > lim.memoryBytes) {
      throw invalidArgument('reserved memory exceeds the memory limit; lower --reserve-memory or raise --limit-memory');
    }
  }
  checkDuration('the restart delay', task?.restart?.delay);
  checkDuration('the restart window', task?.restart?.window);
  checkDuration('the stop grace period', c.stopGracePeriod);
  for (const e of c.env) {
    if (e.startsWith('=') || e === '') throw invalidArgument(`environment entry "${e}" has no variable name; write KEY=VALUE`);
  }
  for (const m of c.mounts) {
    if (!m.target.startsWith('/')) throw invalidArgument(`mount target "${m.target}" must be an absolute path inside the container`);
    if (m.type === Mount_Type.BIND && !m.source.startsWith('/')) throw invalidArgument(`bind mount source "${m.source}" must be an absolute path on the host`);
  }
  validateFileTargets(spec);
}

/** Which kind of service a spec describes, for refusing a mode change on update. */
export function modeName(spec: ReadonlyDeep<ServiceSpec> | undefined): string {
  switch (spec?.mode?.$case) {
    case 'replicated':
      return 'replicated';
    case 'global':
      return 'global';
    case 'replicatedJob':
      return 'replicated-job';
    case 'globalJob':
      return 'global-job';
    default:
      return 'unknown';
  }
}
