// How a node learns its role and gets certificates: one NodeCA renewal (its node id, proven by
// its current certificate) returns a certificate for the role the managers hold for it now. It
// is asked when the certificate is due (cert-renewal.ts) or when the role may have changed:
// the Node in the dispatcher's session messages names the role the managers recorded (it is
// sent again whenever the node changes), and a manager also reads its own Node from its local
// store (no signing) in case its agent session cannot tell it. Nothing polls the CA.
import { Metadata, type ServiceError } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { NodeCAClient, type IssueNodeCertificateResponse } from '../proto/gen/ca.js';
import type { SessionMessage } from '../proto/gen/dispatcher.js';
import { NodeRole, type Node } from '../proto/gen/types.js';
import { certificateInfo, clientCredentials, createNodeKeyAndCSR, type NodeCertificates, type NodeRoleName } from '../manager/ca/index.js';
import { RealClock, type Clock } from '../manager/clock.js';
import { CertRenewer } from './cert-renewal.js';

export interface RoleAnswer {
  role: NodeRoleName;
  certs: NodeCertificates;
}

/** Asks the managers at addrs (first that answers) for a fresh certificate of this node. */
export async function renewCertificate(addrs: string[], certs: NodeCertificates, nodeId: string, advertiseAddr: string): Promise<RoleAnswer> {
  const { keyPem, csrPem } = await createNodeKeyAndCSR();
  let last: unknown;
  for (const addr of addrs) {
    const client = new NodeCAClient(addr, clientCredentials(certs));
    try {
      const res = await new Promise<IssueNodeCertificateResponse>((resolve, reject) =>
        client.issueNodeCertificate(
          { csr: Buffer.from(csrPem), token: '', nodeId, description: undefined, advertiseAddr },
          new Metadata(),
          { deadline: new Date(Date.now() + 5_000) },
          (e: ServiceError | null, r: IssueNodeCertificateResponse) => (e ? reject(e) : resolve(r)),
        ),
      );
      return {
        role: res.role === NodeRole.MANAGER ? 'manager' : 'worker',
        certs: { keyPem, certPem: Buffer.from(res.certificate).toString(), rootPem: Buffer.from(res.rootCa).toString() },
      };
    } catch (err) {
      last = err;
    } finally {
      client.close();
    }
  }
  throw last instanceof Error ? last : new Error('no manager answered');
}

function roleName(r: NodeRole): NodeRoleName {
  return r === NodeRole.MANAGER ? 'manager' : 'worker';
}

/** The role the managers recorded for this node, if the session message carries the node. */
export function roleInSession(msg: SessionMessage): NodeRoleName | undefined {
  return msg.node ? roleName(msg.node.role) : undefined;
}

/**
 * The manager's fallback, from its own store: true while its role is being changed (the wanted
 * role, or the recorded one, is not its certificate's). A demotion removes the Raft member before
 * it records role WORKER, so the removed member's store may never see the new role: the caller
 * asks the CA then, with a growing pause while the answer stays the same.
 */
export function roleMayChange(node: Pick<Node, 'role' | 'spec'> | undefined, certRole: NodeRoleName): boolean {
  if (!node) return false;
  return roleName(node.role) !== certRole || roleName(node.spec?.desiredRole ?? NodeRole.WORKER) !== certRole;
}

export interface RoleWatchOptions {
  nodeId: string;
  /** The certificate in use now (null once the node left). */
  certPem(): string | null;
  /** The role the node runs as now (its certificate's). */
  role(): NodeRoleName | undefined;
  /** False while the node is not running (left, failed, changing role): nothing to renew. */
  active(): boolean;
  /** A manager's own Node from its local store (undefined on workers). */
  localNode(): Pick<Node, 'role' | 'spec'> | undefined;
  /** One renewal: a CSR to the managers; resolves with the role they answered (a different one
   *  than the node's changes its role). */
  renew(reason: string): Promise<NodeRoleName>;
  /** How often a manager reads its own Node (default 3 s); no signing unless it changed. */
  roleCheckMs?: number;
  clock?: Clock;
  random?: () => number;
  backoff?: { initialMs?: number; maxMs?: number };
  logger: Logger;
}

