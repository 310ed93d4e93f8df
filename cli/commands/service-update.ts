// `shoal service update|rollback`: read the service, change its spec as the flags say, write it
// back with the version read (compare-and-swap), then follow the rolling update the managers run
// until it completes, pauses or rolls back.
import { status as grpcStatus } from '@grpc/grpc-js';
import type { Command } from 'commander';
import type { GetServiceResponse, ListTasksResponse, UpdateServiceResponse } from '../../proto/gen/control.js';
import {
  RestartPolicy_Condition,
  ServiceSpec,
  TaskState,
  UpdateConfig,
  UpdateConfig_FailureAction,
  UpdateConfig_Order,
  UpdateStatus_State,
  type Resources,
  type Service,
} from '../../proto/gen/types.js';
import { addConnectionOptions, connectionFlags, RemoteError, withConnection, type Connection } from '../client/index.js';
import { parseCount } from '../client/service-spec.js';
import { UsageError } from '../errors.js';
import { parseCpus, parseDuration, parseSize, type Parsed } from '../stack/units.js';

type Flags = Record<string, string | string[] | boolean | undefined>;

class UpdateFailedError extends Error {
  readonly userError = true as const;
}

const S = UpdateStatus_State;
const POLL_MS = 300;
/** A spec change that replaces no task (replicas only) never gets an update status. */
const NO_STATUS_GRACE_MS = 2000;

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

function must<T>(flag: string, p: Parsed<T>): T {
  if (!p.ok) throw new UsageError(`--${flag}: ${p.message}`);
  return p.value;
}

const str = (f: Flags, k: string): string | undefined => (typeof f[k] === 'string' ? (f[k] as string) : undefined);
const list = (f: Flags, k: string): string[] => (Array.isArray(f[k]) ? (f[k] as string[]) : []);
const dashed = (k: string): string => k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
const nanosOf = (f: Flags, k: string): { nanos: bigint } | undefined => {
  const v = str(f, k);
  return v === undefined ? undefined : { nanos: BigInt(Math.round(must(dashed(k), parseDuration(v)) * 1e6)) };
};

function setResources(cur: Resources | undefined, f: Flags, prefix: 'limit' | 'reserve'): Resources | undefined {
  const cpu = str(f, `${prefix}Cpu`);
  const mem = str(f, `${prefix}Memory`);
  if (cpu === undefined && mem === undefined) return cur;
  const r: Resources = cur ? { ...cur } : { nanoCpus: 0n, memoryBytes: 0n, pids: 0n, generic: [] };
  if (cpu !== undefined) r.nanoCpus = BigInt(must(`${prefix}-cpu`, parseCpus(cpu)));
  if (mem !== undefined) r.memoryBytes = BigInt(must(`${prefix}-memory`, parseSize(mem)));
  return r;
}

const ACTIONS: Record<string, UpdateConfig_FailureAction> = { pause: UpdateConfig_FailureAction.PAUSE, continue: UpdateConfig_FailureAction.CONTINUE, rollback: UpdateConfig_FailureAction.ROLLBACK };
const ORDERS: Record<string, UpdateConfig_Order> = { 'stop-first': UpdateConfig_Order.STOP_FIRST, 'start-first': UpdateConfig_Order.START_FIRST };
const CONDITIONS: Record<string, RestartPolicy_Condition> = { any: RestartPolicy_Condition.ANY, 'on-failure': RestartPolicy_Condition.ON_FAILURE, none: RestartPolicy_Condition.NONE };

function pick<T>(table: Record<string, T>, flag: string, v: string): T {
  const out = table[v];
  if (out === undefined) throw new UsageError(`--${flag} is ${Object.keys(table).join(', ')}, not "${v}"`);
  return out;
}

