// A cached ControlClient to whichever manager leads now: the `leaderClient` a daemon passes to
// controlService. The channel is rebuilt only when the leader's address changes.
import type { ChannelCredentials } from '@grpc/grpc-js';
import { ControlClient } from '../../proto/gen/control.js';

export class LeaderClients {
  private current: { addr: string; client: ControlClient } | undefined;

  constructor(
    private readonly credentials: ChannelCredentials,
    /** The leader's cluster API address (host:port), or undefined when none is known. */
    private readonly leaderAddr: () => string | undefined,
    private readonly options: Record<string, string | number> = { 'grpc.ssl_target_name_override': 'shoal-manager' },
  ) {}

  /** A client to the leader, or null when no leader is known. */
  get(): ControlClient | null {
    const addr = this.leaderAddr();
    if (!addr) return null;
    if (this.current?.addr === addr) return this.current.client;
    this.current?.client.close();
    this.current = { addr, client: new ControlClient(addr, this.credentials, this.options) };
    return this.current.client;
  }

  close(): void {
    this.current?.client.close();
    this.current = undefined;
  }
}
