// Compact, stable text renderings of messages, entries and state for golden files.
import { ConfChange, ConfChangeType, type Entry, EntryType, type Message, MessageType, type Snapshot } from '../../../../proto/gen/raft.js';
import { msgTypeName } from '../../../../manager/raft/messages.js';

export function fmtConfChange(cc: ConfChange): string {
  if (cc.changes.length === 0) return 'leave-joint';
  return cc.changes.map((c) => (c.type === ConfChangeType.CONF_ADD_VOTER ? 'v' : c.type === ConfChangeType.CONF_ADD_LEARNER ? 'l' : 'r') + c.nodeId).join(' ');
}

export function fmtEntry(e: Entry): string {
  if (e.type === EntryType.ENTRY_CONF_CHANGE) return `${e.term}/${e.index} ConfChange ${fmtConfChange(ConfChange.decode(e.data))}`;
  return `${e.term}/${e.index} ${e.data.length === 0 ? 'noop' : JSON.stringify(e.data.toString('utf8'))}`;
}

export function fmtSnapshot(s: Snapshot): string {
  const md = s.metadata!;
  const cs = md.confState!;
  let c = `voters=(${cs.voters.join(',')})`;
  if (cs.votersOutgoing.length) c += `&&(${cs.votersOutgoing.join(',')})`;
  if (cs.learners.length) c += ` learners=(${cs.learners.join(',')})`;
  if (cs.learnersNext.length) c += ` learners_next=(${cs.learnersNext.join(',')})`;
  return `Snapshot index:${md.index} term:${md.term} ${c}`;
}

export function fmtMessage(m: Message): string {
  let s = `${m.from}->${m.to} ${msgTypeName(m.type)} Term:${m.term}`;
  const t = m.type;
  if (t === MessageType.MSG_APP || t === MessageType.MSG_VOTE || t === MessageType.MSG_PRE_VOTE) s += ` Log:${m.logTerm}/${m.index}`;
  else if (m.index !== 0n || t === MessageType.MSG_APP_RESP) s += ` Index:${m.index}`;
  if (m.commit !== 0n || t === MessageType.MSG_APP || t === MessageType.MSG_HEARTBEAT) s += ` Commit:${m.commit}`;
  if (m.reject) s += ` Rejected (Hint: ${m.rejectHint}${m.logTerm ? `, Term: ${m.logTerm}` : ''})`;
  if (m.context.length) s += ` Context:${JSON.stringify(m.context.toString('latin1'))}`;
  if (m.entries.length) s += ` Entries:[${m.entries.map(fmtEntry).join(', ')}]`;
  if (m.snapshot) s += ` ${fmtSnapshot(m.snapshot)}`;
  return s;
}
