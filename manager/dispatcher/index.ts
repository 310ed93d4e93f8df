// The dispatcher: agents' sessions, heartbeats, assignments and status reports (leader-only).
export { Dispatcher, type StreamSink } from './dispatcher.js';
export { dispatcherService } from './service.js';
export { DEFAULT_HEARTBEAT_PERIOD_MS, type CallerInfo, type DispatcherOptions, type IdentifyFn, type NodeIdentity } from './options.js';
export { DispatcherRefusal, NOT_LEADER_PREFIX, leaderFromError } from './errors.js';
export { isAssignedTo } from './assignments.js';
export { peerHost } from './nodes.js';
export { LogBroker, type LogReadHandle, type LogReadRequest, type TaskLogLine } from './logs.js';
