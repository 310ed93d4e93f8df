// The Controller over this host's container runtime and image store. The container is found by
// its name (made from the task, see containerName) and checked by its task-id label rather than
// remembered, so a controller made by a restarted agent picks up the container the previous one
// created (re-adoption).
import type { Logger } from 'pino';
import type { Task } from '../../proto/gen/types.js';
import { HealthCheckConfigError, HealthMonitor, planHealthCheck } from '../health/index.js';
import { ImageNotFoundError, type ImageStore, type ResolvedImage } from '../images/index.js';
import { ContainerSpecError, ContainerStateError, NoSuchContainerError, type ContainerInfo, type ContainerRuntime } from '../runtime/index.js';
import { containerName, containerSpecFor, DEFAULT_STOP_GRACE_MS, LABEL_STOP_GRACE_MS, LABEL_STOP_SIGNAL, LABEL_TASK_ID, normalizeSignal, type SpecContext } from './container-spec.js';
import { TaskRejectedError, type Controller, type ExitInfo } from './controller.js';
import type { TaskFiles } from '../secrets/index.js';
import { overlayAttachments, type TaskNetworks } from './task-network.js';
import { ensureVolumes, makeTaskFiles, planTaskMounts, removeAnonymousVolumes, taskFilesBeside, type TaskMountDeps } from './task-mounts.js';

export interface ContainerControllerDeps extends SpecContext, TaskMountDeps {
  runtime: ContainerRuntime;
  images: ImageStore;
  /** Named in rejections ("image X not found on node H"). */
  hostname: string;
  logger: Logger;
  /** Overlay networking of this node, once open (waits for it); absent: tasks with overlay
   * attachments are rejected. */
  networks?: () => Promise<TaskNetworks>;
  /** Whether a namespace of the task's exists on this node (removal waits for the data path only then). */
  hasTaskNetns?: (taskId: string) => boolean;
}

/** Every container of this runtime that belongs to a task, by task id. */
export async function taskContainers(runtime: ContainerRuntime): Promise<Map<string, ContainerInfo>> {
  const out = new Map<string, ContainerInfo>();
  for (const c of await runtime.list()) {
    const id = c.spec.labels?.[LABEL_TASK_ID];
    if (id) out.set(id, c);
  }
  return out;
}

/**
 * Resolves of one image ref that are under way, per image store: the tasks a node is given at
 * once mostly name the same image, and each resolve is a dozen trips through the thread pool.
 * Only concurrent calls share a result (nothing is kept once it settles), so a re-tagged image
 * is seen by the next task as before.
 */
const resolving = new WeakMap<ImageStore, Map<string, Promise<ResolvedImage>>>();

function resolveShared(images: ImageStore, ref: string): Promise<ResolvedImage> {
  let byRef = resolving.get(images);
  if (!byRef) {
    byRef = new Map();
    resolving.set(images, byRef);
  }
  let p = byRef.get(ref);
  if (!p) {
    const map = byRef;
    p = images.resolve(ref).finally(() => map.delete(ref));
    map.set(ref, p);
  }
  // each task gets its own copy: the spec built from it is the task's
  return p.then((r) => structuredClone(r));
}

export class ContainerController implements Controller {
  private containerId: string | undefined;
  private health: HealthMonitor | undefined;
  /** The health check stopped the container: its exit is a failure whatever the code. */
  private unhealthy = false;

  private readonly deps: ContainerControllerDeps & { taskFiles: TaskFiles };

  constructor(
    private task: Task,
    deps: ContainerControllerDeps,
  ) {
    // task files always have a home (beside the runtime's containers), so every controller,
    // even one made only to remove a leftover, removes a task's secrets with its container
    this.deps = { ...deps, taskFiles: deps.taskFiles ?? taskFilesBeside(deps.runtime, deps.logger) };
  }

  /** The managers changed the task (its spec may matter to a later prepare). */
  update(task: Task): void {
    this.task = task;
  }

