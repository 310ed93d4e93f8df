// What a user can get wrong when driving a daemon (init twice, join while in a cluster, ...).
export class DaemonStateError extends Error {
  readonly userError = true;
  constructor(message: string) {
    super(message);
    this.name = 'DaemonStateError';
  }
}
