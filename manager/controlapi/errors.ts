// The control API's errors: every refusal carries a gRPC status code and a message that names
// the input and the fix; store and Raft errors are mapped here so handlers can just throw.
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';

export class ControlError extends Error {
  readonly userError = true as const;
  constructor(
    readonly code: status,
    message: string,
  ) {
    super(message);
    this.name = 'ControlError';
  }
}

export const invalidArgument = (msg: string): ControlError => new ControlError(status.INVALID_ARGUMENT, msg);
export const notFound = (msg: string): ControlError => new ControlError(status.NOT_FOUND, msg);
export const alreadyExists = (msg: string): ControlError => new ControlError(status.ALREADY_EXISTS, msg);
export const failedPrecondition = (msg: string): ControlError => new ControlError(status.FAILED_PRECONDITION, msg);
export const unavailable = (msg: string): ControlError => new ControlError(status.UNAVAILABLE, msg);

// Matched by class name so the control API needs no import of the Raft or manager-node layers.
const UNAVAILABLE_NAMES = new Set([
  'NotLeaderError',
  'NoLeaderError',
  'NoQuorumError',
  'QuorumLossError',
  'ProposalDroppedError',
  'UnavailableError',
  'RaftNotAttachedError',
]);

const BY_NAME: Record<string, status> = {
  NameConflictError: status.ALREADY_EXISTS,
  ObjectExistsError: status.ALREADY_EXISTS,
  ObjectNotFoundError: status.NOT_FOUND,
  SequenceConflictError: status.FAILED_PRECONDITION,
  ConstraintError: status.INVALID_ARGUMENT,
  ProposalTooLargeError: status.INVALID_ARGUMENT,
  WatchFellBehindError: status.RESOURCE_EXHAUSTED,
  WatchCompactedError: status.OUT_OF_RANGE,
};

/** The gRPC status for any error a handler may throw. */
export function statusOf(err: unknown): { code: status; details: string } {
  const e = err as { code?: unknown; name?: string; message?: string; details?: string };
  const details = e?.details || e?.message || String(err);
  if (err instanceof ControlError) return { code: err.code, details };
  if (typeof e?.code === 'number' && e.code > 0 && e.code <= 16) return { code: e.code as status, details };
  if (e?.name && UNAVAILABLE_NAMES.has(e.name)) {
    // The manager layer's errors already say "no leader"/"no quorum" and the way out.
    const said = (err as { userError?: boolean }).userError === true;
    return { code: status.UNAVAILABLE, details: said ? details : `no quorum or no leader: ${details}; retry when the managers agree again` };
  }
  if (e?.name && e.name in BY_NAME) return { code: BY_NAME[e.name]!, details };
  return { code: status.INTERNAL, details };
}

export function toServiceError(err: unknown): ServiceError {
  const { code, details } = statusOf(err);
  const out = new Error(details) as ServiceError;
  out.code = code;
  out.details = details;
  out.metadata = new Metadata();
  return out;
}

/**
 * A stored (deeply read-only) object as a response message. Responses are serialized and never
 * mutated, so the stored object is handed out as it is instead of copied.
 */
export function asMessage<T>(obj: import('../store/index.js').ReadonlyDeep<T>): T {
  return obj as T;
}
