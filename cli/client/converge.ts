// Waits until a service's tasks run, following WatchTasks: prints a line per task state change
// (or one redrawn progress bar on a TTY), the reason of tasks stuck pending, and "N/M running".
import type { ClientReadableStream, ServiceError } from '@grpc/grpc-js';
import { status } from '@grpc/grpc-js';
import type { WatchTasksEvent } from '../../proto/gen/control.js';
import { TaskState, type Service, type Task } from '../../proto/gen/types.js';
import { taskStateName } from '../format/names.js';
import type { Connection } from './connect.js';
import { fromGrpc, RemoteError } from './errors.js';

export interface ConvergeOptions {
  /** Give up after this long (the service keeps converging); undefined waits until done. */
  timeoutMs?: number;
  out?: NodeJS.WritableStream & { isTTY?: boolean };
}

export interface ConvergeResult {
  converged: boolean;
  running: number;
  desired: number;
}

const BAR = 30;

function taskName(t: Task): string {
  return `${t.serviceName}.${t.slot || t.nodeId.slice(0, 12)}`;
}

/** How many tasks should run: replicas, or for global services the tasks the orchestrator made. */
function desiredOf(svc: Service, active: number): number {
  const mode = svc.spec?.mode;
  return mode?.$case === 'replicated' ? mode.value.replicas : active;
}

export async function waitForConvergence(conn: Connection, svc: Service, o: ConvergeOptions = {}): Promise<ConvergeResult> {
  const out = o.out ?? process.stdout;
  const tty = out.isTTY === true;
  const name = svc.spec?.annotations?.name ?? svc.id;
  const tasks = new Map<string, Task>();
  const reasons = new Map<string, string>();
  const client = conn.controlClient();
  await conn.ready(client);
  let stream: ClientReadableStream<WatchTasksEvent> = client.watchTasks({ serviceIds: [svc.id], resumeFromVersion: 0n });
  /** The store version the events seen so far bring us to: where a dropped watch resumes. */
  let version = 0n;
  let resumes = 0;
  const started = Date.now();
  let lastSummary = '';
  let events = 0;

  const count = (): ConvergeResult => {
    let running = 0;
    let active = 0;
    for (const t of tasks.values()) {
      if (t.desiredState > TaskState.RUNNING) continue;
      active++;
      if (t.status?.state === TaskState.RUNNING) running++;
    }
    const desired = desiredOf(svc, active);
    // A global service has no task until the orchestrator runs once (it makes all of them in one
    // write): wait for tasks, or a while when no node is eligible.
    const settledGlobal = svc.spec?.mode?.$case !== 'replicated' && (active > 0 || events > 1 || Date.now() - started > 3_000);
    const converged = running === desired && active === desired && (svc.spec?.mode?.$case === 'replicated' || settledGlobal);
    return { converged, running, desired };
  };

  const summary = (r: ConvergeResult): void => {
    const text = `${name}: ${r.running}/${r.desired} running`;
    if (tty) {
      const filled = r.desired === 0 ? BAR : Math.round((BAR * r.running) / r.desired);
      out.write(`\r${name} [${'='.repeat(filled)}${' '.repeat(BAR - filled)}] ${r.running}/${r.desired} running`);
    } else if (text !== lastSummary) {
      out.write(`${text}\n`);
    }
    lastSummary = text;
  };

  const onTask = (t: Task, removed: boolean): void => {
    const before = tasks.get(t.id);
    if (removed) tasks.delete(t.id);
    else tasks.set(t.id, t);
    const state = t.status?.state ?? TaskState.NEW;
    // Tasks already stopped when the watch starts are history: only changes and live tasks print.
    const news = before ? before.status?.state !== state : t.desiredState <= TaskState.RUNNING;
    if (!tty && !removed && news) out.write(`${taskName(t)}  ${taskStateName(state)}${t.status?.err ? `: ${t.status.err}` : ''}\n`);
    const err = t.status?.err;
    if (err && t.desiredState <= TaskState.RUNNING && reasons.get(t.id) !== err) {
      reasons.set(t.id, err);
      if (tty) out.write(`\n${taskName(t)} ${taskStateName(state)}: ${err}\n`);
    }
  };

  try {
    return await new Promise<ConvergeResult>((resolve, reject) => {
      const timer = o.timeoutMs !== undefined ? setTimeout(() => resolve({ ...count(), converged: false }), o.timeoutMs) : undefined;
      const globalTick = svc.spec?.mode?.$case !== 'replicated' ? setInterval(() => count().converged && finish(count()), 500) : undefined;
      const finish = (r: ConvergeResult): void => {
        if (timer) clearTimeout(timer);
        if (globalTick) clearInterval(globalTick);
        resolve(r);
      };
      const follow = (s: ClientReadableStream<WatchTasksEvent>, fresh: boolean): void => {
        let first = fresh;
        s.on('data', (ev: WatchTasksEvent) => {
          // a fresh watch lists every task again: forget the ones it no longer has
          if (first) tasks.clear();
          first = false;
          events++;
          version = ev.version;
          for (const t of ev.tasks) onTask(t, ev.removed);
          const r = count();
          summary(r);
          if (r.converged) finish(r);
        });
        let failed = false;
        s.on('error', (err: ServiceError) => {
          failed = true;
          if (err.code === status.CANCELLED) return;
          // The manager dropped a watch that fell behind: pick up from the last version seen,
          // or, when its history no longer reaches back, from a fresh list.
          if ((err.code === status.RESOURCE_EXHAUSTED || err.code === status.OUT_OF_RANGE) && resumes++ < 10) {
            const from = err.code === status.RESOURCE_EXHAUSTED ? version : 0n;
            stream = client.watchTasks({ serviceIds: [svc.id], resumeFromVersion: from });
            follow(stream, from === 0n);
            return;
          }
          if (timer) clearTimeout(timer);
          if (globalTick) clearInterval(globalTick);
          reject(fromGrpc(err, conn.target));
        });
        // grpc-js ends the stream after an error status too: only a clean end is "ended early"
        s.on('end', () => !failed && reject(new RemoteError(status.UNAVAILABLE, `the task stream of ${name} ended early; check with \`shoal service ps ${name}\``)));
      };
      follow(stream, false);
    });
  } finally {
    if (tty) out.write('\n');
    stream.cancel();
  }
}
