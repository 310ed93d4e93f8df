// Typed errors of the Raft core. Those a user (or a remote peer) can cause carry
// `userError: true` so the CLI prints the message alone; internal invariants do not.

/** Base class of every error the core throws on purpose. */
export class RaftError extends Error {
  readonly userError: boolean = false;
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** A proposal larger than RaftConfig.maxProposalBytes. */
export class ProposalTooLargeError extends RaftError {
  override readonly userError = true;
  constructor(readonly size: number, readonly max: number) {
    super(`proposal of ${size} bytes exceeds maxProposalBytes=${max}; split the write into smaller ones or raise the limit`);
  }
}

/** The proposal cannot be accepted now (no known leader, leadership transfer in progress, removed member). */
export class ProposalDroppedError extends RaftError {
  override readonly userError = true;
  constructor(readonly reason: string) {
    super(`proposal dropped: ${reason}; retry once a leader is elected`);
  }
}

/** This member is not the leader and proposal forwarding is disabled. */
export class NotLeaderError extends RaftError {
  override readonly userError = true;
  constructor(readonly leader: bigint) {
    super(leader === 0n ? 'not the leader, and no leader is known; retry later' : `not the leader; send the request to member ${leader}`);
  }
}

/** The requested index precedes the first index still kept in storage (compacted into a snapshot). */
export class CompactedError extends RaftError {
  constructor(readonly index: bigint, readonly firstIndex: bigint) {
    super(`log index ${index} is compacted (first available index is ${firstIndex})`);
  }
}

/** The requested index is past the end of the stored log (or the snapshot is not ready yet). */
export class UnavailableError extends RaftError {
  constructor(what: string) {
    super(`unavailable: ${what}`);
  }
}

/** A membership change that is refused: pending change, lost quorum, invalid transition. */
export class ConfChangeError extends RaftError {
  override readonly userError = true;
  constructor(message: string) {
    super(`membership change refused: ${message}`);
  }
}

/** A message or snapshot carrying another cluster's id. */
export class ClusterIdMismatchError extends RaftError {
  override readonly userError = true;
  constructor(readonly got: string, readonly want: string, readonly from: bigint) {
    super(`message from member ${from} belongs to cluster "${got}", this member to "${want}"; check the peer's --cluster-id / join token`);
  }
}

/** A local-only message type (MsgHup, MsgBeat, ...) arrived from the network, or a bad config. */
export class InvalidInputError extends RaftError {
  override readonly userError = true;
}
