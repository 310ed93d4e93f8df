// The Raft port under attack on a lab cluster (3 managers + 1 worker, real daemons): from inside
// the worker's host, raft-forge.ts sends the leader forged MsgProps that would create a global
// service mounting the host's `/`, using a worker's certificate, a manager's certificate that
// claims another member's id (or its own: managers do not forward proposals), and (after its
// demotion) a demoted manager's old certificate, which must not open the Control API either.
// The attacker is given the real member ids (the worst case). Every attempt must be refused
// without any member id in the answer, and no forged service may reach the store: a legitimate
// write made after the attacks is applied after anything they could have appended.
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { NodeCertificates } from '../../manager/ca/index.js';
import { NodeRole, type Node, type Service } from '../../proto/gen/types.js';
import { labSuite, until } from './cluster.js';
import type { ForgeAttempt, ForgeOutcome } from './raft-forge.js';

const REPO = resolve(import.meta.dirname, '../..');
const MANAGERS = ['h1', 'h2', 'h3'];
const lab = labSuite({ name: 'shoalrae2e', subnet: '10.231.71.0/24', hosts: 4, managers: 3, tmpPrefix: 'shoalra-' });

interface Member {
  host: string;
  nodeId: string;
  raftId: bigint;
}

async function certsOf(host: string): Promise<NodeCertificates> {
  const dir = join(lab.c.host(host).root, 'certificates');
  const [keyPem, certPem, rootPem] = await Promise.all(['node.key', 'node.crt', 'root.crt'].map((f) => readFile(join(dir, f), 'utf8')));
  return { keyPem: keyPem!, certPem: certPem!, rootPem: rootPem! };
}

async function nodes(): Promise<Node[]> {
  return (await lab.c.control<{ nodes: Node[] }>('h1', 'listNodes', {})).nodes;
}

/** The managers as the store records them, with the host each runs on. */
async function members(): Promise<Member[]> {
  return (await nodes())
    .filter((n) => n.role === NodeRole.MANAGER && (n.managerStatus?.raftId ?? 0n) !== 0n)
    .map((n) => ({ host: n.description?.hostname ?? '', nodeId: n.id, raftId: n.managerStatus!.raftId }));
}

/** Runs the attacker in the worker's host against the current leader's Raft port. */
async function attack(attempts: ForgeAttempt[]): Promise<{ outcomes: ForgeOutcome[]; leader: Member }> {
  const leaderHost = await lab.c.leader(MANAGERS.filter((h) => !demoted.has(h)));
  const leader = (await members()).find((m) => m.host === leaderHost)!;
  const clusterId = (await lab.c.info('h1')).clusterId;
  const target = `${lab.c.host(leaderHost).addr}:4244`; // the Raft port: API port + 1
  const controlTarget = lab.c.addr(leaderHost);
  const input = JSON.stringify({ target, controlTarget, to: leader.raftId.toString(), clusterId, attempts });
  const r = await lab.c.lab.exec('h4', [process.execPath, '--import', 'tsx', join(REPO, 'test/e2e/raft-forge.ts')], { input, cwd: REPO, timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`the attacker failed (${r.code}): ${r.stderr}`);
  return { outcomes: JSON.parse(r.stdout.trim().split('\n').pop()!) as ForgeOutcome[], leader };
}

const forged: string[] = [];
const allRaftIds = new Set<string>();
const demoted = new Set<string>();

/** Every attempt refused by the member check (the TLS handshake passed), naming no member id. */
function expectRefused(outcomes: ForgeOutcome[], n: number): void {
  expect(outcomes.length).toBe(n);
  const problems: string[] = [];
  for (const o of outcomes) {
    if (o.accepted || o.code === undefined) problems.push(`${o.label}: accepted`);
    else if (o.code !== 7) problems.push(`${o.label}: refused with code ${o.code}, not PERMISSION_DENIED (${o.details})`);
    if ([...allRaftIds].some((id) => o.details?.includes(id))) problems.push(`${o.label}: the refusal names a member id (${o.details})`);
  }
  expect(problems).toEqual([]);
}

/** Nothing forged is in the store: checked after a write of our own has been applied. */
async function expectNoForgedService(marker: string): Promise<void> {
  await lab.c.createService('h1', marker, { replicas: 0 });
  const names = await until(async () => {
    const r = await lab.c.control<{ services: Service[] }>('h1', 'listServices', {});
    const all = r.services.map((s) => s.spec?.annotations?.name ?? '');
    return all.includes(marker) ? all : undefined;
  }, `service ${marker}`);
  expect(names.filter((n) => forged.includes(n))).toEqual([]);
}

describe('e2e: the Raft port accepts only current managers, each for its own member id', () => {
  it('refuses a worker certificate, a manager forging another member, and proposals from a follower; nothing reaches the store', async () => {
    const ms = await members();
    expect(ms.map((m) => m.host).sort()).toEqual(MANAGERS);
    for (const m of ms) allRaftIds.add(m.raftId.toString());
    const leaderHost = await lab.c.leader(MANAGERS);
    const [f1, f2] = ms.filter((m) => m.host !== leaderHost);
    const worker = await certsOf('h4');
    const f1Certs = await certsOf(f1!.host);
    const attempts: ForgeAttempt[] = [
      ...ms.map((m) => ({ label: `worker as ${m.host}`, certs: worker, from: m.raftId.toString(), service: `shoalra-worker-${m.host}` })),
      { label: `manager ${f1!.host} as ${f2!.host}`, certs: f1Certs, from: f2!.raftId.toString(), service: 'shoalra-forger' },
      // its own id, but managers do not forward proposals (the control API forwards requests)
      { label: `manager ${f1!.host} as itself`, certs: f1Certs, from: f1!.raftId.toString(), service: 'shoalra-own-proposal' },
    ];
    forged.push(...attempts.map((a) => a.service));
    const { outcomes } = await attack(attempts);
    await expectNoForgedService('shoalra-marker-1');
    expectRefused(outcomes, attempts.length);
  }, 180_000);

  it('refuses a demoted manager whose old manager certificate is still valid, on the Raft port and the Control API', async () => {
    const ms = await members();
    const leaderHost = await lab.c.leader(MANAGERS);
    const victim = ms.find((m) => m.host !== leaderHost)!;
    const other = ms.find((m) => m.host !== leaderHost && m !== victim)!;
    const oldCerts = await certsOf(victim.host); // kept by the attacker before the demotion
    await lab.c.updateNodeSpec('h1', victim.nodeId, (spec) => ({ ...spec, desiredRole: NodeRole.WORKER }));
    demoted.add(victim.host);
    await until(async () => {
      const i = await lab.c.info(victim.host);
      const now = await members();
      return i.role === NodeRole.WORKER && now.length === 2 && !now.some((m) => m.nodeId === victim.nodeId);
    }, `${victim.host} demoted`, 120_000);
    const attempts: ForgeAttempt[] = [
      { label: 'demoted manager as itself', certs: oldCerts, from: victim.raftId.toString(), service: 'shoalra-demoted-self' },
      { label: `demoted manager as ${other.host}`, certs: oldCerts, from: other.raftId.toString(), service: 'shoalra-demoted-other' },
      // the same certificate on the cluster API port: the store's role counts, not the certificate's
      { label: 'demoted manager on the Control API', kind: 'control', certs: oldCerts, service: 'shoalra-demoted-control' },
    ];
    forged.push(...attempts.map((a) => a.service));
    const { outcomes } = await attack(attempts);
    await expectNoForgedService('shoalra-marker-2');
    expectRefused(outcomes, attempts.length);
  }, 240_000);
});
