// The flags `service create` and `service update` share, defined once: resources, restart
// policy, health check, update/rollback config, and the list-like flags that create sets
// (`--env`) and update edits (`--env-add`, `--env-rm`). Each group has one definition and one
// parser that applies the flags onto a spec; create applies them onto a fresh spec, update onto
// a copy of the stored one.
import type { Command } from 'commander';
import {
  ContainerSpec,
  HealthConfig,
  Placement,
  ResourceRequirements,
  RestartPolicy,
  RestartPolicy_Condition,
  TaskSpec,
  type Ulimit,
  UpdateConfig,
  UpdateConfig_FailureAction,
  UpdateConfig_Order,
  type Resources,
  type ServiceSpec,
} from '../../proto/gen/types.js';
import { parseCount } from '../client/service-spec.js';
import { UsageError } from '../errors.js';
import { durationProblem } from '../../rules/durations.js';
import { checkCapability, checkSysctl, checkUlimit } from '../stack/linux-names.js';
import { parseCpus, parseDuration, parseSize, type Parsed } from '../stack/units.js';

/** What commander hands an action: option keys in camelCase. */
export type Flags = Record<string, string | string[] | boolean | undefined>;

/** create sets a list (`--env`); update adds to and removes from the stored one. */
export type FlagShape = 'create' | 'update';

export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

function must<T>(flag: string, p: Parsed<T>): T {
  if (!p.ok) throw new UsageError(`--${flag}: ${p.message}`);
  return p.value;
}

const str = (f: Flags, k: string): string | undefined => (typeof f[k] === 'string' ? (f[k] as string) : undefined);
const list = (f: Flags, k: string): string[] => (Array.isArray(f[k]) ? (f[k] as string[]) : []);
const dashed = (k: string): string => k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

function nanosOf(f: Flags, k: string): { nanos: bigint } | undefined {
  const v = str(f, k);
  if (v === undefined) return undefined;
  const nanos = BigInt(Math.round(must(dashed(k), parseDuration(v)) * 1e6));
  const problem = durationProblem(`--${dashed(k)} ${v}`, nanos);
  if (problem) throw new UsageError(problem);
  return { nanos };
}

function pick<T>(table: Record<string, T>, flag: string, v: string): T {
  const out = table[v];
  if (out === undefined) throw new UsageError(`--${flag} is ${Object.keys(table).join(', ')}, not "${v}"`);
  return out;
}

const ACTIONS: Record<string, UpdateConfig_FailureAction> = { pause: UpdateConfig_FailureAction.PAUSE, continue: UpdateConfig_FailureAction.CONTINUE, rollback: UpdateConfig_FailureAction.ROLLBACK };
const ORDERS: Record<string, UpdateConfig_Order> = { 'stop-first': UpdateConfig_Order.STOP_FIRST, 'start-first': UpdateConfig_Order.START_FIRST };
const CONDITIONS: Record<string, RestartPolicy_Condition> = { any: RestartPolicy_Condition.ANY, 'on-failure': RestartPolicy_Condition.ON_FAILURE, none: RestartPolicy_Condition.NONE };

// ---- definitions -------------------------------------------------------------------------------

/** `--NAME` (create) or `--NAME-add`/`--NAME-rm` (update), repeatable. */
function listOption(cmd: Command, shape: FlagShape, name: string, value: string, what: string, short?: string): void {
  if (shape === 'create') cmd.option(`${short ? `${short}, ` : ''}--${name} <${value}>`, `${what} (repeatable)`, collect);
  else cmd.option(`--${name}-add <${value}>`, `add or replace: ${what} (repeatable)`, collect).option(`--${name}-rm <${value.split('=')[0]}>`, `remove: ${what} (repeatable)`, collect);
}

function updateConfigOptions(cmd: Command, p: 'update' | 'rollback'): void {
  const what = p === 'update' ? 'updates' : 'rollbacks';
  cmd
    .option(`--${p}-parallelism <n>`, `tasks replaced at once in ${what} (0 = all)`)
    .option(`--${p}-delay <duration>`, `wait between batches of ${what}`)
    .option(`--${p}-order <order>`, 'stop-first or start-first')
    .option(`--${p}-failure-action <action>`, `pause, continue${p === 'update' ? ' or rollback' : ''}`)
    .option(`--${p}-monitor <duration>`, 'how long a new task must run to count as a success')
    .option(`--${p}-max-failure-ratio <ratio>`, 'failures tolerated (0 to 1)');
}

