// Errors of the managers' Raft keys. Those a user can cause (a wrong or malformed unlock key, a
// locked manager) carry userError and name what to do.
export class KeyError extends Error {
  readonly userError: boolean = true;
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** Not of the form SHOALKEY-1-...: a typo or another cluster's kind of key. */
export class MalformedUnlockKeyError extends KeyError {}

/** Well formed, but it does not open this manager's data keys. */
export class WrongUnlockKeyError extends KeyError {
  constructor() {
    super(
      'the unlock key is wrong: it does not open this manager\'s Raft data keys. Use the key `shoal unlock-key` printed on an unlocked manager ' +
        '(a manager that was down while the key was rotated still needs the key from before the rotation)',
    );
  }
}

/** The manager's Raft data is encrypted with a key autolock keeps off disk. */
export class ManagerLockedError extends KeyError {
  readonly code = 9; // gRPC FAILED_PRECONDITION
  constructor() {
    super('this manager is locked: autolock is on and it restarted, so it cannot read its Raft data. Run `shoal unlock` on this host and enter the cluster\'s unlock key');
  }
}

/** keys.json is damaged or belongs to nothing we can read. */
export class KeyFileError extends KeyError {}
