// `shoal service create|ls|ps|inspect|logs|scale|rm`: the cluster's services through the
// control API of the local daemon (or --host). create and scale wait for the tasks to run
// unless --detach.
import { status, type ServiceError } from '@grpc/grpc-js';
import type { Command } from 'commander';
import { ControlService, ListNodesRequest, ListServicesRequest, ListTasksRequest, type ServiceLogsLine, type ServiceLogsMessage } from '../../proto/gen/control.js';
import { Service, Task, TaskState, type Node } from '../../proto/gen/types.js';
import { addConnectionOptions, connectionFlags, fromGrpc, listAll, withConnection, type Connection } from '../client/index.js';
import { waitForConvergence } from '../client/converge.js';
import { buildServiceSpec, parseCount, type ServiceFlags } from '../client/service-spec.js';
import { UsageError } from '../errors.js';
import { parseDuration } from '../stack/units.js';
import { ago, formatOf, printJson, renderTable, shortId, taskStateName } from '../format/index.js';
import { isJobMode, JOB_MODES, setJobMode, waitForJob } from './service-job.js';
import { addSharedServiceOptions, applySharedServiceFlags, collect, SHARED_FLAG_KEYS, type Flags } from './service-flags.js';

interface WaitFlags {
  detach?: boolean;
  waitTimeout?: string;
}

class NotConvergedError extends Error {
  readonly userError = true as const;
}

function timeoutOf(f: WaitFlags): number | undefined {
  if (f.waitTimeout === undefined) return undefined;
  const p = parseDuration(f.waitTimeout);
  if (!p.ok) throw new UsageError(`--wait-timeout: ${p.message}`);
  return p.value;
}

async function converge(conn: Connection, svc: Service, f: WaitFlags): Promise<void> {
  const r = await waitForConvergence(conn, svc, { timeoutMs: timeoutOf(f) });
  if (!r.converged) {
    const name = svc.spec?.annotations?.name ?? svc.id;
    throw new NotConvergedError(`${name}: ${r.running}/${r.desired} tasks running after ${f.waitTimeout}; the cluster keeps trying: see \`shoal service ps ${name}\``);
  }
}

async function finishJob(conn: Connection, svc: Service, f: WaitFlags): Promise<void> {
  const r = await waitForJob(conn, svc, timeoutOf(f), (l) => process.stdout.write(`${l}\n`));
  if (!r.done) {
    const name = svc.spec?.annotations?.name ?? svc.id;
    throw new NotConvergedError(`${name}: ${r.progress.completed}/${r.progress.want} completed after ${f.waitTimeout}; the job keeps running: see \`shoal service ps ${name}\``);
  }
}

const control = (c: Connection) => c.controlClient();

function modeText(s: Service): string {
  return s.spec?.mode?.$case === 'replicatedJob' ? 'replicated job' : s.spec?.mode?.$case === 'globalJob' ? 'global job' : (s.spec?.mode?.$case ?? 'unknown');
}

async function servicesAndTasks(c: Connection): Promise<{ services: Service[]; tasks: Task[] }> {
  const services = await listAll(c, ControlService.listServices, ListServicesRequest.fromPartial({}), (r) => r.services);
  const tasks = await listAll(c, ControlService.listTasks, ListTasksRequest.fromPartial({}), (r) => r.tasks);
  return { services, tasks };
}

function replicasText(s: Service, tasks: readonly Task[]): string {
  const mine = tasks.filter((t) => t.serviceId === s.id && t.desiredState <= TaskState.RUNNING);
  const running = mine.filter((t) => t.status?.state === TaskState.RUNNING).length;
  const mode = s.spec?.mode;
  if (mode?.$case === 'replicatedJob' || mode?.$case === 'globalJob') return jobText(s, tasks, running);
  const desired = mode?.$case === 'replicated' ? mode.value.replicas : mine.length;
  const cap = s.spec?.task?.placement?.maxReplicas ? ` (max ${s.spec.task.placement.maxReplicas} per node)` : '';
  return `${running}/${desired}${cap}`;
}

// Jobs as Docker shows them: running now of at most how many, then the current run's
// completions, e.g. `0/2 (4/4 completed)`. Earlier runs (before an update) do not count.
function jobText(s: Service, tasks: readonly Task[], running: number): string {
  const run = tasks.filter((t) => t.serviceId === s.id && t.specVersion === s.specVersion);
  const completed = run.filter((t) => t.status?.state === TaskState.COMPLETE).length;
  const mode = s.spec?.mode;
  if (mode?.$case === 'replicatedJob') {
    const total = mode.value.totalCompletions || mode.value.maxConcurrent || 1;
    const concurrent = mode.value.maxConcurrent || total;
    return `${running}/${concurrent} (${completed}/${total} completed)`;
  }
  const nodes = new Set(run.map((t) => t.nodeId)).size;
  return `${running}/${nodes} (${completed}/${nodes} completed)`;
}