/** --update-* or --rollback-* flags onto an UpdateConfig (Swarm's defaults where unset). */
function setUpdateConfig(cur: UpdateConfig | undefined, f: Flags, p: 'update' | 'rollback'): UpdateConfig | undefined {
  const keys = ['Parallelism', 'Delay', 'Order', 'FailureAction', 'Monitor', 'MaxFailureRatio'].map((k) => `${p}${k}`);
  if (!keys.some((k) => f[k] !== undefined)) return cur;
  const c = cur ? UpdateConfig.fromJSON(UpdateConfig.toJSON(cur)) : UpdateConfig.fromPartial({ parallelism: 1 });
  const v = (k: string) => str(f, `${p}${k}`);
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

function setKeyValues(cur: Record<string, string>, add: string[], rm: string[], flag: string): Record<string, string> {
  const out = { ...cur };
  for (const k of rm) delete out[k];
  for (const item of add) {
    const i = item.indexOf('=');
    const key = i < 0 ? item : item.slice(0, i);
    if (!key) throw new UsageError(`--${flag}-add "${item}" has no key; write KEY=VALUE`);
    out[key] = i < 0 ? '' : item.slice(i + 1);
  }
  return out;
}

/** The service's spec with the flags applied; the stored spec is left as it was. */
export function applyUpdateFlags(current: ServiceSpec, f: Flags): ServiceSpec {
  const spec = ServiceSpec.fromJSON(ServiceSpec.toJSON(current));
  spec.task ??= ServiceSpec.fromPartial({ task: {} }).task!;
  const task = spec.task;
  task.container ??= ServiceSpec.fromPartial({ task: { container: {} } }).task!.container!;
  const ctr = task.container;
  const image = str(f, 'image');
  if (image !== undefined) {
    if (!image.trim() || /\s/.test(image)) throw new UsageError(`--image "${image}" is not an image reference, e.g. busybox:1.36`);
    ctr.image = image;
  }
  const envRm = new Set(list(f, 'envRm'));
  const envAdd = list(f, 'envAdd');
  const addKeys = new Set(envAdd.map((e) => e.split('=')[0]));
  ctr.env = [...ctr.env.filter((e) => !envRm.has(e.split('=')[0]!) && !addKeys.has(e.split('=')[0])), ...envAdd];
  spec.annotations = { name: spec.annotations?.name ?? '', labels: setKeyValues(spec.annotations?.labels ?? {}, list(f, 'labelAdd'), list(f, 'labelRm'), 'label') };
  const replicas = str(f, 'replicas');
  if (replicas !== undefined) {
    if (spec.mode?.$case !== 'replicated') throw new UsageError(`--replicas applies to replicated services only; this one is ${spec.mode?.$case ?? 'unknown'}`);
    spec.mode = { $case: 'replicated', value: { replicas: parseCount('--replicas', replicas) } };
  }
  const cRm = new Set(list(f, 'constraintRm'));
  task.placement ??= { constraints: [], preferences: [], maxReplicas: 0, platforms: [] };
  task.placement.constraints = [...task.placement.constraints.filter((c) => !cRm.has(c)), ...list(f, 'constraintAdd')];
  task.resources ??= { limits: undefined, reservations: undefined };
  task.resources.limits = setResources(task.resources.limits, f, 'limit');
  task.resources.reservations = setResources(task.resources.reservations, f, 'reserve');
  spec.update = setUpdateConfig(spec.update, f, 'update');
  spec.rollback = setUpdateConfig(spec.rollback, f, 'rollback');
  if (['restartCondition', 'restartDelay', 'restartMaxAttempts', 'restartWindow'].some((k) => f[k] !== undefined)) {
    task.restart ??= { condition: RestartPolicy_Condition.ANY, delay: undefined, maxAttempts: 0, window: undefined };
    if (str(f, 'restartCondition') !== undefined) task.restart.condition = pick(CONDITIONS, 'restart-condition', str(f, 'restartCondition')!);
    if (str(f, 'restartDelay') !== undefined) task.restart.delay = nanosOf(f, 'restartDelay');
    if (str(f, 'restartMaxAttempts') !== undefined) task.restart.maxAttempts = parseCount('--restart-max-attempts', str(f, 'restartMaxAttempts')!);
    if (str(f, 'restartWindow') !== undefined) task.restart.window = nanosOf(f, 'restartWindow');
  }
  applyHealthFlags(ctr, f);
  if (f.force === true) task.forceUpdate = (task.forceUpdate ?? 0n) + 1n;
  return spec;
}

function applyHealthFlags(ctr: NonNullable<NonNullable<ServiceSpec['task']>['container']>, f: Flags): void {
  const keys = ['healthCmd', 'healthInterval', 'healthTimeout', 'healthRetries', 'healthStartPeriod'];
  // commander's --no-healthcheck sets healthcheck=false (true when not given)
  if (f.healthcheck === false) {
    if (keys.some((k) => f[k] !== undefined)) throw new UsageError('--no-healthcheck conflicts with the other --health-* flags: use one or the other');
    ctr.healthcheck = { test: ['NONE'], interval: undefined, timeout: undefined, retries: 0, startPeriod: undefined, startInterval: undefined };
    return;
  }
  if (!keys.some((k) => f[k] !== undefined)) return;
  const h = ctr.healthcheck ? { ...ctr.healthcheck } : { test: [] as string[], interval: undefined, timeout: undefined, retries: 0, startPeriod: undefined, startInterval: undefined };
  const cmd = str(f, 'healthCmd');
  if (cmd !== undefined) h.test = ['CMD-SHELL', cmd];
  if (h.test.length === 0 || h.test[0] === 'NONE') throw new UsageError('--health-* flags need a check: add --health-cmd "COMMAND"');
  if (str(f, 'healthInterval') !== undefined) h.interval = nanosOf(f, 'healthInterval');
  if (str(f, 'healthTimeout') !== undefined) h.timeout = nanosOf(f, 'healthTimeout');
  if (str(f, 'healthStartPeriod') !== undefined) h.startPeriod = nanosOf(f, 'healthStartPeriod');
  if (str(f, 'healthRetries') !== undefined) h.retries = parseCount('--health-retries', str(f, 'healthRetries')!);
  ctr.healthcheck = h;
}

const control = (c: Connection) => c.controlClient();

async function getService(c: Connection, ref: string): Promise<Service> {
  const r = await c.call<ReturnType<typeof control>, unknown, GetServiceResponse>(control(c), 'getService', { serviceId: ref });
  return r.service!;
}

/** UpdateService with the version read; a stale one becomes "changed meanwhile, run again". */
export async function writeService(c: Connection, svc: Service, spec: ServiceSpec | undefined, rollback: boolean): Promise<Service> {
  const name = svc.spec?.annotations?.name ?? svc.id;
  try {
    const r = await c.call<ReturnType<typeof control>, unknown, UpdateServiceResponse>(control(c), 'updateService', { serviceId: svc.id, version: svc.meta!.version, spec, rollback });
    return r.service!;
  } catch (err) {
    if (err instanceof RemoteError && err.code === grpcStatus.FAILED_PRECONDITION && /changed since it was read/.test(err.message)) {
      throw new UpdateFailedError(`service ${name} changed meanwhile, run again`);
    }
    throw err;
  }
}

/** "updated N/M": tasks of the current spec version running, of the tasks the service wants. */
function progress(svc: Service, tasks: readonly { specVersion: bigint; desiredState: number; status?: { state: number } | undefined; nodeId: string }[]): { done: number; want: number } {
  const live = tasks.filter((t) => t.desiredState <= TaskState.RUNNING);
  const want = svc.spec?.mode?.$case === 'replicated' ? svc.spec.mode.value.replicas : new Set(live.map((t) => t.nodeId)).size;
  const done = live.filter((t) => t.specVersion === svc.specVersion && t.status?.state === TaskState.RUNNING).length;
  return { done: Math.min(done, want), want };
}

/** Follows the update until it ends; throws UpdateFailedError when it paused or rolled back. */
export async function followUpdate(c: Connection, ref: string, sinceMs: number, rollback: boolean, out: (line: string) => void): Promise<void> {
  let last = '';
  // an update that overtakes one in progress keeps its status start time: having seen it in
  // progress after our write also makes the end state ours (and spares relying on clocks)
  let seenInProgress = false;
  for (;;) {
    const svc = await getService(c, ref);
    const { tasks } = await c.call<ReturnType<typeof control>, unknown, ListTasksResponse>(control(c), 'listTasks', { serviceIds: [svc.id], nodeIds: [], desiredStates: [] });
    const st = svc.updateStatus;
    if (st && (st.state === S.UPDATING || st.state === S.ROLLBACK_STARTED)) seenInProgress = true;
    const fresh = st !== undefined && (seenInProgress || Number(st.startedAtMs) >= sinceMs);
    const name = svc.spec?.annotations?.name ?? svc.id;
    const p = progress(svc, tasks);
    const rolling = fresh && (st.state === S.ROLLBACK_STARTED || st.state === S.ROLLBACK_COMPLETED || st.state === S.ROLLBACK_PAUSED);
    const line = `${name}: ${rolling ? 'rolled back' : 'updated'} ${p.done}/${p.want}`;
    if (line !== last) out((last = line));
    if (fresh) {
      if (st.state === S.COMPLETED) return out(`${name}: ${st.message || 'update completed'}`);
      if (st.state === S.ROLLBACK_COMPLETED) {
        if (rollback) return out(`${name}: ${st.message || 'rollback completed'}`);
        throw new UpdateFailedError(`${name}: the update failed and was rolled back (${st.message}); see \`shoal service ps ${name}\``);
      }
      if (st.state === S.PAUSED || st.state === S.ROLLBACK_PAUSED) {
        throw new UpdateFailedError(`${name}: ${st.state === S.PAUSED ? 'update' : 'rollback'} paused: ${st.message}; fix the spec and run \`shoal service update\` again, or \`shoal service rollback ${name}\``);
      }
    } else if (Date.now() - sinceMs > NO_STATUS_GRACE_MS && p.done + tasks.filter((t) => t.desiredState <= TaskState.RUNNING && t.status?.state === TaskState.RUNNING && t.specVersion !== svc.specVersion).length >= p.want) {
      // no task needed replacing (replicas or a label only): converged once every task runs
      return out(`${name}: converged`);
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

function updateOptions(cmd: Command, p: 'update' | 'rollback'): Command {
  const what = p === 'update' ? 'updates' : 'rollbacks';
  return cmd
    .option(`--${p}-parallelism <n>`, `tasks replaced at once in ${what} (0 = all)`)
    .option(`--${p}-delay <duration>`, `wait between batches of ${what}`)
    .option(`--${p}-order <order>`, 'stop-first or start-first')
    .option(`--${p}-failure-action <action>`, `pause, continue${p === 'update' ? ' or rollback' : ''}`)
    .option(`--${p}-monitor <duration>`, 'how long a new task must run to count as a success')
    .option(`--${p}-max-failure-ratio <ratio>`, 'failures tolerated (0 to 1)');
}

export function registerServiceUpdateCommands(program: Command): void {
  const service = program.commands.find((c) => c.name() === 'service') ?? addConnectionOptions(program.command('service'));
  const update = service
    .command('update')
    .description('change a service and follow the rolling update')
    .argument('<service>', 'service name or id')
    .option('--image <ref>', 'new image')
    .option('--env-add <KEY=VALUE>', 'add or replace an environment variable (repeatable)', collect)
    .option('--env-rm <KEY>', 'remove an environment variable (repeatable)', collect)
    .option('--replicas <n>', 'number of tasks')
    .option('--label-add <KEY=VALUE>', 'add a service label (repeatable)', collect)
    .option('--label-rm <KEY>', 'remove a service label (repeatable)', collect)
    .option('--constraint-add <expr>', 'add a placement constraint (repeatable)', collect)
    .option('--constraint-rm <expr>', 'remove a placement constraint (repeatable)', collect)
    .option('--limit-cpu <cpus>', 'CPU limit per task')
    .option('--limit-memory <size>', 'memory limit per task')
    .option('--reserve-cpu <cpus>', 'CPUs set aside per task')
    .option('--reserve-memory <size>', 'memory set aside per task')
    .option('--restart-condition <cond>', 'any, on-failure or none')
    .option('--restart-delay <duration>', 'delay between restarts')
    .option('--restart-max-attempts <n>', 'give up after this many restarts')
    .option('--restart-window <duration>', 'window the restart attempts are counted in')
    .option('--health-cmd <command>', 'health check command (run by /bin/sh -c)')
    .option('--health-interval <duration>', 'time between checks')
    .option('--health-timeout <duration>', 'time a check may take')
    .option('--health-retries <n>', 'failures in a row before unhealthy')
    .option('--health-start-period <duration>', 'grace period after start')
    .option('--no-healthcheck', "disable the image's health check")
    .option('--force', 'replace the tasks even if nothing changed')
    .option('--rollback', 'go back to the previous spec')
    .option('-d, --detach', 'return once the change is written');
  updateOptions(update, 'update');
  updateOptions(update, 'rollback');
  update.action(async (ref: string, f: Flags, cmd: Command) => {
    await withConnection(connectionFlags(cmd), async (c) => {
      const svc = await getService(c, ref);
      const rollback = f.rollback === true;
      const spec = rollback ? undefined : applyUpdateFlags(svc.spec!, f);
      const since = Date.now();
      const written = await writeService(c, svc, spec, rollback);
      process.stdout.write(`${written.spec?.annotations?.name ?? written.id}\n`);
      if (written.specVersion === svc.specVersion) return void process.stdout.write('no change\n');
      if (!f.detach) await followUpdate(c, written.id, since, rollback, (l) => process.stdout.write(`${l}\n`));
    });
  });

  service
    .command('rollback')
    .description('go back to the previous spec of a service and follow the rollback')
    .argument('<service>', 'service name or id')
    .option('-d, --detach', 'return once the rollback is requested')
    .action(async (ref: string, f: { detach?: boolean }, cmd: Command) => {
      await withConnection(connectionFlags(cmd), async (c) => {
        const svc = await getService(c, ref);
        const since = Date.now();
        const written = await writeService(c, svc, undefined, true);
        process.stdout.write(`${written.spec?.annotations?.name ?? written.id}\n`);
        if (!f.detach) await followUpdate(c, written.id, since, true, (l) => process.stdout.write(`${l}\n`));
      });
    });
}