/** Capabilities, sysctls, ulimits and init: the same names as `docker service create|update`. */
function kernelOptions(cmd: Command, shape: FlagShape): void {
  const also = shape === 'update' ? '; one dropped before is no longer dropped' : '';
  cmd
    .option('--cap-add <capability>', `add a Linux capability, e.g. NET_ADMIN, or ALL${also} (repeatable)`, collect)
    .option('--cap-drop <capability>', `drop a Linux capability, e.g. CHOWN, or ALL${shape === 'update' ? '; one added before is no longer added' : ''} (repeatable)`, collect);
  listOption(cmd, shape, 'sysctl', 'KEY=VALUE', 'namespaced kernel parameter, e.g. kernel.shmmax=1073741824');
  listOption(cmd, shape, 'ulimit', 'NAME=SOFT[:HARD]', 'resource limit, e.g. nofile=1024:2048 (-1 = unlimited)');
  cmd.option('--init', 'run an init as pid 1 that forwards signals and reaps orphans');
  if (shape === 'update') cmd.option('--no-init', 'run the command itself as pid 1 again');
}

/** Defines every shared flag on a `service create` or `service update` command. */
export function addSharedServiceOptions(cmd: Command, shape: FlagShape): Command {
  listOption(cmd, shape, 'env', 'KEY=VALUE', 'environment variable; a bare KEY takes its value from this shell', '-e');
  listOption(cmd, shape, 'label', 'KEY=VALUE', 'service label');
  listOption(cmd, shape, 'constraint', 'expr', 'placement constraint, e.g. node.labels.zone==a');
  cmd
    .option('--limit-cpu <cpus>', 'CPU limit per task, e.g. 0.5')
    .option('--limit-memory <size>', 'memory limit per task, e.g. 256M')
    .option('--limit-pids <n>', 'process limit per task')
    .option('--reserve-cpu <cpus>', 'CPUs set aside per task')
    .option('--reserve-memory <size>', 'memory set aside per task')
    .option('--restart-condition <cond>', 'any, on-failure or none (default any)')
    .option('--restart-delay <duration>', 'delay between restarts (default 5s)')
    .option('--restart-max-attempts <n>', 'give up after this many restarts (default unlimited)')
    .option('--restart-window <duration>', 'window the restart attempts are counted in (default forever)')
    .option('--health-cmd <command>', 'health check command (run by /bin/sh -c)')
    .option('--health-interval <duration>', 'time between checks')
    .option('--health-timeout <duration>', 'time a check may take')
    .option('--health-retries <n>', 'failures in a row before unhealthy')
    .option('--health-start-period <duration>', 'grace period after start')
    .option('--no-healthcheck', "disable the image's health check");
  kernelOptions(cmd, shape);
  updateConfigOptions(cmd, 'update');
  updateConfigOptions(cmd, 'rollback');
  return cmd;
}

/** The option keys addSharedServiceOptions defines (camelCase, both shapes). */
export const SHARED_FLAG_KEYS: readonly string[] = [
  ...['env', 'label', 'constraint'].flatMap((k) => [k, `${k}Add`, `${k}Rm`]),
  ...['Cpu', 'Memory', 'Pids'].map((k) => `limit${k}`),
  ...['Cpu', 'Memory'].map((k) => `reserve${k}`),
  ...['Condition', 'Delay', 'MaxAttempts', 'Window'].map((k) => `restart${k}`),
  ...['Cmd', 'Interval', 'Timeout', 'Retries', 'StartPeriod'].map((k) => `health${k}`),
  'healthcheck',
  'capAdd',
  'capDrop',
  ...['sysctl', 'ulimit'].flatMap((k) => [k, `${k}Add`, `${k}Rm`]),
  'init',
  ...['update', 'rollback'].flatMap((p) => ['Parallelism', 'Delay', 'Order', 'FailureAction', 'Monitor', 'MaxFailureRatio'].map((k) => `${p}${k}`)),
];

// ---- parsers -----------------------------------------------------------------------------------

/** Both shapes as one edit: what to add (create's list, update's -add) and what to remove. */
function edits(f: Flags, name: string): { add: string[]; rm: string[] } {
  return { add: [...list(f, name), ...list(f, `${name}Add`)], rm: list(f, `${name}Rm`) };
}