// Tasks come sorted by service, slot and newest first: older tasks of a slot are its history,
// shown under the current one as Docker does (" \_ web.1").
function taskRows(tasks: readonly Task[], nodes: ReadonlyMap<string, string>, full: boolean): string[][] {
  let lastSlot = '';
  return tasks.map((t) => {
    const slot = `${t.serviceId}/${t.slot || t.nodeId}`;
    const history = slot === lastSlot;
    lastSlot = slot;
    const st = t.status;
    const current = `${taskStateName(st?.state)}${st?.timestampMs ? ` ${ago(st.timestampMs)}` : ''}`;
    const err = st?.err ?? '';
    return [
      full ? t.id : shortId(t.id),
      `${history ? ' \\_ ' : ''}${t.serviceName}.${t.slot || shortId(t.nodeId)}`,
      t.spec?.container?.image ?? '',
      nodes.get(t.nodeId) ?? (t.nodeId ? shortId(t.nodeId) : ''),
      taskStateName(t.desiredState),
      current,
      full || err.length <= 60 ? err : `${err.slice(0, 57)}...`,
    ];
  });
}

interface LogsFlags {
  follow?: boolean;
  tail: string;
  timestamps?: boolean;
  trunc?: boolean;
}

/** Docker's prefix: `web.1.<task id>@<host>`, padded to the widest seen so columns line up. */
function logPrinter(f: LogsFlags): (l: ServiceLogsLine, service: string) => void {
  let width = 0;
  return (l, service) => {
    const ctx = `${service}.${l.slot || shortId(l.nodeId)}.${f.trunc === false ? l.taskId : shortId(l.taskId)}@${l.hostname || shortId(l.nodeId)}`;
    width = Math.max(width, ctx.length);
    const ts = f.timestamps ? `${new Date(Number(l.timeMs)).toISOString()} ` : '';
    let text = Buffer.from(l.data).toString('utf8');
    if (!text.endsWith('\n')) text += '\n';
    (l.stderr ? process.stderr : process.stdout).write(`${ts}${ctx.padEnd(width)} | ${text}`);
  };
}

