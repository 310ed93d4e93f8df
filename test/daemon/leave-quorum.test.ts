// The words of a manager's leave: when it costs the quorum, and the refusal without --force.
import { describe, expect, it } from 'vitest';
import { managerLeaveRefusal, quorumRisk } from '../../daemon/leave-raft.js';

describe('manager leave: quorum arithmetic', () => {
  it('names no risk while the remaining reachable managers keep a quorum', () => {
    expect(quorumRisk({ total: 3, reachable: 3 })).toBeUndefined(); // 2 of 2
    expect(quorumRisk({ total: 2, reachable: 2 })).toBeUndefined(); // 1 of 1
    expect(quorumRisk({ total: 5, reachable: 4 })).toBeUndefined(); // 3 of 4
  });

  it('names the risk when too few would remain reachable, and the last manager', () => {
    expect(quorumRisk({ total: 3, reachable: 2 })).toMatch(/leaves 1 reachable manager\(s\) of 2, fewer than the 2 a quorum needs/);
    expect(quorumRisk({ total: 2, reachable: 1 })).toMatch(/leaves 0 reachable manager\(s\) of 1/);
    expect(quorumRisk({ total: 5, reachable: 3 })).toMatch(/leaves 2 reachable manager\(s\) of 4, fewer than the 3/);
    expect(quorumRisk({ total: 1, reachable: 1 })).toMatch(/last manager/);
  });

  it('refuses with the fix: demote first or --force', () => {
    const plain = managerLeaveRefusal('n1', { total: 3, reachable: 3 });
    expect(plain).toMatch(/^this node is a manager: leaving would take one of the cluster's 3 manager\(s\) away\. /);
    expect(plain).toContain('`shoal node demote n1`');
    expect(plain).toContain('`shoal leave --force`');
    expect(managerLeaveRefusal('n1', { total: 1, reachable: 1 })).toMatch(/last manager.*whole state/);
  });
});
