// The secret, config and network rpcs on three managers sharing a real Raft log (RaftBinding,
// real WALs, Raft over loopback gRPC), each serving Control on its own unix socket: writes sent
// to a follower are forwarded to the leader, committed, and applied on every manager.
import { mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { status, type ServiceError } from '@grpc/grpc-js';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { CreateSecretResponse, GetSecretResponse } from '../../../proto/gen/control.js';
import { RealClock } from '../../../manager/clock.js';
import { RaftNode } from '../../../manager/raft/node/index.js';
import { RaftBinding } from '../../../manager/store/index.js';
import { call, startControl, type ControlHarness } from './harness.js';
import { replicatedSpec } from './specs.js';
import { freePorts } from '../../helpers/ports.js';
import { waitFor } from '../../helpers/wait.js';

const quiet = pino({ level: 'silent' });

interface Member {
  id: bigint;
  binding: RaftBinding;
  node: RaftNode<bigint>;
  control?: ControlHarness;
}

let members: Member[] = [];
let dir = '';
afterEach(async () => {
  for (const m of members) await m.control?.close();
  await Promise.all(members.map((m) => m.node.stop().catch(() => undefined)));
  members = [];
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = '';
});

describe('secrets, configs and networks on a Raft cluster', () => {
  it('are forwarded by followers, replicated to every manager, and refused removal on any of them while used', async () => {
    dir = await mkdtemp('/tmp/shoalsec-raft-');
    const ports = await freePorts(3);
    const peers = new Map(ports.map((p, i) => [BigInt(i + 1), `127.0.0.1:${p}`]));
    for (const [id, addr] of peers) {
      const binding = new RaftBinding({ clock: new RealClock() });
      const node = await RaftNode.start<bigint>({ id, clusterId: 'shoalsec-objects', dir: path.join(dir, `m${id}`), listen: addr, peers, stateMachine: binding.stateMachine, logger: quiet });
      binding.attach(node);
      members.push({ id, binding, node });
    }
    const leader = (): Member | undefined => {
      const ls = members.filter((m) => m.node.status().role === 'leader');
      return ls.length === 1 && members.every((m) => m.node.status().leader === ls[0]!.id) ? ls[0] : undefined;
    };
    await waitFor('a leader', () => !!leader());
    // The harness writes the cluster object and nodes through the leader; followers add nothing.
    const first = leader()!;
    for (const m of [first, ...members.filter((x) => x !== first)]) {
      if (m !== first) await waitFor('cluster object replicated', () => m.binding.store.view((tx) => tx.nodes.all().length === 3));
      m.control = await startControl({
        store: m.binding.store,
        nodes: m === first ? undefined : [],
        components: false,
        bind: `unix:${path.join(dir, `control${m.id}.sock`)}`,
        deps: { isLeader: () => m.node.status().role === 'leader', leaderClient: () => leader()?.control?.client ?? null },
      });
    }
    const l = leader()!;
    const [f1, f2] = members.filter((m) => m !== l) as [Member, Member];

    const created = await call<unknown, CreateSecretResponse>(f1.control!.client, 'createSecret', { spec: { annotations: { name: 'db', labels: {} }, data: Buffer.from('s3cret') } });
    const id = created.secret!.id;
    expect(created.secret!.spec!.data).toHaveLength(0);
    await call(f1.control!.client, 'createConfig', { spec: { annotations: { name: 'app.conf', labels: {} }, data: Buffer.from('x=1') } });
    await call(f2.control!.client, 'createNetwork', { spec: { annotations: { name: 'back', labels: {} } } });
    await waitFor('replicated everywhere', () =>
      members.every((m) => m.binding.store.view((tx) => tx.secrets.get(id) !== undefined && tx.configs.all().length === 1 && tx.networks.all().length === 1)),
    );
    for (const m of members) expect(Buffer.from(m.binding.store.view((tx) => tx.secrets.get(id)!.spec!.data)).toString()).toBe('s3cret');
    const got = await call<unknown, GetSecretResponse>(f2.control!.client, 'getSecret', { secretId: 'db' });
    expect(got.secret!.id).toBe(id);
    expect(got.secret!.spec!.data).toHaveLength(0);

    // A name taken on the leader is taken for every follower's client too.
    const dup = (await call(f2.control!.client, 'createSecret', { spec: { annotations: { name: 'DB', labels: {} }, data: Buffer.from('x') } }).catch((e: unknown) => e)) as ServiceError;
    expect(dup.code).toBe(status.ALREADY_EXISTS);
    expect(dup.details).toMatch(/^secret "DB" already exists/);

    const spec = replicatedSpec('web', 1, (s) => {
      s.task!.container!.secrets = [{ secretId: id, secretName: 'db', file: undefined }];
      s.task!.networks = [{ target: 'back', aliases: [] }];
    });
    await call(f1.control!.client, 'createService', { spec });
    await waitFor('service everywhere', () => members.every((m) => m.binding.store.view((tx) => tx.services.find('name', 'web').length === 1)));
    const refused = (await call(f2.control!.client, 'removeSecret', { secretId: id }).catch((e: unknown) => e)) as ServiceError;
    expect(refused.code).toBe(status.FAILED_PRECONDITION);
    expect(refused.details).toMatch(/secret "db" is in use by service web/);
    const netRefused = (await call(f1.control!.client, 'removeNetwork', { networkId: 'back' }).catch((e: unknown) => e)) as ServiceError;
    expect(netRefused.details).toMatch(/network "back" is in use by service web/);

    await call(f2.control!.client, 'removeService', { serviceId: 'web' });
    await call(f2.control!.client, 'removeSecret', { secretId: id });
    await call(f1.control!.client, 'removeNetwork', { networkId: 'back' });
    await waitFor('removed everywhere', () => members.every((m) => m.binding.store.view((tx) => tx.secrets.all().length === 0 && tx.networks.all().length === 0)));
  });
});
