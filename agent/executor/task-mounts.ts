// The host side of a task's volumes, secrets and configs: checked first (a bad reference rejects
// the task before anything exists), then made (volumes kept for good, task files until the
// container is removed).
import { Mount_Type, type Mount, type Task } from '../../proto/gen/types.js';
import type { MountSpec } from '../runtime/index.js';
import { planTaskFiles, TaskFileError, type PlannedFile, type SecretStore, type TaskFiles } from '../secrets/index.js';
import { VolumeNameError, type LocalVolumes } from '../volumes/index.js';
import { TaskRejectedError } from './controller.js';

export interface TaskMountDeps {
  /** The secrets and configs the dispatcher sent (absent: tasks that use any are rejected). */
  secrets?: SecretStore;
  /** Where the task files are made (SHOAL_RUN/secrets, SHOAL_RUN/configs). */
  taskFiles?: TaskFiles;
  /** The local volume driver (absent: volume mounts are rejected). */
  volumes?: LocalVolumes;
}

export interface TaskMountPlan {
  files: PlannedFile[];
  /** Host directory of each named volume, by name. */
  volumeDirs: Map<string, string>;
  volumeMounts: Mount[];
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
  const volumeMounts = (task.spec?.container?.mounts ?? []).filter((m) => m.type === Mount_Type.VOLUME && m.source !== '');
  const volumeDirs = new Map<string, string>();
  if (deps.volumes) {
    for (const m of volumeMounts) {
      try {
        volumeDirs.set(m.source, deps.volumes.dataPath(m.source));
      } catch (err) {
        if (err instanceof VolumeNameError) throw new TaskRejectedError(`mount of ${m.target}: ${err.message}`);
        throw err;
      }
    }
  }
  return { files, volumeDirs, volumeMounts };
}

/** Makes the task's named volumes (copying the image's files into new ones unless told not to). */
export async function ensureVolumes(plan: TaskMountPlan, layers: string[], deps: TaskMountDeps): Promise<void> {
  if (!deps.volumes) return;
  for (const m of plan.volumeMounts) {
    await deps.volumes.ensure(m.source, { labels: m.volumeLabels, copyFrom: m.volumeNoCopy ? undefined : { layers, path: m.target } });
  }
}

/** Writes the task's secret and config files; returns their read-only binds. */
export async function makeTaskFiles(taskId: string, plan: TaskMountPlan, deps: TaskMountDeps): Promise<MountSpec[]> {
  if (plan.files.length === 0 || !deps.taskFiles) return [];
  return deps.taskFiles.materialize(taskId, plan.files);
}
