// Typed storage errors. A corrupted WAL or snapshot is an operator problem (a disk or a copied
// directory), so these carry userError and say which file and offset to look at.

export class StorageError extends Error {
  readonly userError: boolean = true;
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** A record in the middle of the log fails its checksum: refusing beats silently losing writes. */
export class WalCorruptError extends StorageError {
  constructor(readonly file: string, readonly offset: number, why: string) {
    super(
      `raft WAL corrupted: ${file} at byte offset ${offset}: ${why}; ` +
        `restore this member's state directory from a backup, or remove it and re-add the member so it receives a snapshot`,
    );
  }
}

/** The state directory or a snapshot belongs to another cluster (or another member). */
export class StorageIdentityError extends StorageError {}

export class WalClosedError extends StorageError {
  constructor() {
    super('raft WAL is closed');
  }
}

/** A sealed record or snapshot that cannot be opened: modified on disk, or its key is not held. */
export class SealedDataError extends StorageError {
  constructor(readonly file: string, readonly offset: number, why: string) {
    super(
      `raft data in ${file} at byte offset ${offset} cannot be decrypted: ${why}; ` +
        `restore this member's state directory from a backup, or remove it and re-add the member so it receives a snapshot`,
    );
  }
}
