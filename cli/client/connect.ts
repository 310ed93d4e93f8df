// Clients of the Control and Daemon services for one command run, with promisified calls that
// turn gRPC failures into one-line user errors.
import type { Client, ServiceError } from '@grpc/grpc-js';
import { callUnary, type UnaryMethod } from '../../proto/unary.js';
import { ControlClient } from '../../proto/gen/control.js';
import { DaemonClient } from '../../proto/gen/daemon.js';
import { DaemonUnreachableError, fromGrpc } from './errors.js';
import { resolveTarget, socketMissing, type ConnectionFlags, type Target } from './target.js';

/** Deadline of one unary call (long: a write may wait for a Raft commit or a leader election). */
export const CALL_TIMEOUT_MS = 30_000;
const CONNECT_TIMEOUT_MS = 5_000;
const DAEMON_PATH = '/shoal.daemon.Daemon/';

const isServiceError = (err: unknown): err is ServiceError => err instanceof Error && typeof (err as Partial<ServiceError>).code === 'number';

export class Connection {
  private control?: ControlClient;
  private daemon?: DaemonClient;

  constructor(readonly target: Target) {}

  controlClient(): ControlClient {
    return (this.control ??= new ControlClient(this.target.address, this.target.credentials, this.target.options));
  }

  daemonClient(): DaemonClient {
    return (this.daemon ??= new DaemonClient(this.target.address, this.target.credentials, this.target.options));
  }

  /** Fails fast with the clear message when the daemon is not there. */
  async ready(client: Client): Promise<void> {
    if (socketMissing(this.target)) throw new DaemonUnreachableError(this.target, 'the socket does not exist');
    await new Promise<void>((resolve, reject) =>
      client.waitForReady(new Date(Date.now() + CONNECT_TIMEOUT_MS), (err) => (err ? reject(new DaemonUnreachableError(this.target, err.message)) : resolve())),
    );
  }

  /**
   * One unary call, named by its generated definition (`ControlService.getNode`,
   * `DaemonService.info`), which fixes the request and response types.
   */
  async call<Req, Res>(method: UnaryMethod<Req, Res>, req: NoInfer<Req>, timeoutMs = CALL_TIMEOUT_MS): Promise<Res> {
    const client = method.path.startsWith(DAEMON_PATH) ? this.daemonClient() : this.controlClient();
    await this.ready(client);
    try {
      return await callUnary(client, method, req, new Date(Date.now() + timeoutMs));
    } catch (err) {
      throw isServiceError(err) ? fromGrpc(err, this.target) : err;
    }
  }

  close(): void {
    this.control?.close();
    this.daemon?.close();
  }
}

export function connect(flags: ConnectionFlags, env: NodeJS.ProcessEnv = process.env): Connection {
  return new Connection(resolveTarget(flags, env));
}

/** Runs fn with a connection and always closes it (so the process can exit). */
export async function withConnection<T>(flags: ConnectionFlags, fn: (c: Connection) => Promise<T>): Promise<T> {
  const c = connect(flags);
  try {
    return await fn(c);
  } finally {
    c.close();
  }
}
