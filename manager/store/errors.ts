// Errors of the store. Conflicts are what a caller may retry after re-reading; the control API
// turns them into user-facing messages.
import type { ObjectKind } from './types.js';

export class StoreError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** An update or removal was based on a version that is no longer the stored one. */
export class SequenceConflictError extends StoreError {
  constructor(
    readonly kind: ObjectKind,
    readonly id: string,
    readonly expected: bigint,
    readonly actual: bigint,
  ) {
    super(`${kind} ${id}: update out of sequence (based on version ${expected}, stored is ${actual}); re-read and retry`);
  }
}

export class ObjectExistsError extends StoreError {
  constructor(readonly kind: ObjectKind, readonly id: string) {
    super(`${kind} ${id} already exists`);
  }
}

export class ObjectNotFoundError extends StoreError {
  constructor(readonly kind: ObjectKind, readonly id: string) {
    super(`${kind} ${id} not found`);
  }
}

/** A second service or network with a name already taken (names compare case-insensitively). */
export class NameConflictError extends StoreError {
  readonly userError = true as const;
  constructor(readonly kind: ObjectKind, readonly objectName: string) {
    super(`a ${kind} named "${objectName}" already exists; choose another name or update the existing ${kind}`);
  }
}

export class InvalidObjectError extends StoreError {
  constructor(readonly kind: ObjectKind, reason: string) {
    super(`invalid ${kind}: ${reason}`);
  }
}

/** An `await` inside a transaction callback would let other writers interleave. */
export class AsyncTransactionError extends StoreError {
  constructor() {
    super('a store transaction callback must be synchronous (it returned a promise); do async work before or after update()');
  }
}

/** A transaction too big for one log entry: split the work into smaller transactions. */
export class ProposalTooLargeError extends StoreError {
  constructor(readonly bytes: number, readonly limit: number, readonly objects: number) {
    super(`transaction of ${objects} objects encodes to ${bytes} bytes, over the ${limit}-byte proposal limit; write fewer objects per transaction`);
  }
}

/**
 * A watcher's reader fell too far behind: its queue was dropped (so the manager's memory stays
 * bounded) and the watch ended. Watch again from `resumeVersion` (the last commit the reader
 * took) to get what followed, or re-read everything if that is compacted.
 */
export class WatchFellBehindError extends StoreError {
  constructor(
    readonly limit: string,
    readonly resumeVersion: bigint,
  ) {
    super(`watch fell more than ${limit} behind and was closed; resume from version ${resumeVersion}`);
  }
}

/** A watch asked to resume from a version the store's event history no longer holds. */
export class WatchCompactedError extends StoreError {
  constructor(
    readonly requested: bigint,
    readonly oldest: bigint,
    readonly current: bigint,
  ) {
    super(
      requested > current
        ? `cannot resume the watch from version ${requested}: this store is at version ${current}; retry in a moment or watch from the start`
        : `cannot resume the watch from version ${requested}: history is compacted up to version ${oldest}; re-list and watch from the start`,
    );
  }
}
