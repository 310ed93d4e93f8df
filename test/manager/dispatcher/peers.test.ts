// Overlay peers on the assignments stream: each node hears, per network it has a task on, the
// other up nodes' underlay addresses and their tasks' addresses (/32); a node going down is
// withdrawn and comes back; a stopped task's address goes; a new stream starts with the full set.
import { afterEach, describe, expect, it } from 'vitest';
import type { AssignmentsMessage, OverlayPeer } from '../../../proto/gen/dispatcher.js';
import { NodeStatus_State, Task, TaskState } from '../../../proto/gen/types.js';
import { withState } from '../store/fixtures.js';
import { makeHarness, until, type Collected, type Harness } from './harness.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

/** The peer lists an agent holds after applying the stream's messages in order. */
function peersSeen(a: Collected<AssignmentsMessage>): Map<string, OverlayPeer[]> {
  const out = new Map<string, OverlayPeer[]>();
  let version = 0n;
  for (const m of a.messages) {
    const p = m.peers;
    if (!p) continue;
    expect(p.version).toBeGreaterThan(version);
    version = p.version;
    if (p.full) out.clear();
    for (const n of p.networks) {
      if (n.peers.length === 0) out.delete(n.networkId);
      else out.set(n.networkId, n.peers);
    }
  }
  return out;
}

function task(id: string, nodeId: string, nets: [string, string][], state = TaskState.ASSIGNED): Task {
  return Task.fromPartial({
    id,
    serviceId: 'svc',
    slot: 1,
    nodeId,
    desiredState: TaskState.RUNNING,
    status: { state },
    networks: nets.map(([networkId, addr]) => ({ networkId, addresses: [`${addr}/24`], vni: 4096, subnet: '10.0.1.0/24', gateway: '10.0.1.1' })),
  });
}

const json = (v: unknown): string => JSON.stringify(v);

describe('overlay peers in assignments', () => {
  it('per network: the other nodes and their addresses; down nodes withdrawn and back; stopped tasks gone', async () => {
    h = await makeHarness();
    const hh = h;
    h.start();
    const ids = ['n1', 'n2', 'n3'];
    const streams = new Map<string, Collected<AssignmentsMessage>>();
    for (const id of ids) {
      const c = h.client(id);
      const s = c.session(id);
      await until(() => s.messages.length > 0, `${id} session`);
      const a = c.assignments(s.messages[0]!.sessionId);
      await until(() => a.messages.length > 0, `${id} complete set`);
      expect(a.messages[0]!.peers?.full).toBe(true);
      streams.set(id, a);
    }
    // where each node is on the underlay (the dispatcher saw them all on loopback)
    await h.store.update((tx) => {
      for (const [i, id] of ids.entries()) {
        const n = tx.nodes.get(id)!;
        tx.nodes.update({ ...n, status: { ...n.status!, addr: `192.168.5.${i + 1}` } });
      }
    });
    await h.store.update((tx) => {
      tx.tasks.create(task('t1', 'n1', [['netA', '10.0.1.2']]));
      tx.tasks.create(task('t2', 'n2', [['netA', '10.0.1.3']]));
      tx.tasks.create(task('t2b', 'n2', [['netA', '10.0.1.5'], ['netB', '10.0.2.5']]));
      tx.tasks.create(task('t3', 'n3', [['netB', '10.0.2.2']]));
      tx.tasks.create(task('pending', 'n3', [['netA', '10.0.1.9']], TaskState.PENDING));
    });
    const [a1, a2, a3] = ids.map((id) => streams.get(id)!) as [Collected<AssignmentsMessage>, Collected<AssignmentsMessage>, Collected<AssignmentsMessage>];
    const want1 = json([['netA', [{ nodeId: 'n2', underlayAddress: '192.168.5.2', prefixes: ['10.0.1.3/32', '10.0.1.5/32'] }]]]);
    await until(() => json([...peersSeen(a1)]) === want1, 'n1 sees n2 on netA');
    const want2 = json([
      ['netA', [{ nodeId: 'n1', underlayAddress: '192.168.5.1', prefixes: ['10.0.1.2/32'] }]],
      ['netB', [{ nodeId: 'n3', underlayAddress: '192.168.5.3', prefixes: ['10.0.2.2/32'] }]],
    ]);
    await until(() => json([...peersSeen(a2)].sort()) === want2, 'n2 sees n1 on netA and n3 on netB');
    // n3 has no task on netA placed yet: it is told nothing of it
    await until(() => json([...peersSeen(a3)]) === json([['netB', [{ nodeId: 'n2', underlayAddress: '192.168.5.2', prefixes: ['10.0.2.5/32'] }]]]), 'n3 sees n2 on netB');

    // n2 goes down: withdrawn from n1 and n3; back: returned
    const setState = (state: NodeStatus_State) =>
      hh.store.update((tx) => {
        const n = tx.nodes.get('n2')!;
        tx.nodes.update({ ...n, status: { ...n.status!, state } });
      });
    await setState(NodeStatus_State.DOWN);
    await until(() => peersSeen(a1).size === 0 && peersSeen(a3).size === 0, 'n2 withdrawn');
    await setState(NodeStatus_State.READY);
    await until(() => json([...peersSeen(a1)]) === want1, 'n2 back for n1');

    // a task that stopped gives its address back
    await h.store.update((tx) => tx.tasks.update(withState(tx.tasks.get('t2b')!, TaskState.COMPLETE) as Task));
    await until(() => json(peersSeen(a1).get('netA')?.[0]?.prefixes) === json(['10.0.1.3/32']), 'n1 loses 10.0.1.5');
    await until(() => peersSeen(a3).size === 0, 'n3 has no peer on netB left');

    // a new stream starts with the full lists
    const c = h.client('n1');
    const s = c.session('n1');
    await until(() => s.messages.length > 0, 'n1 new session');
    const again = c.assignments(s.messages[0]!.sessionId);
    await until(() => again.messages.length > 0, 'n1 new complete set');
    expect(again.messages[0]!.peers?.full).toBe(true);
    expect(json([...peersSeen(again)])).toBe(json([['netA', [{ nodeId: 'n2', underlayAddress: '192.168.5.2', prefixes: ['10.0.1.3/32'] }]]]));
  });
});
