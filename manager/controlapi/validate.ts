// Checks a service spec before anything is written: a refused spec changes nothing. Messages
// name the field, the value and the accepted forms.
import type { Duration, Resources } from '../../proto/gen/types.js';
import { Mount_Type, ServiceSpec } from '../../proto/gen/types.js';
import { hostnameProblem, userProblem } from '../../rules/container.js';
import { durationProblem, healthDurationsProblem } from '../../rules/durations.js';
import { imageProblem } from '../../rules/image-reference.js';
import { labelsProblem } from '../../rules/labels.js';
import { capabilityProblem, sysctlProblem, ulimitProblem } from '../../rules/linux-names.js';
import { cpuLimitProblem, memoryLimitProblem } from '../../rules/resources.js';
import { parseConstraints, parseSpreadDescriptor } from '../scheduler/constraints.js';
import type { ReadonlyDeep } from '../store/index.js';
import { invalidArgument } from './errors.js';
import { validateFileTargets } from './references.js';

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
export const MAX_NAME_LENGTH = 63;
/** Job completions run a few at a time: more than this in one job is a typo, not a plan. */
export const MAX_COMPLETIONS = 100_000;
/**
 * Replicas (and a job's concurrent tasks) per service unless the managers are started with
 * `--max-replicas` (SHOAL_MAX_REPLICAS): each one is a container made at once, and a typo of a
 * few zeros should not start thousands of them on a small cluster.
 */
export const DEFAULT_MAX_REPLICAS = 1_000;
/** The encoded spec: with its previous spec a service stays far below gRPC's 4 MiB messages. */
export const MAX_SPEC_BYTES = 1024 * 1024;

/** What one request may ask of this cluster; the control API's deps set them. */
export interface SpecLimits {
  maxReplicas: number;
  /** CPUs of the largest node known (0: none known, the CPU limit is not checked against it). */
  largestNodeCpus: number;
}

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
  const problem = labelsProblem(`the ${kind}`, [['labels', labels]]);
  if (problem) throw invalidArgument(problem);
}

function checkCount(what: string, v: number, max: number, raise: string): void {
  if (!Number.isInteger(v) || v < 0) throw invalidArgument(`${what} must be a whole number >= 0, got ${v}`);
  if (v > max) throw invalidArgument(`${what} ${v} is more than the ${max} allowed per service: ${raise}`);
}

const RAISE_REPLICAS = 'use fewer, or start the managers with `shoal daemon --max-replicas N` (env SHOAL_MAX_REPLICAS) to allow more';

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
  const problem = d ? durationProblem(what, d.nanos) : undefined;
  if (problem) throw invalidArgument(problem);
}

function check(problem: string | undefined, prefix = ''): void {
  if (problem) throw invalidArgument(`${prefix}${problem}`);
}

/**
 * Throws an INVALID_ARGUMENT ControlError naming the first problem of spec. The rules a node's
 * runtime applies (rules/) are applied here too, so that no spec is stored whose every task
 * would be rejected.
 */
export function validateServiceSpec(
  spec: ReadonlyDeep<ServiceSpec> | undefined,
  limits: SpecLimits = { maxReplicas: DEFAULT_MAX_REPLICAS, largestNodeCpus: 0 },
): asserts spec is ReadonlyDeep<ServiceSpec> {
  if (!spec) throw invalidArgument('the request has no service spec');
  validateServiceName(spec.annotations?.name ?? '');
  const name = spec.annotations?.name ?? '';
  const size = ServiceSpec.encode(spec as ServiceSpec).finish().length;
  if (size > MAX_SPEC_BYTES) throw invalidArgument(`the spec of service "${name}" is ${size} bytes; at most ${MAX_SPEC_BYTES} are allowed (move large data into configs or secrets)`);
  const task = spec.task;
  const c = task?.container;
  if (!c || !c.image.trim()) throw invalidArgument(`service "${name}" needs an image (e.g. \`shoal service create --name web busybox\`)`);
  if (/\s/.test(c.image)) throw invalidArgument(`image "${c.image}" contains whitespace`);
  check(imageProblem(c.image));
  check(labelsProblem(`service "${name}"`, [['labels (--label)', spec.annotations?.labels ?? {}], ['container labels (--container-label)', c.labels]]));
  if (c.hostname) check(hostnameProblem(c.hostname));
  check(userProblem(c.user));
  for (const cap of c.capAdd) check(capabilityProblem(cap), 'cap_add (--cap-add): ');
  for (const cap of c.capDrop) check(capabilityProblem(cap), 'cap_drop (--cap-drop): ');
  const hostNetwork = [...(spec.networks ?? []), ...(task?.networks ?? [])].some((n) => n.target === 'host');
  for (const [k, v] of Object.entries(c.sysctls)) check(sysctlProblem(k, v, hostNetwork), 'sysctls (--sysctl): ');
  for (const u of c.ulimits) check(ulimitProblem(u.name, Number(u.soft), Number(u.hard)), 'ulimits (--ulimit): ');
  const mode = spec.mode;
  if (!mode) throw invalidArgument('the service mode is missing: replicated, global, replicated-job or global-job');
  if (mode.$case === 'replicated') checkCount('replicas', mode.value.replicas, limits.maxReplicas, RAISE_REPLICAS);
  if (mode.$case === 'replicatedJob') {
    checkCount('max concurrent', mode.value.maxConcurrent, limits.maxReplicas, RAISE_REPLICAS);
    checkCount('total completions', mode.value.totalCompletions, MAX_COMPLETIONS, 'split the job');
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
  if (lim && lim.memoryBytes > 0n) check(memoryLimitProblem(Number(lim.memoryBytes)), 'memory limit (--limit-memory): ');
  if (lim && lim.nanoCpus > 0n && limits.largestNodeCpus > 0) {
    check(cpuLimitProblem(Number(lim.nanoCpus) / 1e9, limits.largestNodeCpus, 'the largest node has'), 'CPU limit (--limit-cpu): ');
  }
  checkDuration('the restart delay (--restart-delay)', task?.restart?.delay);
  checkDuration('the restart window (--restart-window)', task?.restart?.window);
  checkDuration('the stop grace period (--stop-grace-period)', c.stopGracePeriod);
  if (c.healthcheck) {
    check(
      healthDurationsProblem(c.healthcheck, {
        interval: 'the health interval (--health-interval)',
        timeout: 'the health timeout (--health-timeout)',
        startPeriod: 'the health start period (--health-start-period)',
        startInterval: 'the health start interval (healthcheck start_interval)',
      }),
    );
  }
  for (const [which, u] of [['update', spec.update], ['rollback', spec.rollback]] as const) {
    checkDuration(`the ${which} delay (--${which}-delay)`, u?.delay);
    checkDuration(`the ${which} monitor (--${which}-monitor)`, u?.monitor);
  }
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
