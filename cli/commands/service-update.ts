// `shoal service update|rollback`: read the service, change its spec as the flags say, write it
// back with the version read (compare-and-swap), then follow the rolling update the managers run
// until it completes, pauses or rolls back.
import { status as grpcStatus } from '@grpc/grpc-js';
import type { Command } from 'commander';
import { ControlService, ListTasksRequest } from '../../proto/gen/control.js';
import { ServiceSpec, TaskState, UpdateStatus_State, type Service, type Task } from '../../proto/gen/types.js';
import { addConnectionOptions, connectionFlags, listAll, RemoteError, withConnection, type Connection } from '../client/index.js';
import { parseCount } from '../client/service-spec.js';
import { UsageError } from '../errors.js';
import { addSharedServiceOptions, applySharedServiceFlags, checkKernelOptionFlags, type Flags } from './service-flags.js';
import { isJobService, waitForJob } from './service-job.js';

class UpdateFailedError extends Error {
  readonly userError = true as const;
}

const S = UpdateStatus_State;
const POLL_MS = 300;
/** A spec change that replaces no task (replicas only) never gets an update status. */
const NO_STATUS_GRACE_MS = 2000;

/** The service's spec with the flags applied; the stored spec is left as it was. */
export function applyUpdateFlags(current: ServiceSpec, f: Flags, env: NodeJS.ProcessEnv = process.env): ServiceSpec {
  const spec = ServiceSpec.fromJSON(ServiceSpec.toJSON(current));
  applySharedServiceFlags(spec, f, env);
  const ctr = spec.task!.container!;
  const image = typeof f.image === 'string' ? f.image : undefined;
  if (image !== undefined) {
    if (!image.trim() || /\s/.test(image)) throw new UsageError(`--image "${image}" is not an image reference, e.g. busybox:1.36`);
    ctr.image = image;
  }
  if (typeof f.replicas === 'string') {
    if (spec.mode?.$case !== 'replicated') throw new UsageError(`--replicas applies to replicated services only; this one is ${spec.mode?.$case ?? 'unknown'}`);
    spec.mode = { $case: 'replicated', value: { replicas: parseCount('--replicas', f.replicas) } };
  }
  if (f.force === true) spec.task!.forceUpdate = (spec.task!.forceUpdate ?? 0n) + 1n;
  return spec;
}

const control = (c: Connection) => c.controlClient();

async function getService(c: Connection, ref: string): Promise<Service> {
  const r = await c.call(ControlService.getService, { serviceId: ref });
  return r.service!;
}

/** UpdateService with the version read; a stale one becomes "changed meanwhile, run again". */
export async function writeService(c: Connection, svc: Service, spec: ServiceSpec | undefined, rollback: boolean): Promise<Service> {
  const name = svc.spec?.annotations?.name ?? svc.id;
  try {
    const r = await c.call(ControlService.updateService, { serviceId: svc.id, version: svc.meta!.version, spec, rollback });
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
    const tasks = await listAll(c, ControlService.listTasks, ListTasksRequest.fromPartial({ serviceIds: [svc.id] }), (r) => r.tasks);
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

export function registerServiceUpdateCommands(program: Command): void {
  const service = program.commands.find((c) => c.name() === 'service') ?? addConnectionOptions(program.command('service'));
  const update = service
    .command('update')
    .description('change a service and follow the rolling update')
    .argument('<service>', 'service name or id')
    .option('--image <ref>', 'new image')
    .option('--replicas <n>', 'number of tasks')
    .option('--force', 'replace the tasks even if nothing changed')
    .option('--rollback', 'go back to the previous spec')
    .option('-d, --detach', 'return once the change is written');
  addSharedServiceOptions(update, 'update');
  update.action(async (ref: string, f: Flags, cmd: Command) => {
    // values that need no stored spec to be judged are refused before the service is read
    checkKernelOptionFlags(f);
    await withConnection(connectionFlags(cmd), async (c) => {
      const svc = await getService(c, ref);
      const rollback = f.rollback === true;
      const spec = rollback ? undefined : applyUpdateFlags(svc.spec!, f);
      const since = Date.now();
      const written = await writeService(c, svc, spec, rollback);
      process.stdout.write(`${written.spec?.annotations?.name ?? written.id}\n`);
      if (written.specVersion === svc.specVersion) return void process.stdout.write('no change\n');
      if (f.detach) return;
      const out = (l: string): void => void process.stdout.write(`${l}\n`);
      // a job's tasks end, so "updated N/M running" never settles: follow its new run instead
      if (isJobService(written)) await waitForJob(c, written, undefined, out);
      else await followUpdate(c, written.id, since, rollback, out);
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
