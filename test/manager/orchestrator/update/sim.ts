// Test helpers for the updater: simulated agents (every task assigned to a node is moved to
// RUNNING, or FAILED when its image is in `failImages`; tasks told to stop report SHUTDOWN),
// an invariant checker that looks at the store after every commit, and service edits as the
// control API makes them. The agents are simulated because the updater's subject is the
// store's task records, not containers (the agent tests run real ones).
import { Duration, ServiceSpec, TaskState, TaskStatus, UpdateConfig, UpdateStatus_State, type Service, type Task } from '../../../../proto/gen/types.js';
import { Updater } from '../../../../manager/orchestrator/update/index.js';
import { ReplicatedOrchestrator } from '../../../../manager/orchestrator/replicated/orchestrator.js';
import { GlobalOrchestrator } from '../../../../manager/orchestrator/global/orchestrator.js';
import { Scheduler } from '../../../../manager/scheduler/scheduler.js';
import type { MemoryStore, ReadonlyDeep, ReadTx } from '../../../../manager/store/index.js';
import { makeNode, makeService } from '../../store/fixtures.js';
import { Harness, quiet } from '../harness.js';

type RO<T> = ReadonlyDeep<T>;

export class SimAgents {
  readonly failImages = new Set<string>();
  /** Tasks (besides failImages) that fail at start. */
  failWhen: (t: RO<Task>) => boolean = () => false;

  /** While true the agents do nothing (slow image pulls, a stuck shutdown). */
  paused = false;

  constructor(private readonly store: MemoryStore) {}

  async run(signal?: AbortSignal): Promise<void> {
    const w = this.store.watch({ signal });
    while (!signal?.aborted) {
      const r = await w.next();
      if (r.done) break;
      while (w.poll());
      await this.act();
    }
    w.close();
  }

  /** One pass over every task (also what run() does after each commit). */
  async act(): Promise<void> {
    if (this.paused) return;
    {
      await this.store.update((tx) => {
        for (const t of tx.tasks.all()) {
          const st = t.status?.state ?? TaskState.NEW;
          if (!t.nodeId || st < TaskState.ASSIGNED || st > TaskState.RUNNING) continue;
          if (t.desiredState > TaskState.RUNNING) tx.tasks.update(withStatus(t, TaskState.SHUTDOWN, 'shutdown'));
          else if (st < TaskState.RUNNING) {
            const fail = this.failImages.has(t.spec?.container?.image ?? '') || this.failWhen(t);
            tx.tasks.update(fail ? withStatus(t, TaskState.FAILED, 'finished', 'task: non-zero exit (1)') : withStatus(t, TaskState.RUNNING, 'started'));
          }
        }
      });
    }
  }
}

function withStatus(t: RO<Task>, state: TaskState, message: string, err = ''): RO<Task> {
  return { ...t, status: TaskStatus.fromPartial({ state, message, err, exitCode: err ? 1 : 0 }) };
}

/** Calls check(tx) with the store's state after every commit; collects what it returns. */
export function everyCommit(store: MemoryStore, check: (tx: ReadTx) => string | undefined): { violations: string[]; close(): void } {
  const violations: string[] = [];
  const w = store.watch();
  w.push = (e) => {
    if (e.type !== 'commit') return;
    const v = store.view(check);
    if (v && violations.length < 20) violations.push(v);
  };
  return { violations, close: () => w.close() };
}

export const IMAGE_V1 = 'app:v1';

export interface Cluster {
  h: Harness;
  agents: SimAgents;
  updater: Updater;
}

/** Nodes, the real replicated and global orchestrators, the scheduler, the updater and agents. */
export interface ClusterOpts {
  nodes?: number;
  slotsPerTx?: number;
  /** Commit proposals a turn later, as Raft does, instead of at once. */
  asyncLog?: boolean;
}

export async function startCluster(opts: ClusterOpts = {}): Promise<Cluster> {
  const nodes = opts.nodes ?? 3;
  const slotsPerTx = opts.slotsPerTx;
  const h = new Harness({ asyncLog: opts.asyncLog });
  const agents = new SimAgents(h.store);
  const updater = new Updater(h.store, h.clock, { logger: quiet, slotsPerTx });
  const o = { logger: quiet };
  await h.store.update((tx) => {
    for (let i = 1; i <= nodes; i++) tx.nodes.create(makeNode(`n${i}`, { cpus: 64, memoryMiB: 65536 }));
  });
  h.start(new ReplicatedOrchestrator(h.store, h.clock, o), new GlobalOrchestrator(h.store, h.clock, o), new Scheduler(h.store, h.clock, o), updater, agents);
  return { h, agents, updater };
}