  private async find(): Promise<ContainerInfo | undefined> {
    if (this.containerId) {
      try {
        return await this.deps.runtime.inspect(this.containerId);
      } catch {
        this.containerId = undefined;
      }
    }
    // a task the managers sent has its name; a bare id (a leftover found on disk) needs the scan
    const c = this.task.spec ? await this.findByName() : (await taskContainers(this.deps.runtime)).get(this.task.id);
    this.containerId = c?.id;
    return c;
  }

  /**
   * One name lookup instead of reading every container's state: with a scan per task, starting
   * or removing n tasks on a node read n² state files (a 90-task scale-up spent 6% of a
   * worker agent's CPU there).
   */
  private async findByName(): Promise<ContainerInfo | undefined> {
    try {
      const c = await this.deps.runtime.inspect(containerName(this.task));
      return c.spec.labels?.[LABEL_TASK_ID] === this.task.id ? c : undefined;
    } catch (err) {
      // no such name, or a container whose state is half removed: nothing to adopt
      if (err instanceof NoSuchContainerError || err instanceof ContainerStateError) return undefined;
      throw err;
    }
  }

  async prepare(signal?: AbortSignal): Promise<void> {
    if (await this.find()) return;
    const image = this.task.spec?.container?.image ?? '';
    if (!image) throw new TaskRejectedError(`task ${this.task.id} names no image`);
    // a malformed health check rejects the task now instead of failing it once it runs
    try {
      planHealthCheck(this.task.spec?.container?.healthcheck);
    } catch (err) {
      if (err instanceof HealthCheckConfigError) throw new TaskRejectedError(err.message);
      throw err;
    }
    let resolved;
    try {
      resolved = await resolveShared(this.deps.images, image);
    } catch (err) {
      if (err instanceof ImageNotFoundError) throw new TaskRejectedError(`image ${image} not found on node ${this.deps.hostname}`);
      throw err;
    }
    // everything that can refuse the task, before anything is made on the host
    const plan = planTaskMounts(this.task, this.deps);
    const spec = containerSpecFor(this.task, resolved, this.deps, { volumes: plan.volumeDirs });
    const attachments = overlayAttachments(this.task);
    if (attachments.length > 0 && !this.deps.networks) throw new TaskRejectedError(`task ${this.task.id} is on overlay networks, which node ${this.deps.hostname} does not run`);
    signal?.throwIfAborted();
    await ensureVolumes(plan, resolved.layerDirs, this.deps);
    let networks: TaskNetworks | undefined;
    try {
      signal?.throwIfAborted();
      const files = await makeTaskFiles(this.task.id, plan, this.deps);
      spec.mounts = [...(spec.mounts ?? []), ...files];
      if (attachments.length > 0) {
        networks = await this.deps.networks!();
        signal?.throwIfAborted();
        spec.network = { path: await networks.prepare(this.task.id, attachments) };
      }
      // a create waits its turn behind the node's other starts: given up if the task is stopped
      const c = await this.deps.runtime.create(spec, { signal });
      if (signal?.aborted) {
        // it was being made when the task was stopped: it goes at once, never started
        await this.deps.runtime.remove(c.id, { force: true });
        signal.throwIfAborted();
      }
      this.containerId = c.id;
      this.deps.logger.info({ task: this.task.id, container: c.id }, 'task container created');
    } catch (err) {
      // no container to own them: the task's files and namespace go now
      await networks?.release(this.task.id).catch((e: unknown) => this.deps.logger.warn({ task: this.task.id, err: e }, 'removing task networking failed'));
      await this.deps.taskFiles.release(this.task.id).catch((e: unknown) => this.deps.logger.warn({ task: this.task.id, err: e }, 'removing task files failed'));
      if (err instanceof ContainerSpecError) throw new TaskRejectedError(err.message);
      throw err;
    }
  }