function keyValues(cur: Readonly<Record<string, string>>, add: string[], rm: string[], flag: string): Record<string, string> {
  const out = { ...cur };
  for (const k of rm) delete out[k];
  for (const item of add) {
    const i = item.indexOf('=');
    const key = i < 0 ? item : item.slice(0, i);
    if (!key) throw new UsageError(`--${flag} "${item}" has no key; write KEY=VALUE`);
    out[key] = i < 0 ? '' : item.slice(i + 1);
  }
  return out;
}

function applyEnv(ctr: ContainerSpec, f: Flags, env: NodeJS.ProcessEnv): void {
  const { add, rm } = edits(f, 'env');
  for (const e of add) if (e.startsWith('=')) throw new UsageError(`--env "${e}" has no variable name; write KEY=VALUE`);
  // a bare KEY takes its value from the environment of this command, as Docker does
  const expanded = add.map((e) => (e.includes('=') || env[e] === undefined ? e : `${e}=${env[e]}`));
  const gone = new Set([...rm, ...expanded.map((e) => e.split('=')[0]!)]);
  ctr.env = [...ctr.env.filter((e) => !gone.has(e.split('=')[0]!)), ...expanded];
}

function applyResources(cur: Resources | undefined, f: Flags, prefix: 'limit' | 'reserve'): Resources | undefined {
  const cpu = str(f, `${prefix}Cpu`);
  const mem = str(f, `${prefix}Memory`);
  const pids = prefix === 'limit' ? str(f, 'limitPids') : undefined;
  if (cpu === undefined && mem === undefined && pids === undefined) return cur;
  const r: Resources = cur ? { ...cur } : { nanoCpus: 0n, memoryBytes: 0n, pids: 0n, generic: [] };
  if (cpu !== undefined) r.nanoCpus = BigInt(must(`${prefix}-cpu`, parseCpus(cpu)));
  if (mem !== undefined) r.memoryBytes = BigInt(must(`${prefix}-memory`, parseSize(mem)));
  if (pids !== undefined) r.pids = BigInt(parseCount('--limit-pids', pids));
  return r;
}

function applyRestart(task: TaskSpec, f: Flags): void {
  if (!['restartCondition', 'restartDelay', 'restartMaxAttempts', 'restartWindow'].some((k) => f[k] !== undefined)) return;
  const r = task.restart ? { ...task.restart } : RestartPolicy.fromPartial({});
  if (str(f, 'restartCondition') !== undefined) r.condition = pick(CONDITIONS, 'restart-condition', str(f, 'restartCondition')!);
  if (str(f, 'restartDelay') !== undefined) r.delay = nanosOf(f, 'restartDelay');
  if (str(f, 'restartMaxAttempts') !== undefined) r.maxAttempts = parseCount('--restart-max-attempts', str(f, 'restartMaxAttempts')!);
  if (str(f, 'restartWindow') !== undefined) r.window = nanosOf(f, 'restartWindow');
  task.restart = r;
}

/** --update-* or --rollback-* flags onto an UpdateConfig (Swarm's defaults where unset). */
function applyUpdateConfig(cur: UpdateConfig | undefined, f: Flags, p: 'update' | 'rollback'): UpdateConfig | undefined {
  const keys = ['Parallelism', 'Delay', 'Order', 'FailureAction', 'Monitor', 'MaxFailureRatio'].map((k) => `${p}${k}`);
  if (!keys.some((k) => f[k] !== undefined)) return cur;
  const c = cur ? UpdateConfig.fromJSON(UpdateConfig.toJSON(cur)) : UpdateConfig.fromPartial({ parallelism: 1 });
  const v = (k: string): string | undefined => str(f, `${p}${k}`);
  if (v('Parallelism') !== undefined) c.parallelism = parseCount(`--${p}-parallelism`, v('Parallelism')!);
  if (v('Delay') !== undefined) c.delay = nanosOf(f, `${p}Delay`);
  if (v('Monitor') !== undefined) c.monitor = nanosOf(f, `${p}Monitor`);
  if (v('Order') !== undefined) c.order = pick(ORDERS, `${p}-order`, v('Order')!);
  if (v('FailureAction') !== undefined) c.failureAction = pick(ACTIONS, `${p}-failure-action`, v('FailureAction')!);
  if (v('MaxFailureRatio') !== undefined) {
    const r = Number(v('MaxFailureRatio'));
    if (!Number.isFinite(r) || r < 0 || r > 1) throw new UsageError(`--${p}-max-failure-ratio is a number from 0 to 1, got "${v('MaxFailureRatio')}"`);
    c.maxFailureRatio = r;
  }
  return c;
}

