// Secrets and configs on the agent: the in-memory store of what the dispatcher sent, the plan of
// a task's files, and their per-task tmpfs / directory with read-only bind mounts.
export { SecretStore } from './store.js';
export { planTaskFiles, DEFAULT_FILE_MODE, SECRETS_DIR_IN_CONTAINER, type PlannedFile } from './plan.js';
export { TaskFiles, SECRETS_TMPFS_SOURCE, type TaskFilesOptions } from './task-files.js';
export { TaskFileError } from './errors.js';
export { isMountPoint, mountsUnder, mountFs, unmountAll } from './host-mounts.js';
