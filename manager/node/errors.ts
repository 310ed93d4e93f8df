// Errors a manager's Raft-backed store gives writers and readers. All of them are caused by the
// cluster's state (too few managers reachable), so they are user errors with a way out.

/** No leader is known: an election is under way or too few managers are reachable. */
export class NoLeaderError extends Error {
  readonly userError = true;
  constructor(what: string) {
    super(`${what} refused: no leader (an election is under way or a majority of managers is unreachable); retry in a few seconds or restore the missing managers`);
    this.name = 'NoLeaderError';
  }
}

/** This manager follows another one: the caller should send the request to `leaderAddr`. */
export class NotLeaderError extends Error {
  readonly userError = true;
  constructor(
    readonly leaderRaftId: bigint,
    readonly leaderAddr: string | undefined,
  ) {
    super(`this manager is not the leader; send the request to the leader${leaderAddr ? ` at ${leaderAddr}` : ` (raft id ${leaderRaftId})`}`);
    this.name = 'NotLeaderError';
  }
}

/** A write or read could not be confirmed by a majority before the deadline. */
export class NoQuorumError extends Error {
  readonly userError = true;
  constructor(what: string, ms: number) {
    super(`${what} refused: no quorum (a majority of managers did not answer within ${ms} ms); nothing was changed — bring the missing managers back, then retry`);
    this.name = 'NoQuorumError';
  }
}

/** A membership change that would leave the cluster without a majority. */
export class QuorumLossError extends Error {
  readonly userError = true;
  constructor(what: string) {
    super(`${what} refused: the remaining managers could not form a quorum; add or repair managers first, or use --force`);
    this.name = 'QuorumLossError';
  }
}
