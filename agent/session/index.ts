// The agent's side of the dispatcher protocol: one session at a time, moving between managers.
export { ManagerSession, type ManagerSessionOptions, type SessionHandlers } from './manager-session.js';
export { SessionLoop, leaderFrom, NOT_LEADER_PREFIX, type SessionLoopOptions } from './session-loop.js';
export { StatusReporter, type SendStatus } from './status-reporter.js';
export { LogPublisher, type TaskLogEntry, type TaskLogSource } from './log-publisher.js';
export { HeartbeatWindow, MissedHeartbeatsError, isTransientHeartbeatError, AGENT_GIVE_UP_PERIODS, MANAGER_GRACE_PERIODS } from './heartbeat.js';
