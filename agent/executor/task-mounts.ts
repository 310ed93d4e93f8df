// The host side of a task's volumes, secrets and configs: checked first (a bad reference rejects
// the task before anything exists), then made (volumes kept for good, task files until the
// container is removed).
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { Mount_Type, type Mount, type Task } from '../../proto/gen/types.js';
import type { ContainerInfo, MountSpec } from '../runtime/index.js';
import { planTaskFiles, TaskFileError, TaskFiles, type PlannedFile, type SecretStore } from '../secrets/index.js';
import { VolumeNameError, type LocalVolumes } from '../volumes/index.js';
import { TaskRejectedError } from './controller.js';

export interface TaskMountDeps {
  /** The secrets and configs the dispatcher sent (absent: tasks that use any are rejected). */
  secrets?: SecretStore;
  /** Where the task files are made (SHOAL_RUN/secrets, SHOAL_RUN/configs); the controller
   * defaults to taskFilesBeside(runtime). */
  taskFiles?: TaskFiles;
  /** The local volume driver (absent: volume mounts are rejected). */
  volumes?: LocalVolumes;
}

export interface TaskMountPlan {
  files: PlannedFile[];
  /** Host directory of each volume, by mount target. */
  volumeDirs: Map<string, string>;
  volumes: { name: string; mount: Mount; labels: Record<string, string> }[];
}

/** Labels of a volume made for one task's mount that names no volume (Docker's anonymous
 * volume); it goes when the task's container is removed. */
export const LABEL_ANONYMOUS_VOLUME = 'shoal.volume.anonymous';

/** An anonymous volume's name: the same for every attempt at the task, unique per mount. */
export function anonymousVolumeName(taskId: string, mountIndex: number): string {
  return `anon.${taskId}.${mountIndex}`;
}

/** Task files beside the runtime's state directory (SHOAL_RUN/containers -> SHOAL_RUN/secrets
 * and SHOAL_RUN/configs): where the agent keeps them unless told otherwise. */
export function taskFilesBeside(runtime: { stateDir: string }, logger?: Logger): TaskFiles {
  const run = dirname(runtime.stateDir);
  return new TaskFiles({ secretsDir: join(run, 'secrets'), configsDir: join(run, 'configs'), logger });
}

/** Everything that can refuse the task's mounts, with no I/O. */
export function planTaskMounts(task: Task, deps: TaskMountDeps): TaskMountPlan {
  let files: PlannedFile[];
  try {
    files = planTaskFiles(task, deps.secrets);
  } catch (err) {
    if (err instanceof TaskFileError) throw new TaskRejectedError(err.message);
    throw err;
  }
  if (files.length && !deps.taskFiles) throw new TaskRejectedError(`task ${task.id} uses secrets or configs, which this node cannot mount (no task file directory configured)`);
  const volumes: TaskMountPlan['volumes'] = [];
  const volumeDirs = new Map<string, string>();
  (task.spec?.container?.mounts ?? []).forEach((m, i) => {
    if (m.type !== Mount_Type.VOLUME || !deps.volumes) return;
    const name = m.source || anonymousVolumeName(task.id, i);
    const labels = m.source ? m.volumeLabels : { ...m.volumeLabels, [LABEL_ANONYMOUS_VOLUME]: task.id };
    try {
      volumeDirs.set(m.target, deps.volumes.dataPath(name));
    } catch (err) {
      if (err instanceof VolumeNameError) throw new TaskRejectedError(`mount of ${m.target}: ${err.message}`);
      throw err;
    }
    volumes.push({ name, mount: m, labels });
  });
  return { files, volumeDirs, volumes };
}

/** Makes the task's volumes (copying the image's files into new ones unless told not to). */
export async function ensureVolumes(plan: TaskMountPlan, layers: string[], deps: TaskMountDeps): Promise<void> {
  if (!deps.volumes) return;
  for (const { name, mount, labels } of plan.volumes) {
    await deps.volumes.ensure(name, { labels, copyFrom: mount.volumeNoCopy ? undefined : { layers, path: mount.target } });
  }
}

/** Removes the anonymous volumes made for a task (after its container is gone). */
export async function removeAnonymousVolumes(taskId: string, deps: TaskMountDeps & { runtime: { list(): Promise<ContainerInfo[]> } }): Promise<void> {
  if (!deps.volumes) return;
  // names first (one readdir per removal); the label confirms a volume is the task's own
  const prefix = anonymousVolumeName(taskId, 0).slice(0, -1);
  const mine = deps.volumes
    .names()
    .filter((n) => n.startsWith(prefix))
    .filter((n) => deps.volumes!.inspect(n)?.labels[LABEL_ANONYMOUS_VOLUME] === taskId);
  if (mine.length === 0) return;
  const containers = await deps.runtime.list();
  for (const name of mine) await deps.volumes.remove(name, containers);
}

/** Writes the task's secret and config files; returns their read-only binds. */
export async function makeTaskFiles(taskId: string, plan: TaskMountPlan, deps: TaskMountDeps): Promise<MountSpec[]> {
  if (plan.files.length === 0 || !deps.taskFiles) return [];
  return deps.taskFiles.materialize(taskId, plan.files);
}
