// The renewal schedule on a fake clock: a random point within 50-80% of the validity, at once
// when past it, retries with doubling backoff while no manager answers, long validities without
// timer overflow, renewNow for role changes; and how the role watch reacts to session messages
// and to a manager's own store (no CA call unless the role changes).
import fc from 'fast-check';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock, settle } from '../../manager/clock.js';
import { CertRenewer, renewalTime, type Validity } from '../../daemon/cert-renewal.js';
import { RoleWatch, roleMayChange } from '../../daemon/role-watch.js';
import { createNodeKeyAndCSR, createRootCA, signNodeCertificate } from '../../manager/ca/index.js';
import { NodeRole } from '../../proto/gen/types.js';

const log = pino({ level: process.env.SHOAL_TEST_LOG ?? 'silent' });
const S = 1_000;
const DAY = 86_400_000;

interface Rig {
  clock: FakeClock;
  renewer: CertRenewer;
  cert: Validity;
  calls: { at: number; reason: string }[];
  failNext: number;
}

const rigs: Rig[] = [];
afterEach(async () => {
  for (const r of rigs.splice(0)) await r.renewer.stop();
});

/** A renewer whose renew() issues a certificate of the same lifetime from "now" (or fails). */
function rig(o: { lifeMs: number; startAt?: number; random?: () => number; active?: () => boolean }): Rig {
  const clock = new FakeClock(Date.UTC(2026, 0, 1));
  const t0 = clock.now();
  let serial = 0;
  const r: Rig = {
    clock,
    cert: { serial: String(serial), notBeforeMs: t0, notAfterMs: t0 + o.lifeMs },
    calls: [],
    failNext: 0,
    renewer: undefined as unknown as CertRenewer,
  };
  r.renewer = new CertRenewer({
    clock,
    random: o.random ?? (() => 0.5),
    current: () => r.cert,
    renew: async (reason) => {
      r.calls.push({ at: clock.now() - t0, reason });
      if (r.failNext > 0) {
        r.failNext--;
        throw new Error('no manager answered');
      }
      r.cert = { serial: String(++serial), notBeforeMs: clock.now(), notAfterMs: clock.now() + o.lifeMs };
    },
    active: o.active,
    backoff: { initialMs: 1 * S, maxMs: 8 * S },
    logger: log,
  });
  rigs.push(r);
  return r;
}

describe('renewalTime', () => {
  it('is always within 50% to 80% of the validity', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 40 }), fc.integer({ min: 1, max: 2 ** 36 }), fc.double({ min: 0, max: 1, noNaN: true }), (from, life, r) => {
        const at = renewalTime({ notBeforeMs: from, notAfterMs: from + life }, r);
        return at >= from + 0.5 * life - 1e-6 && at <= from + 0.8 * life + 1e-6;
      }),
    );
    expect(renewalTime({ notBeforeMs: 0, notAfterMs: 100 }, 0)).toBe(50);
    expect(renewalTime({ notBeforeMs: 0, notAfterMs: 100 }, 1)).toBe(80);
  });
});

describe('CertRenewer on a fake clock', () => {
  it('renews once at the random point of each certificate, not before', async () => {
    const r = rig({ lifeMs: 100 * S, random: () => 0.5 }); // 65% of 100 s
    r.renewer.start();
    await r.clock.advance(64 * S);
    expect(r.calls).toEqual([]);
    await r.clock.advance(2 * S);
    expect(r.calls).toEqual([{ at: 65 * S, reason: 'due' }]);
    // the new certificate (from 65 s) is due at 65 + 65 = 130 s
    await r.clock.advance(63 * S);
    expect(r.calls.length).toBe(1);
    await r.clock.advance(2 * S);
    expect(r.calls.map((c) => c.at)).toEqual([65 * S, 130 * S]);
  });

  it('spreads renewals over 50-80% for any random draw', async () => {
    for (const draw of [0, 0.1, 0.37, 0.9, 0.999]) {
      const r = rig({ lifeMs: 1_000 * S, random: () => draw });
      r.renewer.start();
      const due = (0.5 + 0.3 * draw) * 1_000 * S;
      await r.clock.advance(due - 1);
      expect(r.calls, `draw ${draw}`).toEqual([]);
      await r.clock.advance(2);
      expect(r.calls.length, `draw ${draw}`).toBe(1);
      expect(r.calls[0]!.at).toBeGreaterThanOrEqual(500 * S);
      expect(r.calls[0]!.at).toBeLessThanOrEqual(800 * S + 1);
      await r.renewer.stop();
    }
  });

  it('renews at once when the certificate is already past its point (e.g. past 80%) at start', async () => {
    const r = rig({ lifeMs: 100 * S, random: () => 0.5 });
    await r.clock.advance(85 * S); // the node was down until 85% of the lifetime
    r.renewer.start();
    await settle();
    expect(r.calls).toEqual([{ at: 85 * S, reason: 'due' }]);
  });

  it('retries with doubling backoff while no manager answers, then goes back to the schedule', async () => {
    const r = rig({ lifeMs: 100 * S, random: () => 0.5 }); // jitter factor exactly 1
    r.failNext = 5;
    r.renewer.start();
    await r.clock.advance(65 * S);
    expect(r.calls.length).toBe(1);
    await r.clock.advance(1 * S + 2 * S + 4 * S + 8 * S + 8 * S); // 1, 2, 4, 8, then capped at 8
    expect(r.calls.map((c) => c.at / S)).toEqual([65, 66, 68, 72, 80, 88]);
    expect(r.calls.slice(1).every((c) => c.reason === 'retry')).toBe(true);
    expect(r.renewer.renewals).toBe(1);
    // renewed at 88 s: the next one is due at 88 + 65 s, no retry timer left behind
    await r.clock.advance(64 * S);
    expect(r.calls.length).toBe(6);
    await r.clock.advance(2 * S);
    expect(r.calls.length).toBe(7);
  });

  it('waits out a 90-day certificate without timer overflow (re-armed hourly)', async () => {
    const r = rig({ lifeMs: 90 * DAY, random: () => 0 });
    r.renewer.start();
    await r.clock.advance(45 * DAY - 1);
    expect(r.calls).toEqual([]);
    expect(r.clock.pendingTimers).toBe(1);
    await r.clock.advance(2);
    expect(r.calls.length).toBe(1);
  });

  it('renewNow renews at once whatever the schedule; requests before it runs make one', async () => {
    const r = rig({ lifeMs: 100 * S });
    r.renewer.start();
    await r.clock.advance(10 * S);
    r.renewer.renewNow('role manager in session');
    r.renewer.renewNow('role manager in session again');
    await settle();
    expect(r.calls).toEqual([{ at: 10 * S, reason: 'role manager in session' }]);
    await r.clock.advance(64 * S);
    expect(r.calls.length).toBe(1); // the new certificate (from 10 s) is due at 75 s
    await r.clock.advance(2 * S);
    expect(r.calls.length).toBe(2);
  });

  it('has nothing due without a certificate', async () => {
    const r = rig({ lifeMs: 100 * S });
    r.cert = { serial: '', notBeforeMs: Infinity, notAfterMs: Infinity };
    r.renewer.start();
    await r.clock.advance(10 * DAY);
    expect(r.calls).toEqual([]);
  });

  it('does not renew while the node is inactive (left, failed), and does once it is back', async () => {
    let active = false;
    const r = rig({ lifeMs: 100 * S, active: () => active });
    r.renewer.start();
    await r.clock.advance(90 * S);
    expect(r.calls).toEqual([]);
    active = true;
    await r.clock.advance(1 * S);
    expect(r.calls.length).toBe(1);
  });
});

