// The control API: what the CLI and other managers call. See README.md.
export { controlService, FORWARDED_HEADER, type ControlDeps, type ControlMethod } from './service.js';
export { ControlError, statusOf, toServiceError } from './errors.js';
export { validateServiceSpec, validateServiceName, validateObjectName, MAX_NAME_LENGTH, MAX_OBJECT_NAME_LENGTH } from './validate.js';
export { MAX_BLOB_BYTES } from './secrets.js';
export { DEFAULT_NETWORK_DRIVER } from './networks.js';
export { targetPath } from './references.js';
export { findConfig, findNetwork, findNode, findSecret, findService, findTask } from './lookup.js';
export { redactCluster } from './cluster.js';
export { LeaderClients } from './leader-client.js';
export { serviceLogs, forwardError, NO_LEADER_RETRY, type SubscribeLogs, type LogsLine } from './logs.js';
