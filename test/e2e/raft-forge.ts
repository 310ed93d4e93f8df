// The attacker of raft-auth.test.ts, run inside a lab host (the Raft port is reachable only from
// there): with node certificates read from stdin, it sends the leader's Raft port one forged
// MsgProp per attempt, each carrying a valid store proposal that creates a global service (or,
// for kind 'control', asks the leader's Control API to create that service), and prints what
// the ports answered (one JSON line). Only the test imports it, for its types.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { clientCredentials, type NodeCertificates } from '../../manager/ca/index.js';
import { wrapProposal } from '../../manager/raft/node/envelope.js';
import { GRPC_CHANNEL_OPTIONS } from '../../manager/raft/transport/options.js';
import { MemoryStore } from '../../manager/store/index.js';
import { type Message, MessageType, RaftTransportClient } from '../../proto/gen/raft.js';
import { ControlClient } from '../../proto/gen/control.js';
import { Service, ServiceSpec } from '../../proto/gen/types.js';

export interface ForgeAttempt {
  label: string;
  kind?: 'raft' | 'control'; // default raft
  certs: NodeCertificates;
  from?: string; // raft ids as decimal strings (JSON has no bigint); raft attempts only
  service: string; // the name of the service the forged proposal creates
}

export interface ForgeRequest {
  target: string; // the leader's Raft address, host:port
  controlTarget: string; // the leader's cluster API address, host:port
  to: string;
  clusterId: string;
  attempts: ForgeAttempt[];
}

export interface ForgeOutcome {
  label: string;
  accepted: boolean;
  code?: number;
  details?: string;
}

function serviceSpec(name: string): ServiceSpec {
  return ServiceSpec.fromPartial({
    annotations: { name },
    task: { container: { image: 'busybox:latest', args: ['sleep', '100000'], mounts: [{ source: '/', target: '/host', type: 0 }] } },
    mode: { $case: 'global', value: {} },
  });
}

/** The bytes a manager's store would propose to create `name`: a global service with host `/`. */
async function createServiceProposal(name: string): Promise<Uint8Array> {
  let data: Uint8Array | undefined;
  const store = new MemoryStore({
    proposer: {
      propose: (d) => {
        data = d;
        return Promise.reject(new Error('captured'));
      },
    },
  });
  await store
    .update((tx) =>
      tx.services.create(
        Service.fromPartial({ id: `forged${randomBytes(6).toString('hex')}`, spec: serviceSpec(name) }),
      ),
    )
    .catch(() => undefined);
  if (!data) throw new Error('the store proposed nothing');
  return data;
}

async function controlAttempt(req: ForgeRequest, a: ForgeAttempt): Promise<ForgeOutcome> {
  const client = new ControlClient(req.controlTarget, clientCredentials(a.certs));
  try {
    return await new Promise<ForgeOutcome>((resolve) =>
      client.createService({ spec: serviceSpec(a.service) }, (err) => resolve(err ? { label: a.label, accepted: false, code: err.code, details: err.details } : { label: a.label, accepted: true })),
    );
  } finally {
    client.close();
  }
}

async function attempt(req: ForgeRequest, a: ForgeAttempt): Promise<ForgeOutcome> {
  if (a.kind === 'control') return controlAttempt(req, a);
  const from = BigInt(a.from ?? '0');
  const entry = wrapProposal(from, 1n, await createServiceProposal(a.service));
  const m: Message = {
    type: MessageType.MSG_PROP, to: BigInt(req.to), from, term: 0n, logTerm: 0n, index: 0n, commit: 0n, snapshot: undefined,
    entries: [{ term: 0n, index: 0n, type: 0, data: entry }], reject: false, rejectHint: 0n, context: Buffer.alloc(0), clusterId: req.clusterId,
  };
  const client = new RaftTransportClient(req.target, clientCredentials(a.certs), GRPC_CHANNEL_OPTIONS);
  try {
    return await new Promise<ForgeOutcome>((resolve) => {
      const call = client.send((err, ack) => resolve(err ? { label: a.label, accepted: false, code: err.code, details: err.details } : { label: a.label, accepted: (ack?.received ?? 0n) > 0n }));
      call.on('error', () => {});
      call.write({ messages: [m] });
      call.end();
    });
  } finally {
    client.close();
  }
}

const req = JSON.parse(readFileSync(0, 'utf8')) as ForgeRequest;
const out: ForgeOutcome[] = [];
for (const a of req.attempts) out.push(await attempt(req, a));
process.stdout.write(`${JSON.stringify(out)}\n`);
process.exit(0);