export interface UpdateOpts {
  parallelism?: number;
  delayMs?: number;
  monitorMs?: number;
  failureAction?: 'pause' | 'continue' | 'rollback';
  maxFailureRatio?: number;
  startFirst?: boolean;
}

const dur = (ms: number): Duration => ({ nanos: BigInt(ms) * 1_000_000n });

export function updateConfig(o: UpdateOpts): UpdateConfig {
  return UpdateConfig.fromPartial({
    parallelism: o.parallelism ?? 1,
    delay: o.delayMs !== undefined ? dur(o.delayMs) : undefined,
    monitor: dur(o.monitorMs ?? 0),
    failureAction: { pause: 0, continue: 1, rollback: 2 }[o.failureAction ?? 'pause'],
    maxFailureRatio: o.maxFailureRatio ?? 0,
    order: o.startFirst ? 1 : 0,
  });
}

export async function deploy(c: Cluster, id: string, o: { replicas?: number; global?: boolean; update?: UpdateOpts; rollback?: UpdateOpts }): Promise<void> {
  const svc = makeService(id, id, { replicas: o.replicas, global: o.global });
  svc.spec!.task!.container!.image = IMAGE_V1;
  svc.spec!.update = updateConfig(o.update ?? {});
  if (o.rollback) svc.spec!.rollback = updateConfig(o.rollback);
  await c.h.store.update((tx) => tx.services.create(svc));
  const want = o.global ? c.h.view((tx) => tx.nodes.all().length) : (o.replicas ?? 1);
  await c.h.until(`${want} tasks of ${id} running`, () => running(c.h, id).length === want, 2000);
}

/** What the control API writes for `service update`: a new spec, the old one kept for rollback. */
export async function editService(h: Harness, id: string, edit: (spec: ServiceSpec) => void): Promise<void> {
  await h.store.update((tx) => {
    const s = tx.services.get(id)!;
    const spec = structuredClone(s.spec) as ServiceSpec;
    edit(spec);
    tx.services.update({ ...s, spec, previousSpec: s.spec, previousSpecVersion: s.specVersion, specVersion: s.specVersion + 1n } as RO<Service>);
  });
}

/** What the control API should write for `service rollback`: specs swapped, status says rollback. */
export async function requestRollback(h: Harness, id: string): Promise<void> {
  await h.store.update((tx) => {
    const s = tx.services.get(id)!;
    tx.services.update({
      ...s,
      spec: s.previousSpec,
      previousSpec: s.spec,
      previousSpecVersion: s.specVersion,
      specVersion: s.specVersion + 1n,
      updateStatus: { state: UpdateStatus_State.ROLLBACK_STARTED, startedAtMs: BigInt(h.clock.now()), completedAtMs: 0n, message: 'manually requested rollback' },
    } as RO<Service>);
  });
}

export const setImage = (image: string) => (spec: ServiceSpec): void => {
  spec.task!.container!.image = image;
};

export function running(h: Harness, id: string): RO<Task>[] {
  return h.tasks(id, (t) => t.status?.state === TaskState.RUNNING && t.desiredState === TaskState.RUNNING);
}

export function imagesRunning(h: Harness, id: string): string[] {
  return running(h, id).map((t) => t.spec?.container?.image ?? '').sort();
}

export function statusOf(h: Harness, id: string): UpdateStatus_State {
  return h.view((tx) => tx.services.get(id)?.updateStatus?.state ?? UpdateStatus_State.UNKNOWN);
}

/** Advances the fake clock a second at a time until cond holds. */
export async function driveUntil(h: Harness, what: string, cond: () => boolean, maxSeconds = 300): Promise<void> {
  for (let i = 0; i < maxSeconds; i++) {
    if (cond()) return;
    await h.clock.advance(1000);
  }
  if (!cond()) throw new Error(`never reached: ${what}`);
}
