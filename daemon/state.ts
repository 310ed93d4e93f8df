// The node's cluster membership, written once init or join succeeds, so that a restarted daemon
// (after a reboot, SIGKILL or upgrade) resumes as the same node without asking anybody.
import { readFile, rename, writeFile } from 'node:fs/promises';
import { SECRET_FILE_MODE } from '../proto/file-modes.js';

export interface NodeState {
  clusterId: string;
  nodeId: string;
  role: 'worker' | 'manager';
  /** This node's Raft id (managers), decimal. */
  raftId?: string;
  /** The cluster API address others reach this node at (host:port). */
  advertiseAddr: string;
  listenAddr: string;
  /** Known managers' cluster API addresses (the agent's starting list). */
  managers: string[];
  /** Raft members when this node last started (raft id -> cluster API address). */
  raftMembers?: [string, string][];
}

export async function loadNodeState(file: string): Promise<NodeState | null> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  try {
    return JSON.parse(text) as NodeState;
  } catch {
    throw Object.assign(new Error(`${file} is damaged (not JSON); move it away and join the node again`), { userError: true as const });
  }
}

export async function saveNodeState(file: string, s: NodeState): Promise<void> {
  const tmp = `${file}.tmp`;
  await writeFile(tmp, JSON.stringify(s, null, 2), { mode: SECRET_FILE_MODE });
  await rename(tmp, file);
}
