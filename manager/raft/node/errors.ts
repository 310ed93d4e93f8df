// Errors of the driver, beside the core's (NotLeaderError, ProposalDroppedError, ProposalTooLargeError).
import { RaftError } from '../errors.js';

export class NodeStoppedError extends RaftError {
  override readonly userError = true;
  constructor() {
    super('raft node is stopped; the request was not applied');
  }
}

/** The request was accepted locally but not applied in time: it may still be applied later. */
export class RaftTimeoutError extends RaftError {
  override readonly userError = true;
  constructor(what: string, ms: number) {
    super(`${what} not applied within ${ms} ms (no quorum reachable?); its outcome is unknown, check before retrying`);
  }
}
