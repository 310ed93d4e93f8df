// Errors of the data path. The ones a user can cause (bad spec, a kernel that lacks a feature,
// an underlay too small) carry userError so the CLI prints the message without a stack.

export abstract class OverlayError extends Error {
  abstract readonly code: string;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

abstract class OverlayUserError extends OverlayError {
  readonly userError = true as const;
}

/** A network's driver is not one of vxlan, routed, gre. */
export class UnknownDriverError extends OverlayUserError {
  readonly code = 'unknown-driver';
}

/** A subnet, gateway, address, prefix or VNI that is malformed or outside its network. */
export class InvalidNetworkInputError extends OverlayUserError {
  readonly code = 'invalid-input';
}

/** The running kernel cannot make what a driver needs (e.g. no vxlan module). */
export class KernelFeatureError extends OverlayUserError {
  readonly code = 'kernel-feature';
}

/** The underlay's MTU leaves less than the minimum for the overlay once encapsulated. */
export class UnderlayMtuError extends OverlayUserError {
  readonly code = 'underlay-mtu';
}

/** A routed (host-gw) network with a peer that is not on this host's L2 segment. */
export class PeerNotAdjacentError extends OverlayUserError {
  readonly code = 'peer-not-adjacent';
}

/** A call names a network this host has not set up, or an attachment it does not have. */
export class UnknownObjectError extends OverlayUserError {
  readonly code = 'unknown-object';
}

/** The underlay address given to the host is not on any of its interfaces. */
export class UnderlayNotFoundError extends OverlayUserError {
  readonly code = 'underlay-not-found';
}

/** An ip/bridge/nft/sysctl process failed; carries its stderr. Not the user's doing. */
export class KernelCommandError extends OverlayError {
  readonly code = 'kernel-command';
  constructor(
    readonly argv: readonly string[],
    readonly exitCode: number | null,
    readonly stderr: string,
  ) {
    super(`${argv.join(' ')} failed (exit ${exitCode ?? 'signal'}): ${stderr.trim() || 'no output'}`);
  }
}