function applyHealth(ctr: ContainerSpec, f: Flags): void {
  const keys = ['healthCmd', 'healthInterval', 'healthTimeout', 'healthRetries', 'healthStartPeriod'];
  // commander's --no-healthcheck sets healthcheck=false (true when not given)
  if (f.healthcheck === false) {
    if (keys.some((k) => f[k] !== undefined)) throw new UsageError('--no-healthcheck conflicts with the other --health-* flags: use one or the other');
    ctr.healthcheck = HealthConfig.fromPartial({ test: ['NONE'] });
    return;
  }
  if (!keys.some((k) => f[k] !== undefined)) return;
  const h = ctr.healthcheck ? { ...ctr.healthcheck } : HealthConfig.fromPartial({});
  const cmd = str(f, 'healthCmd');
  if (cmd !== undefined) h.test = ['CMD-SHELL', cmd];
  if (h.test.length === 0 || h.test[0] === 'NONE') throw new UsageError('--health-* flags need a check: add --health-cmd "COMMAND"');
  if (str(f, 'healthInterval') !== undefined) h.interval = nanosOf(f, 'healthInterval');
  if (str(f, 'healthTimeout') !== undefined) h.timeout = nanosOf(f, 'healthTimeout');
  if (str(f, 'healthStartPeriod') !== undefined) h.startPeriod = nanosOf(f, 'healthStartPeriod');
  if (str(f, 'healthRetries') !== undefined) h.retries = parseCount('--health-retries', str(f, 'healthRetries')!);
  ctr.healthcheck = h;
}

// ---- kernel options ----------------------------------------------------------------------------

/** Docker's spelling (upper case, `CAP_` prefix; ALL stays ALL), so lists compare and dedupe. */
function capName(c: string): string {
  const bare = c.trim().toUpperCase().replace(/^CAP_/, '');
  return bare === 'ALL' ? 'ALL' : `CAP_${bare}`;
}

/** Deduplicated and sorted (an unchanged list is then an unchanged spec); ALL stands alone. */
function capList(caps: readonly string[]): string[] {
  const set = new Set(caps.map(capName));
  return set.has('ALL') ? ['ALL'] : [...set].sort();
}

function checkedCaps(flag: string, caps: readonly string[]): string[] {
  for (const c of caps) {
    const why = checkCapability(c.trim());
    if (why) throw new UsageError(`--${flag}: ${why}`);
  }
  return capList(caps);
}

/**
 * As `docker service update`: an added capability that the service drops is taken off the drop
 * list (a second --cap-add then adds it), and the other way round; a capability both added and
 * dropped in one command is added. On a fresh spec this is create's plain add and drop.
 */
function applyCaps(ctr: ContainerSpec, f: Flags): void {
  if (f.capAdd === undefined && f.capDrop === undefined) return;
  const add = checkedCaps('cap-add', list(f, 'capAdd'));
  const drop = checkedCaps('cap-drop', list(f, 'capDrop')).filter((c) => !add.includes(c));
  const added = new Set(ctr.capAdd.map(capName));
  const dropped = new Set(ctr.capDrop.map(capName));
  for (const c of add) {
    if (dropped.has(c)) dropped.delete(c);
    else added.add(c);
  }
  for (const c of drop) {
    if (added.has(c)) added.delete(c);
    else dropped.add(c);
  }
  ctr.capAdd = capList([...added]);
  ctr.capDrop = capList([...dropped]);
}

