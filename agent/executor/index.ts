// The task executor: the pure step function, the controller interface and its container
// implementation, the per-task runner and the agent's task state files.
export { step, isTerminal, type StepOptions } from './step.js';
export { TaskRejectedError, type Controller, type ExitInfo } from './controller.js';
export { ContainerController, taskContainers, type ContainerControllerDeps } from './container-controller.js';
export {
  containerSpecFor,
  containerName,
  normalizeSignal,
  DEFAULT_STOP_GRACE_MS,
  LABEL_NODE_ID,
  LABEL_SERVICE_ID,
  LABEL_SERVICE_NAME,
  LABEL_STOP_GRACE_MS,
  LABEL_STOP_SIGNAL,
  LABEL_TASK_ID,
  type PreparedMounts,
  type SpecContext,
} from './container-spec.js';
export { planTaskMounts, ensureVolumes, makeTaskFiles, removeAnonymousVolumes, taskFilesBeside, anonymousVolumeName, LABEL_ANONYMOUS_VOLUME, type TaskMountDeps, type TaskMountPlan } from './task-mounts.js';
export { TaskRunner, type RunnerController } from './task-runner.js';
export { TaskStateStore, type TaskRecord } from './task-state.js';
export { TaskSet, type TaskSetDeps } from './task-set.js';
export { TaskNetworks, overlayAttachments, dataPathOf, networkSpecOf, attachmentSpecsOf, NETNS_PREFIX, type TaskNetworkOptions } from './task-network.js';