describe('RoleWatch: role changes without polling the CA', () => {
  async function certPem(role: 'worker' | 'manager'): Promise<string> {
    const ca = await createRootCA({ clusterId: 'shoalcr-cluster' });
    const { csrPem } = await createNodeKeyAndCSR();
    return signNodeCertificate({ csrPem, nodeId: 'node-1', role, clusterId: 'shoalcr-cluster', ca, expiryMs: 90 * DAY });
  }

  it('renews when a session message names another role, and only then; asks again while a lagging manager disagrees', async () => {
    const pem = await certPem('worker');
    const clock = new FakeClock();
    const reasons: string[] = [];
    const answers: ('worker' | 'manager')[] = ['worker', 'worker', 'manager'];
    const w = new RoleWatch({
      nodeId: 'node-1',
      certPem: () => pem,
      role: () => 'worker',
      active: () => true,
      localNode: () => undefined,
      renew: async (reason) => {
        reasons.push(reason);
        return answers.shift() ?? 'manager';
      },
      clock,
      roleCheckMs: 60_000,
      logger: log,
    });
    w.start();
    try {
      const msg = (role: NodeRole) => ({ sessionId: 's', nodeId: 'node-1', managers: [], heartbeatPeriod: undefined, node: { role } as never });
      for (let i = 0; i < 5; i++) w.sessionMessage(msg(NodeRole.WORKER));
      await clock.advance(1 * DAY); // 90-day certificate: nothing due
      expect(reasons).toEqual([]);
      w.sessionMessage(msg(NodeRole.MANAGER));
      await settle();
      expect(reasons).toEqual(['role manager in session']);
      // the first two answers (a follower whose store lags) still say worker: retried with backoff
      await clock.advance(60_000);
      expect(reasons).toEqual(['role manager in session', 'retry', 'retry']);
      await clock.advance(1 * DAY);
      expect(reasons.length).toBe(3); // the managers agreed: back to the 90-day schedule
      w.sessionMessage({ ...msg(NodeRole.MANAGER), nodeId: 'someone-else' });
      await settle();
      expect(reasons.length).toBe(3);
    } finally {
      await w.stop();
    }
  });

  it("a manager whose store shows its role changing asks the CA itself if no session message came", async () => {
    const pem = await certPem('manager');
    const reasons: string[] = [];
    let desiredRole = NodeRole.MANAGER;
    const w = new RoleWatch({
      nodeId: 'node-1',
      certPem: () => pem,
      role: () => 'manager',
      active: () => true,
      localNode: () => ({ role: NodeRole.MANAGER, spec: { desiredRole } as never }),
      renew: async (reason) => {
        reasons.push(reason);
        return 'manager';
      },
      roleCheckMs: 20, // real time, short
      logger: log,
    });
    w.start();
    try {
      await new Promise((r) => setTimeout(r, 200));
      expect(reasons).toEqual([]); // nothing changing: no CA call
      desiredRole = NodeRole.WORKER;
      const end = Date.now() + 10_000;
      while (reasons.length === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
      expect(reasons[0]).toBe('role changing in the local store');
    } finally {
      await w.stop();
    }
  });

  it("a manager's own store: a wanted or recorded role that differs from the certificate's", () => {
    const node = (role: NodeRole, desiredRole: NodeRole) => ({ role, spec: { desiredRole } as never });
    expect(roleMayChange(node(NodeRole.MANAGER, NodeRole.MANAGER), 'manager')).toBe(false);
    expect(roleMayChange(node(NodeRole.MANAGER, NodeRole.WORKER), 'manager')).toBe(true); // demotion under way
    expect(roleMayChange(node(NodeRole.WORKER, NodeRole.WORKER), 'manager')).toBe(true);
    expect(roleMayChange(undefined, 'manager')).toBe(false);
  });
});
