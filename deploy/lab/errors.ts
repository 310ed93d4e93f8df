// Errors a lab user can cause. Each names the input and the way out; the CLI prints the
// message alone (cli/errors.ts) and exits non-zero.
import type { UserFacingError } from '../../cli/errors.js';

abstract class LabUserError extends Error implements UserFacingError {
  readonly userError = true as const;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A bad --hosts, --subnet or --name value. */
export class LabConfigError extends LabUserError {}

/** `up` over a lab that is already up (or was left half-made). */
export class LabExistsError extends LabUserError {}

/** A lab or host name that does not exist. */
export class LabNotFoundError extends LabUserError {}

/** A kernel object or directory the lab would make already exists and is not the lab's. */
export class LabConflictError extends LabUserError {}

/** A command the lab needs (ip, nsenter, unshare) failed; carries its stderr. */
export class LabCommandError extends Error {
  constructor(
    readonly argv: readonly string[],
    readonly code: number | null,
    readonly stderr: string,
  ) {
    super(`${argv.join(' ')} failed (exit ${code ?? 'signal'}): ${stderr.trim() || 'no output'}`);
    this.name = 'LabCommandError';
  }
}

/** `up` failed after making some objects; they were removed again (or `residue` says what not). */
export class LabUpError extends LabUserError {
  constructor(
    lab: string,
    cause: Error,
    readonly residue: readonly string[],
    /** How many recorded objects the rollback removed. */
    readonly rolledBack = 0,
  ) {
    super(
      residue.length === 0
        ? `lab up --name ${lab} failed and was rolled back: ${cause.message}`
        : `lab up --name ${lab} failed (${cause.message}) and ${residue.length} object(s) could not be removed ` +
            `(${residue.join(', ')}); run \`shoal lab down --name ${lab}\` to retry the removal`,
      { cause },
    );
  }
}