/** Streams ServiceLogs; with --follow until Ctrl-C, which ends the command with status 0. */
async function printLogs(c: Connection, ref: string, tail: number, f: LogsFlags): Promise<void> {
  const client = control(c);
  await c.ready(client);
  const stream = client.serviceLogs({ serviceId: ref, follow: f.follow === true, tail: BigInt(tail) });
  const print = logPrinter(f);
  let service = ref;
  let interrupted = false;
  const onSigint = (): void => {
    interrupted = true;
    stream.cancel();
  };
  process.once('SIGINT', onSigint);
  try {
    await new Promise<void>((resolve, reject) => {
      stream.on('data', (m: ServiceLogsMessage) => {
        if (m.serviceName) service = m.serviceName;
        if (m.unreachableNodes.length > 0) process.stderr.write(`warning: no logs from ${m.unreachableNodes.join(', ')}: not connected to the managers\n`);
        for (const l of m.lines) print(l, service);
      });
      stream.on('end', () => resolve());
      stream.on('error', (err: ServiceError) => (interrupted && err.code === status.CANCELLED ? resolve() : reject(fromGrpc(err, c.target))));
    });
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
}

export function registerServiceCommands(program: Command): void {
  const service = addConnectionOptions(program.command('service').description('manage the services of the cluster'));

  const create = service
    .command('create')
    .description('create a service and wait for its tasks to run')
    .argument('<image>', 'image reference')
    .argument('[command...]', 'command and arguments of the container: everything after the image is theirs, options too')
    .option('--name <name>', 'service name (default: the image name and a random suffix)')
    .option('--replicas <n>', 'number of tasks (replicated mode; default 1)')
    .option('--mode <mode>', 'replicated, global, replicated-job or global-job', 'replicated')
    .option('--max-concurrent <n>', 'replicated-job: tasks run at once (default: --replicas, all of them)')
    .option('--placement-pref <pref>', 'spread=node.labels.<name> (repeatable)', collect)
    .option('--max-replicas <n>', 'most tasks of this service on one node')
    .option('--mount <spec>', 'type=bind,src=/host,dst=/ctr[,readonly] (repeatable)', collect)
    .option('--container-label <KEY=VALUE>', 'container label (repeatable)', collect)
    .option('--hostname <name>', 'container host name')
    .option('-w, --workdir <dir>', 'working directory in the container')
    .option('-u, --user <user>', 'user[:group] the container runs as')
    .option('--stop-signal <signal>', 'signal that stops the container (default SIGTERM)')
    .option('--stop-grace-period <duration>', 'time before the container is killed (default 10s)')
    .option('-d, --detach', 'return at once instead of waiting for the tasks to run')
    .option('--wait-timeout <duration>', 'stop waiting after this long (exit 1; the service stays)')
    .option('-q, --quiet', 'print only the service id');
  addSharedServiceOptions(create, 'create').action(async (image: string, command: string[], f: ServiceFlags & WaitFlags & Flags & { quiet?: boolean; maxConcurrent?: string }, cmd: Command) => {
    if (f.mode === 'replicated' && cmd.getOptionValueSource('mode') === 'default') delete f.mode;
    // `IMAGE -- CMD...` (what earlier versions asked for) still works: no command is named "--"
    if (command[0] === '--') command = command.slice(1);
    // the shared flags are parsed once, by service-flags.ts, for create and update alike
    const own = Object.fromEntries(Object.entries(f).filter(([k]) => !SHARED_FLAG_KEYS.includes(k))) as ServiceFlags;
    if (f.mode !== undefined && !['replicated', 'global', ...JOB_MODES].includes(f.mode)) {
      throw new UsageError(`--mode is replicated, global, replicated-job or global-job, not "${f.mode}"`);
    }
    const job = isJobMode(f.mode) ? f.mode : undefined;
    if (job !== 'replicated-job' && f.maxConcurrent !== undefined) throw new UsageError('--max-concurrent applies to --mode replicated-job only');
    // a job is built as its plain mode, then given the job mode and counts
    if (job) own.mode = job === 'global-job' ? 'global' : undefined;
    if (job === 'replicated-job') delete own.replicas;
    const spec = buildServiceSpec(image, command, own);
    applySharedServiceFlags(spec, f);
    if (job) setJobMode(spec, job, f);
    await withConnection(connectionFlags(cmd), async (c) => {
      const { service: svc } = await c.call(ControlService.createService, { spec });
      if (!f.detach && job) await finishJob(c, svc!, f);
      else if (!f.detach) await converge(c, svc!, f);
      process.stdout.write(`${svc!.id}\n`);
    });
  });

  service
    .command('ls')
    .description('list services')
    .option('--format <format>', 'table or json')
    .option('-q, --quiet', 'print only ids')
    .action(async (f: { format?: string; quiet?: boolean }, cmd: Command) => {
      const format = formatOf(f.format);
      await withConnection(connectionFlags(cmd), async (c) => {
        const { services, tasks } = await servicesAndTasks(c);
        if (format === 'json') return printJson(services.map((s) => ({ ...(Service.toJSON(s) as object), replicas: replicasText(s, tasks) })));
        if (f.quiet) return void process.stdout.write(services.map((s) => `${s.id}\n`).join(''));
        const rows = services.map((s) => [shortId(s.id), s.spec?.annotations?.name ?? '', modeText(s), replicasText(s, tasks), s.spec?.task?.container?.image ?? '']);
        process.stdout.write(renderTable(['ID', 'NAME', 'MODE', 'REPLICAS', 'IMAGE'], rows));
      });
    });

  service
    .command('ps')
    .description("list the tasks of one or more services")
    .argument('<service...>', 'service names or ids')
    .option('--format <format>', 'table or json')
    .option('--no-trunc', 'do not shorten ids and errors')
    .option('-q, --quiet', 'print only task ids')
    .action(async (refs: string[], f: { format?: string; trunc?: boolean; quiet?: boolean }, cmd: Command) => {
      const format = formatOf(f.format);
      await withConnection(connectionFlags(cmd), async (c) => {
        const tasks = await listAll(c, ControlService.listTasks, ListTasksRequest.fromPartial({ serviceIds: refs }), (r) => r.tasks);
        if (format === 'json') return printJson(tasks.map((t) => Task.toJSON(t)));
        if (f.quiet) return void process.stdout.write(tasks.map((t) => `${t.id}\n`).join(''));
        const nodes = await listAll(c, ControlService.listNodes, ListNodesRequest.fromPartial({}), (r) => r.nodes);
        const hostnames = new Map(nodes.map((n: Node) => [n.id, n.description?.hostname ?? n.id]));
        process.stdout.write(renderTable(['ID', 'NAME', 'IMAGE', 'NODE', 'DESIRED STATE', 'CURRENT STATE', 'ERROR'], taskRows(tasks, hostnames, f.trunc === false)));
      });
    });

  service
    .command('inspect')
    .description('show services in full (JSON)')
    .argument('<service...>', 'service names or ids')
    .action(async (refs: string[], _f: unknown, cmd: Command) => {
      await withConnection(connectionFlags(cmd), async (c) => {
        const out: unknown[] = [];
        for (const ref of refs) {
          const { service: s } = await c.call(ControlService.getService, { serviceId: ref });
          out.push(Service.toJSON(s!));
        }
        printJson(out);
      });
    });

  service
    .command('logs')
    .description("show the logs of a service's tasks (stderr lines go to stderr)")
    .argument('<service>', 'service name or id')
    .option('-f, --follow', 'keep printing new lines until Ctrl-C')
    .option('--tail <n>', 'only the last N lines of each task ("all" for every line)', 'all')
    .option('-t, --timestamps', 'print when each line was written')
    .option('--no-trunc', 'do not shorten task ids')
    .action(async (ref: string, f: LogsFlags, cmd: Command) => {
      const tail = f.tail === 'all' ? -1 : parseCount('--tail', f.tail);
      await withConnection(connectionFlags(cmd), (c) => printLogs(c, ref, tail, f));
    });

  service
    .command('scale')
    .description('set the number of replicas: SERVICE=N [SERVICE=N...]')
    .argument('<pairs...>', 'SERVICE=REPLICAS')
    .option('-d, --detach', 'return at once instead of waiting for the tasks')
    .option('--wait-timeout <duration>', 'stop waiting after this long (exit 1)')
    .action(async (pairs: string[], f: WaitFlags, cmd: Command) => {
      const wanted = pairs.map((p) => {
        const i = p.lastIndexOf('=');
        if (i <= 0) throw new UsageError(`"${p}" is not SERVICE=REPLICAS, e.g. web=3`);
        return { ref: p.slice(0, i), replicas: parseCount(`replicas of ${p.slice(0, i)}`, p.slice(i + 1)) };
      });
      await withConnection(connectionFlags(cmd), async (c) => {
        const updated: Service[] = [];
        for (const w of wanted) {
          const { service: s } = await c.call(ControlService.getService, { serviceId: w.ref });
          if (s!.spec?.mode?.$case !== 'replicated') throw new UsageError(`service ${w.ref} is ${modeText(s!)}: only replicated services can be scaled`);
          const spec = { ...s!.spec, mode: { $case: 'replicated' as const, value: { replicas: w.replicas } } };
          const r = await c.call(ControlService.updateService, { serviceId: s!.id, version: s!.meta!.version, spec, rollback: false });
          process.stdout.write(`${s!.spec.annotations?.name} scaled to ${w.replicas}\n`);
          updated.push(r.service!);
        }
        if (!f.detach) for (const s of updated) await converge(c, s, f);
      });
    });

  service
    .command('rm')
    .alias('remove')
    .description('remove services (their tasks are stopped)')
    .argument('<service...>', 'service names or ids')
    .action(async (refs: string[], _f: unknown, cmd: Command) => {
      await withConnection(connectionFlags(cmd), async (c) => {
        for (const ref of refs) {
          await c.call(ControlService.removeService, { serviceId: ref });
          process.stdout.write(`${ref}\n`);
        }
      });
    });
}

/**
 * Called once every service subcommand is registered: as with `docker service create IMAGE
 * [COMMAND] [ARG...]`, options after the image belong to the container's command
 * (`shoal service create busybox sh -c 'echo hi'`). That needs options positional under
 * `service`, so each subcommand takes the connection flags itself (`service ls -H addr` works
 * as before; `service -H addr ls` too).
 */
export function finishServiceCommands(program: Command): void {
  const service = program.commands.find((c) => c.name() === 'service');
  if (!service) return;
  // every level above `create` must stop at its subcommand, or an option of the container's
  // command is taken for one of ours before `create` sees it
  program.enablePositionalOptions();
  service.enablePositionalOptions();
  for (const sub of service.commands) addConnectionOptions(sub);
  service.commands.find((c) => c.name() === 'create')?.passThroughOptions();
}
