// A manager joining a running cluster asks the leader (following "not leader: ADDR" refusals)
import { Metadata, type ServiceError } from '@grpc/grpc-js';
// to add it to the Raft group, authenticated by its fresh manager certificate.
import { RaftMembershipClient, type JoinRaftResponse } from '../proto/gen/ca.js';
import { clientCredentials, type NodeCertificates } from '../manager/ca/index.js';
import { leaderFromError } from '../manager/dispatcher/index.js';
import { withApiPort } from '../manager/node/index.js';


export async function joinRaft(remote: string, certs: NodeCertificates, advertise: string, timeoutMs = 30_000): Promise<JoinRaftResponse> {
  const creds = clientCredentials(certs);
  const end = Date.now() + timeoutMs;
  let addr = remote;
  let lastErr: unknown;
  while (Date.now() < end) {
    const client = new RaftMembershipClient(addr, creds);
    try {
      return await new Promise<JoinRaftResponse>((resolve, reject) =>
        client.join({ addr: advertise }, new Metadata(), { deadline: new Date(Date.now() + 10_000) }, (e: ServiceError | null, r: JoinRaftResponse) => (e ? reject(e) : resolve(r))),
      );
    } catch (err) {
      lastErr = err;
      const leader = leaderFromError(err);
      if (leader) addr = withApiPort(leader);
      else if (leader === null && (err as ServiceError).code !== 14) throw err; // anything but UNAVAILABLE is final
      await new Promise((r) => setTimeout(r, 200));
    } finally {
      client.close();
    }
  }
  throw Object.assign(new Error(`could not join the managers' Raft group via ${remote}: ${(lastErr as Error)?.message ?? 'timed out'}`), { userError: true as const });
}

/** Node id -> raft id of the members the leader listed: whom the new member's Raft port accepts
 *  until the leader's snapshot fills its store (manager/node/raft-peers.ts). */
export function membersByNode(j: JoinRaftResponse): Map<string, bigint> {
  return new Map(j.members.filter((m) => m.nodeId !== '').map((m) => [m.nodeId, m.raftId]));
}
