// Errors of joining and authenticating nodes. Those a user can cause carry userError.
export class CAError extends Error {
  readonly userError: boolean = false;
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** A join token that is malformed, or not (or no longer) valid for this cluster. */
export class InvalidJoinTokenError extends CAError {
  override readonly userError = true;
}

/** The manager reached does not hold the CA the token pins: a wrong address or an impostor. */
export class CAHashMismatchError extends CAError {
  override readonly userError = true;
}

/** A node removed from the cluster asked for a certificate or called in with its old one. */
export class NodeRemovedError extends CAError {
  override readonly userError = true;
}

/** A certificate that does not chain to the cluster's root, has expired, or is malformed. */
export class CertificateError extends CAError {
  override readonly userError = true;
}

/** No manager answered at the address given to join. */
export class ManagerUnreachableError extends CAError {
  override readonly userError = true;
}
