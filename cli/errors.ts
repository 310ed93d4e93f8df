// Errors a user can cause carry `userError: true` (each layer defines its own typed classes);
// the CLI prints their message alone, without a stack, and exits non-zero.
export interface UserFacingError extends Error {
  readonly userError: true;
  readonly exitCode?: number;
}

export function isUserFacing(err: unknown): err is UserFacingError {
  return err instanceof Error && (err as Partial<UserFacingError>).userError === true;
}

/** An error in how the CLI was called: a bad flag value, a missing argument. */
export class UsageError extends Error implements UserFacingError {
  readonly userError = true as const;
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
