// Computes the configuration that results from a ConfChange without mutating the live one:
// a single-voter change applies directly; several changes enter a joint configuration
// (C_old,new) that is left by a later empty change. Invalid transitions throw ConfChangeError.
import { type ConfChangeItem, ConfChangeType } from '../../../proto/gen/raft.js';
import { ConfChangeError } from '../errors.js';
import { Progress } from '../tracker/progress.js';
import { cloneConfig, type TrackerConfig } from '../tracker/tracker.js';

export interface ChangeResult {
  config: TrackerConfig;
  progress: Map<bigint, Progress>;
}

export class Changer {
  constructor(
    private readonly config: TrackerConfig,
    private readonly progress: Map<bigint, Progress>,
    private readonly lastIndex: bigint,
    private readonly maxInflight: number,
  ) {}

  /** Applies changes that alter at most one voter, outside a joint configuration. */
  simple(items: ConfChangeItem[]): ChangeResult {
    if (this.config.voters.outgoing.size > 0) throw new ConfChangeError('a joint configuration is in effect; leave it first (empty change)');
    const r = this.applied(items);
    let diff = 0;
    for (const id of r.config.voters.incoming) if (!this.config.voters.incoming.has(id)) diff++;
    for (const id of this.config.voters.incoming) if (!r.config.voters.incoming.has(id)) diff++;
    if (diff > 1) throw new ConfChangeError('more than one voter changed; use a joint change (several items in one ConfChange)');
    check(r.config);
    return r;
  }

  /** Enters C_old,new: outgoing = current voters, incoming = current voters with changes applied. */
  enterJoint(autoLeave: boolean, items: ConfChangeItem[]): ChangeResult {
    if (this.config.voters.outgoing.size > 0) throw new ConfChangeError('already in a joint configuration');
    if (this.config.voters.incoming.size === 0) throw new ConfChangeError('cannot enter a joint configuration from an empty one');
    const base = cloneConfig(this.config);
    base.voters.outgoing = new Set(base.voters.incoming);
    const r = new Changer(base, this.progress, this.lastIndex, this.maxInflight).applied(items);
    r.config.autoLeave = autoLeave;
    check(r.config);
    return r;
  }

  leaveJoint(): ChangeResult {
    if (this.config.voters.outgoing.size === 0) throw new ConfChangeError('not in a joint configuration');
    const config = cloneConfig(this.config);
    const progress = new Map(this.progress);
    for (const id of config.learnersNext) {
      config.learners.add(id);
      const pr = progress.get(id);
      if (pr) { const c = pr.clone(); c.isLearner = true; progress.set(id, c); }
    }
    config.learnersNext.clear();
    for (const id of config.voters.outgoing) {
      if (!config.voters.incoming.has(id) && !config.learners.has(id)) progress.delete(id);
    }
    config.voters.outgoing.clear();
    config.autoLeave = false;
    check(config);
    return { config, progress };
  }

  private applied(items: ConfChangeItem[]): ChangeResult {
    const config = cloneConfig(this.config);
    const progress = new Map(this.progress);
    const ensure = (id: bigint, learner: boolean): void => {
      const pr = progress.get(id);
      if (pr) {
        if (pr.isLearner !== learner) { const c = pr.clone(); c.isLearner = learner; progress.set(id, c); }
        return;
      }
      const np = new Progress(this.lastIndex, this.maxInflight, learner);
      np.recentActive = true; // a new member gets an election timeout before it counts as down
      progress.set(id, np);
    };
    for (const it of items) {
      if (it.nodeId === 0n) continue; // etcd-style no-op item
      switch (it.type) {
        case ConfChangeType.CONF_ADD_VOTER:
          config.voters.incoming.add(it.nodeId);
          config.learners.delete(it.nodeId);
          config.learnersNext.delete(it.nodeId);
          ensure(it.nodeId, false);
          break;
        case ConfChangeType.CONF_ADD_LEARNER:
          config.voters.incoming.delete(it.nodeId);
          if (config.voters.outgoing.has(it.nodeId)) {
            config.learnersNext.add(it.nodeId); // still votes in the outgoing half until the joint state is left
          } else {
            config.learners.add(it.nodeId);
            ensure(it.nodeId, true);
          }
          break;
        case ConfChangeType.CONF_REMOVE:
          config.voters.incoming.delete(it.nodeId);
          config.learners.delete(it.nodeId);
          config.learnersNext.delete(it.nodeId);
          if (!config.voters.outgoing.has(it.nodeId)) progress.delete(it.nodeId);
          break;
        default:
          throw new ConfChangeError(`unknown change type ${String(it.type)} for member ${it.nodeId}`);
      }
    }
    if (config.voters.incoming.size === 0) throw new ConfChangeError('the change removes every voter; a cluster needs at least one');
    return { config, progress };
  }
}

function check(c: TrackerConfig): void {
  for (const id of c.learners) {
    if (c.voters.incoming.has(id) || c.voters.outgoing.has(id)) throw new ConfChangeError(`member ${id} is both voter and learner`);
  }
  for (const id of c.learnersNext) {
    if (!c.voters.outgoing.has(id)) throw new ConfChangeError(`member ${id} is in learnersNext but not an outgoing voter`);
  }
  if (c.voters.outgoing.size === 0 && c.autoLeave) throw new ConfChangeError('autoLeave set outside a joint configuration');
}
