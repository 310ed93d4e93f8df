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
