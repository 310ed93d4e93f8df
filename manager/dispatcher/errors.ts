// Refusals the dispatcher sends to agents, as gRPC status errors. The agent reads the code (and
// for NOT_LEADER the address after the prefix) to decide whether to move to another manager.
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';

export const NOT_LEADER_PREFIX = 'not leader: ';

export class DispatcherRefusal extends Error {
  constructor(
    readonly code: status,
    readonly details: string,
  ) {
    super(details);
    this.name = 'DispatcherRefusal';
  }

  toServiceError(): Partial<ServiceError> {
    return { code: this.code, details: this.details, message: this.details, metadata: new Metadata() };
  }
}

/** This manager does not run the dispatcher; addr is the leader's, when known. */
export function notLeader(addr: string | undefined): DispatcherRefusal {
  return new DispatcherRefusal(status.UNAVAILABLE, `${NOT_LEADER_PREFIX}${addr ?? ''}`);
}

export function unauthenticated(why: string): DispatcherRefusal {
  return new DispatcherRefusal(status.UNAUTHENTICATED, `node identity missing or invalid: ${why}`);
}

/** The session id is unknown or belongs to an older session of the node: open a new session. */
export function sessionInvalid(sessionId: string): DispatcherRefusal {
  return new DispatcherRefusal(status.NOT_FOUND, `session ${JSON.stringify(sessionId)} is not valid: open a new session`);
}

export function notOwner(nodeId: string, taskId: string): DispatcherRefusal {
  return new DispatcherRefusal(status.PERMISSION_DENIED, `task ${taskId} is not assigned to node ${nodeId}`);
}

/** The store refused a write (no quorum, leadership lost): the agent retries, maybe elsewhere. */
export function unavailable(why: string): DispatcherRefusal {
  return new DispatcherRefusal(status.UNAVAILABLE, why);
}

/** A gRPC error as a refusal (anything unexpected becomes INTERNAL). */
export function asRefusal(err: unknown): DispatcherRefusal {
  if (err instanceof DispatcherRefusal) return err;
  return new DispatcherRefusal(status.INTERNAL, err instanceof Error ? err.message : String(err));
}

/**
 * For a NOT_LEADER refusal: the leader's address ('' when the manager did not know it);
 * null for any other error.
 */
export function leaderFromError(err: unknown): string | null {
  const e = err as { code?: number; details?: string } | undefined;
  if (!e || e.code !== status.UNAVAILABLE || typeof e.details !== 'string' || !e.details.startsWith(NOT_LEADER_PREFIX)) return null;
  return e.details.slice(NOT_LEADER_PREFIX.length).trim();
}
