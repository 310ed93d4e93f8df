// The agent's session loop against real dispatchers on loopback (no containers): it follows a
// follower's "not leader: <addr>" to the leader, and moves to another manager when its own dies.
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { NodeDescription, NodeStatus_State } from '../../../proto/gen/types.js';
import { SessionLoop, leaderFrom } from '../../../agent/session/index.js';
import { insecure, nodeMetadata, startManager, until, type TestManager } from './manager.js';

const managers: TestManager[] = [];
const loops: SessionLoop[] = [];
afterEach(async () => {
  for (const l of loops.splice(0)) await l.stop();
  for (const m of managers.splice(0)) await m.kill();
});

function loopFor(addrs: string[], nodeId: string): { loop: SessionLoop; sessions: string[] } {
  const sessions: string[] = [];
  const loop = new SessionLoop({
    managers: addrs,
    credentials: insecure,
    metadata: nodeMetadata(nodeId),
    description: () => NodeDescription.fromPartial({ hostname: `host-${nodeId}` }),
    onSession: (m, first) => {
      if (first) sessions.push(m.sessionId);
    },
    onAssignments: () => undefined,
    logger: pino({ level: 'silent' }),
    backoff: { initialMs: 20, maxMs: 200 },
  });
  loops.push(loop);
  return { loop, sessions };
}

describe('SessionLoop', () => {
  it('parses the leader out of a follower refusal only', () => {
    expect(leaderFrom({ code: 14, details: 'not leader: 10.0.0.1:4243' })).toBe('10.0.0.1:4243');
    expect(leaderFrom({ code: 14, details: 'not leader: ' })).toBe('');
    expect(leaderFrom({ code: 14, details: 'connection refused' })).toBeNull();
    expect(leaderFrom(new Error('x'))).toBeNull();
  });

  it('goes from a follower to the leader it names', async () => {
    const leader = await startManager();
    leader.lead();
    const follower = await startManager({ leaderAddr: () => leader.addr });
    managers.push(leader, follower);
    const { loop, sessions } = loopFor([follower.addr], 'n1');
    loop.start();
    await until(() => loop.session !== undefined, 'session with the leader');
    expect(sessions).toHaveLength(1);
    expect(leader.store.view((tx) => tx.nodes.get('n1')?.status?.state)).toBe(NodeStatus_State.READY);
    expect(follower.store.view((tx) => tx.nodes.get('n1'))).toBeUndefined();
  });

  it('moves to another manager of its list when its manager dies or steps down', async () => {
    const a = await startManager();
    const b = await startManager();
    managers.push(a, b);
    a.lead();
    const { loop, sessions } = loopFor([a.addr, b.addr], 'n1');
    loop.start();
    await until(() => sessions.length === 1, 'first session');
    await a.stepDown(); // refuses with "not leader: " and no address: try the next one
    b.lead();
    await until(() => sessions.length === 2 && loop.session !== undefined, 'session with b');
    expect(b.store.view((tx) => tx.nodes.get('n1')?.status?.state)).toBe(NodeStatus_State.READY);
    a.lead();
    await b.kill();
    await until(() => sessions.length === 3 && loop.session !== undefined, 'session with a again');
    expect(a.dispatcher.sessionCount).toBe(1);
  });
});
