// A node leaving the cluster takes its tasks with it: every task container on this host is
// stopped with its task's stop signal and grace period (both recorded on the container, so the
// task spec is not needed) and removed, the same way the agent removes a task no longer assigned
// to it. Run after the agent has stopped, so no runner reports the exits or restarts anything.
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { ContainerController, taskContainers } from '../agent/executor/index.js';
import { ImageStore } from '../agent/images/index.js';
import { ContainerRuntime } from '../agent/runtime/index.js';
import { LocalVolumes } from '../agent/volumes/index.js';
import { Task } from '../proto/gen/types.js';
import type { DaemonPaths } from './paths.js';

export interface RemovedTasks {
  /** Task ids whose containers are gone. */
  removed: string[];
  /** Task ids whose container could not be removed, with why. */
  failed: { taskId: string; error: string }[];
}

/** Stops and removes every task container of this host, in parallel (grace periods overlap). */
export async function removeTaskContainers(o: { paths: DaemonPaths; cgroupParent?: string; logger: Logger }): Promise<RemovedTasks> {
  const log = o.logger.child({ component: 'leave' });
  const runtime = new ContainerRuntime({
    stateDir: o.paths.containersDir,
    // the rule the agent's runtime was made with (daemon/node-runtime.ts)
    cgroupParent: o.cgroupParent ?? process.env.SHOAL_CGROUP_PARENT ?? 'shoal',
    logger: o.logger.child({ component: 'runtime' }),
  });
  const images = new ImageStore({ root: o.paths.imagesDir, logger: o.logger.child({ component: 'images' }) });
  // the agent's rule (agent/index.ts): volumes live beside its state dir; a task's anonymous
  // volumes go with its container, named ones stay (as `docker swarm leave` keeps them)
  const volumes = new LocalVolumes({ root: join(dirname(o.paths.agentDir), 'volumes'), logger: log });
  const out: RemovedTasks = { removed: [], failed: [] };
  const found = await taskContainers(runtime);
  await Promise.all(
    [...found.keys()].map(async (taskId) => {
      const ctl = new ContainerController(Task.fromPartial({ id: taskId }), { runtime, images, hostname: hostname(), nodeId: '', defaultNetwork: 'host', volumes, logger: log });
      try {
        await ctl.shutdown();
        await ctl.remove();
        out.removed.push(taskId);
      } catch (err) {
        out.failed.push({ taskId, error: (err as Error).message });
      }
    }),
  );
  log.info({ removed: out.removed.length, failed: out.failed }, 'task containers of the leaving node removed');
  return out;
}
