// gRPC failures as one-line user errors: the daemon not running, or what the manager said.
import { status, type ServiceError } from '@grpc/grpc-js';
import type { Target } from './target.js';

export class DaemonUnreachableError extends Error {
  readonly userError = true as const;
  constructor(target: Target, reason: string) {
    super(
      target.local
        ? `cannot reach the shoal daemon at ${target.display}: is \`shoal daemon\` running? (${reason})`
        : `cannot reach the shoal manager at ${target.display}: ${reason}; check --host and that the manager is up`,
    );
    this.name = 'DaemonUnreachableError';
  }
}

/** A refusal from the daemon or manager (bad input, not found, no quorum ...). */
export class RemoteError extends Error {
  readonly userError = true as const;
  constructor(
    readonly code: status,
    message: string,
  ) {
    super(message);
    this.name = 'RemoteError';
  }
}

const CONNECT_FAILURE = /No connection established|Failed to connect|connect ECONNREFUSED|connect ENOENT|Connection dropped|ECONNRESET/i;

export function fromGrpc(err: unknown, target: Target): Error {
  const e = err as Partial<ServiceError>;
  if (typeof e.code !== 'number') return err instanceof Error ? err : new Error(String(err));
  const details = (e.details || e.message || '').split('\n')[0]!;
  if (e.code === status.UNAVAILABLE && CONNECT_FAILURE.test(details)) return new DaemonUnreachableError(target, details);
  if (e.code === status.DEADLINE_EXCEEDED) return new RemoteError(e.code, `${target.display} did not answer in time: ${details}`);
  if (e.code === status.UNIMPLEMENTED) return new RemoteError(e.code, `the daemon at ${target.display} does not serve this call (${details}): is this node part of a cluster, and is it a manager or connected to one?`);
  return new RemoteError(e.code, details);
}