  async start(): Promise<{ containerId: string; pid: number }> {
    const c = await this.find();
    if (!c) throw new Error(`container of task ${this.task.id} is gone`);
    if (c.state === 'running') {
      this.watchHealth(c.id);
      return { containerId: c.id, pid: c.pid ?? 0 };
    }
    if (c.state === 'exited') throw new Error(`container of task ${this.task.id} already exited (${c.exit?.code ?? '?'})`);
    const started = await this.deps.runtime.start(c.id);
    this.watchHealth(started.id);
    return { containerId: started.id, pid: started.pid ?? 0 };
  }

  /** Runs the spec's health check; an unhealthy container is stopped (agent/health/README.md). */
  private watchHealth(containerId: string): void {
    if (this.health) return;
    const logger = this.deps.logger.child({ task: this.task.id, container: containerId });
    this.health = new HealthMonitor({ runtime: this.deps.runtime, containerId, config: this.task.spec?.container?.healthcheck, logger });
    this.health.onChange((h) => {
      if (h.status !== 'unhealthy') return;
      this.unhealthy = true;
      // stopped as a shutdown would: the task's stop signal and grace period, not the runtime's
      this.find()
        .then((c) => (c && c.state === 'running' ? this.deps.runtime.stop(c.id, stopOptions(c.spec.labels)) : undefined))
        .catch((err: unknown) => logger.warn({ err }, 'stopping an unhealthy container failed'));
    });
    this.health.start();
  }

  async wait(signal?: AbortSignal): Promise<ExitInfo> {
    const c = await this.find();
    if (!c) throw new Error(`container of task ${this.task.id} is gone`);
    // a container adopted after an agent restart is running without a monitor yet
    if (c.state === 'running') this.watchHealth(c.id);
    try {
      const exit = await this.deps.runtime.wait(c.id, signal);
      return { exitCode: exit.code, oomKilled: exit.oomKilled, signal: exit.signal, unhealthy: this.unhealthy };
    } finally {
      // exited, or the wait was abandoned (a later wait starts a fresh monitor): no probe timers left behind
      this.health?.stop();
      this.health = undefined;
    }
  }

  async shutdown(): Promise<void> {
    this.health?.stop();
    const c = await this.find();
    if (!c || c.state !== 'running') return;
    const opts = stopOptions(c.spec.labels);
    this.deps.logger.info({ task: this.task.id, container: c.id, ...opts }, 'stopping task container');
    await this.deps.runtime.stop(c.id, opts);
  }

  async remove(): Promise<void> {
    const c = await this.find();
    if (c) {
      await this.deps.runtime.remove(c.id, { force: true });
      this.containerId = undefined;
    }
    // after the container, whose mounts hold the files; also when a failed prepare left them
    await this.deps.taskFiles.release(this.task.id);
    await removeAnonymousVolumes(this.task.id, this.deps);
    // after the container: its process held the namespace
    const mayHaveNetworking = overlayAttachments(this.task).length > 0 || (this.deps.hasTaskNetns?.(this.task.id) ?? true);
    if (this.deps.networks && mayHaveNetworking) {
      // a task that never had overlay attachments does not fail with the data path
      const networks = await this.deps.networks().catch((err: unknown) => {
        if (overlayAttachments(this.task).length > 0) throw err;
        return undefined;
      });
      await networks?.release(this.task.id);
    }
  }
}

/** The container remembers its stop signal and grace in labels: the task spec may be gone by now. */
function stopOptions(labels: Record<string, string> | undefined): { signal: NodeJS.Signals; graceMs: number } {
  const signal = normalizeSignal(labels?.[LABEL_STOP_SIGNAL] || 'SIGTERM');
  const graceMs = Number(labels?.[LABEL_STOP_GRACE_MS] ?? DEFAULT_STOP_GRACE_MS);
  return { signal, graceMs: Number.isFinite(graceMs) ? graceMs : DEFAULT_STOP_GRACE_MS };
}