const WANTED_TRIES = 6;

/** Renewal on schedule (CertRenewer) plus the two ways a role change is noticed early. */
export class RoleWatch {
  readonly renewer: CertRenewer;
  private fallbackTimer: NodeJS.Timeout | undefined;
  private fallbackPauseMs: number;
  private fallbackNextAt = 0;
  private readonly clock: Clock;
  /** The role a session message named, until a CA answer agrees (a lagging follower may not). */
  private wanted: { role: NodeRoleName; tries: number } | undefined;

  constructor(private readonly o: RoleWatchOptions) {
    this.clock = o.clock ?? new RealClock();
    this.fallbackPauseMs = o.roleCheckMs ?? 3_000;
    this.renewer = new CertRenewer({
      clock: this.clock,
      random: o.random,
      current: () => {
        const pem = o.certPem();
        if (!pem) return { serial: '', notBeforeMs: Infinity, notAfterMs: Infinity }; // nothing to renew
        const info = certificateInfo(pem);
        return { serial: info.serial, notBeforeMs: info.notBeforeMs, notAfterMs: info.notAfterMs };
      },
      renew: (reason) => this.renew(reason),
      active: o.active,
      backoff: o.backoff,
      logger: o.logger,
    });
  }

  get nodeId(): string {
    return this.o.nodeId;
  }

  start(): void {
    this.renewer.start();
    const period = this.o.roleCheckMs ?? 3_000;
    this.fallbackTimer = setInterval(() => {
      try {
        this.checkStore();
      } catch (err) {
        this.o.logger.warn({ err: (err as Error).message }, 'role check from the local store failed');
      }
    }, period);
    this.fallbackTimer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.fallbackTimer);
    await this.renewer.stop();
  }

  /** From the agent: the managers' view of this node, sent again whenever it changes. */
  sessionMessage(msg: SessionMessage): void {
    if (msg.nodeId && msg.nodeId !== this.o.nodeId) return;
    const want = roleInSession(msg);
    const have = this.o.role();
    if (!want || !have || want === have || !this.o.active()) return;
    this.o.logger.info({ from: have, to: want }, 'the managers changed this node\'s role: renewing the certificate');
    this.wanted = { role: want, tries: 0 };
    this.renewer.renewNow(`role ${want} in session`);
  }

  private async renew(reason: string): Promise<void> {
    let answered: NodeRoleName;
    try {
      answered = await this.o.renew(reason);
    } catch (err) {
      const pem = this.o.certPem();
      const end = pem ? certificateInfo(pem).notAfterMs : Infinity;
      if (this.clock.now() < end) throw err;
      // no TLS handshake accepts it any more: only a new join helps (the renewer keeps trying in case of clock skew)
      throw new Error(
        `this node's certificate expired at ${new Date(end).toISOString()} and no manager accepts it (${(err as Error).message}); run \`shoal leave --force\` and join the cluster again`,
      );
    }
    const w = this.wanted;
    if (!w || answered === w.role) {
      this.wanted = undefined;
      return;
    }
    // the session said otherwise: ask again (with the renewer's backoff), a few times only
    if (++w.tries >= WANTED_TRIES) {
      this.wanted = undefined;
      return;
    }
    throw new Error(`the managers answered role ${answered} but the session named ${w.role}; asking again`);
  }

  private checkStore(): void {
    const role = this.o.role();
    if (role !== 'manager' || !this.o.active()) return;
    const period = this.o.roleCheckMs ?? 3_000;
    if (!roleMayChange(this.o.localNode(), role)) {
      this.fallbackPauseMs = period;
      this.fallbackNextAt = 0;
      return;
    }
    const now = this.clock.now();
    if (this.fallbackNextAt === 0) {
      // the session message usually tells first: ask the CA only if the change lingers
      this.fallbackNextAt = now + 2 * period;
      return;
    }
    if (now < this.fallbackNextAt) return;
    // the CA may still answer "manager" while the demotion is under way: ask less and less often
    this.fallbackNextAt = now + this.fallbackPauseMs;
    this.fallbackPauseMs = Math.min(60_000, this.fallbackPauseMs * 2);
    this.renewer.renewNow('role changing in the local store');
  }
}