function applySysctls(ctr: ContainerSpec, f: Flags): void {
  const { add, rm } = edits(f, 'sysctl');
  if (add.length === 0 && rm.length === 0) return;
  const flag = f.sysctlAdd !== undefined ? 'sysctl-add' : 'sysctl';
  const out = { ...ctr.sysctls };
  for (const k of rm) delete out[k.trim()];
  for (const item of add) {
    const i = item.indexOf('=');
    const key = i < 0 ? '' : item.slice(0, i).trim();
    const value = i < 0 ? '' : item.slice(i + 1).trim();
    if (!key || !value) throw new UsageError(`--${flag} "${item}" is not KEY=VALUE: write e.g. --${flag} kernel.shmmax=1073741824`);
    const why = checkSysctl(key);
    if (why) throw new UsageError(`--${flag}: ${why}`);
    if (/[\0\n]/.test(value)) throw new UsageError(`--${flag} ${key}: the value must be one line`);
    out[key] = value;
  }
  ctr.sysctls = out;
}

/** `NAME=SOFT[:HARD]` as Docker's --ulimit: HARD defaults to SOFT, -1 is unlimited. */
function ulimitOf(flag: string, item: string): Ulimit {
  const m = /^([^=]+)=(-?\d+)(?::(-?\d+))?$/.exec(item.trim());
  if (!m) throw new UsageError(`--${flag} "${item}" is not NAME=SOFT[:HARD]: write e.g. --${flag} nofile=1024:2048`);
  const name = m[1]!.trim();
  const soft = Number(m[2]);
  const hard = m[3] === undefined ? soft : Number(m[3]);
  for (const v of [soft, hard]) {
    if (!Number.isSafeInteger(v) || v < -1) throw new UsageError(`--${flag} ${item.trim()}: ${m[v === soft ? 2 : 3]} is not a limit: give a whole number, or -1 for unlimited`);
  }
  const why = checkUlimit(name, soft, hard);
  if (why) throw new UsageError(`--${flag}: ${why}`);
  return { name, soft: BigInt(soft), hard: BigInt(hard) };
}

function applyUlimits(ctr: ContainerSpec, f: Flags): void {
  const { add, rm } = edits(f, 'ulimit');
  if (add.length === 0 && rm.length === 0) return;
  const flag = f.ulimitAdd !== undefined ? 'ulimit-add' : 'ulimit';
  const byName = new Map(ctr.ulimits.map((u) => [u.name, u]));
  for (const name of rm) byName.delete(name.trim());
  for (const item of add) {
    const u = ulimitOf(flag, item);
    byName.set(u.name, u);
  }
  ctr.ulimits = [...byName.keys()].sort().map((n) => byName.get(n)!);
}

function applyKernelOptions(ctr: ContainerSpec, f: Flags): void {
  applyCaps(ctr, f);
  applySysctls(ctr, f);
  applyUlimits(ctr, f);
  // --init sets true; update's --no-init sets false; neither leaves the stored value
  if (typeof f.init === 'boolean') ctr.init = f.init;
}

/** Throws the UsageError for a bad capability, sysctl or ulimit value, changing nothing: for
 * commands that must refuse bad input before they read anything from the cluster. */
export function checkKernelOptionFlags(f: Flags): void {
  applyKernelOptions(ContainerSpec.fromPartial({}), f);
}

/**
 * Applies every shared flag onto spec (changed in place: pass a copy). Flags not given leave
 * the spec as it is; `env` is this command's environment, for bare `--env KEY`.
 */
export function applySharedServiceFlags(spec: ServiceSpec, f: Flags, env: NodeJS.ProcessEnv = process.env): void {
  spec.task ??= TaskSpec.fromPartial({});
  const task = spec.task;
  task.container ??= ContainerSpec.fromPartial({});
  applyEnv(task.container, f, env);
  const labels = edits(f, 'label');
  spec.annotations = { name: spec.annotations?.name ?? '', labels: keyValues(spec.annotations?.labels ?? {}, labels.add, labels.rm, 'label') };
  const cons = edits(f, 'constraint');
  task.placement ??= Placement.fromPartial({});
  const gone = new Set(cons.rm);
  task.placement.constraints = [...task.placement.constraints.filter((c) => !gone.has(c)), ...cons.add];
  task.resources ??= ResourceRequirements.fromPartial({});
  task.resources.limits = applyResources(task.resources.limits, f, 'limit');
  task.resources.reservations = applyResources(task.resources.reservations, f, 'reserve');
  applyRestart(task, f);
  applyHealth(task.container, f);
  applyKernelOptions(task.container, f);
  spec.update = applyUpdateConfig(spec.update, f, 'update');
  spec.rollback = applyUpdateConfig(spec.rollback, f, 'rollback');
}
