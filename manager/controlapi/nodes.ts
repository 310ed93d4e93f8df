// Node rpcs: list, get, update (availability, labels, desired role), remove. A role change only
// records the wanted role in the spec; the leader's role manager applies it to Raft membership.
import { Node, NodeAvailability, NodeRole, NodeStatus_State } from '../../proto/gen/types.js';
import type {
  GetNodeRequest,
  GetNodeResponse,
  ListNodesRequest,
  ListNodesResponse,
  RemoveNodeRequest,
  RemoveNodeResponse,
  UpdateNodeRequest,
  UpdateNodeResponse,
} from '../../proto/gen/control.js';
import { cloneObject, type MemoryStore } from '../store/index.js';
import { asMessage, failedPrecondition, invalidArgument } from './errors.js';
import { findNode } from './lookup.js';
import { onePage } from './paging.js';
import { validateLabels } from './validate.js';

const LABEL_KEY_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.\-/]*$/;

export function listNodes(store: MemoryStore, req: ListNodesRequest): ListNodesResponse {
  const names = new Set(req.names.map((n) => n.toLowerCase()));
  const roles = new Set(req.roles);
  const nodes = store.view((tx) =>
    tx.nodes.all().filter((n) => (names.size === 0 || names.has((n.description?.hostname ?? '').toLowerCase())) && (roles.size === 0 || roles.has(n.role))),
  );
  const page = onePage(nodes, (n) => [n.description?.hostname ?? '', n.id], (n) => Node.encode(n as Node).finish().length, req);
  return { nodes: page.items.map((n) => asMessage<Node>(n)), nextPageToken: page.nextPageToken };
}

export function getNode(store: MemoryStore, req: GetNodeRequest): GetNodeResponse {
  return { node: store.view((tx) => asMessage<Node>(findNode(tx, req.nodeId))) };
}

export async function updateNode(store: MemoryStore, req: UpdateNodeRequest): Promise<UpdateNodeResponse> {
  const spec = req.spec;
  if (!spec) throw invalidArgument('the request has no node spec');
  if (!Object.values(NodeAvailability).includes(spec.availability) || spec.availability === NodeAvailability.UNRECOGNIZED) {
    throw invalidArgument(`availability ${spec.availability} is not one of active, pause, drain`);
  }
  if (spec.desiredRole !== NodeRole.WORKER && spec.desiredRole !== NodeRole.MANAGER) throw invalidArgument(`role ${spec.desiredRole} is not worker or manager`);
  for (const k of Object.keys(spec.annotations?.labels ?? {})) {
    if (!LABEL_KEY_RE.test(k)) throw invalidArgument(`node label "${k}" is invalid: use letters, digits, "_", ".", "-" and "/"`);
  }
  validateLabels('node', spec.annotations?.labels ?? {});
  const id = await store.update((tx) => {
    const cur = findNode(tx, req.nodeId);
    const stored = cur.meta?.version ?? 0n;
    if (req.version !== 0n && req.version !== stored) {
      throw failedPrecondition(`node ${cur.description?.hostname || cur.id} changed since it was read (version ${req.version}, now ${stored}); read it again and retry`);
    }
    if (cur.spec?.desiredRole === NodeRole.MANAGER && spec.desiredRole === NodeRole.WORKER) {
      const managers = tx.nodes.all().filter((n) => n.id !== cur.id && n.spec?.desiredRole === NodeRole.MANAGER);
      if (managers.length === 0) throw failedPrecondition(`node ${cur.description?.hostname || cur.id} is the last manager: promote another node before demoting it`);
    }
    tx.nodes.update({ ...cur, spec: cloneObject(spec) });
    return cur.id;
  });
  return { node: store.view((tx) => asMessage<Node>(tx.nodes.get(id)!)) };
}

export async function removeNode(store: MemoryStore, req: RemoveNodeRequest): Promise<RemoveNodeResponse> {
  await store.update((tx) => {
    const n = findNode(tx, req.nodeId);
    const name = n.description?.hostname || n.id;
    if (n.role === NodeRole.MANAGER || n.spec?.desiredRole === NodeRole.MANAGER) {
      throw failedPrecondition(`node ${name} is a manager: demote it first (\`shoal node demote ${name}\`)`);
    }
    const state = n.status?.state ?? NodeStatus_State.UNKNOWN;
    if (!req.force && state !== NodeStatus_State.DOWN) {
      throw failedPrecondition(`node ${name} is not down (it is ${NodeStatus_State[state]?.toLowerCase()}): run \`shoal leave\` on it first, or remove it with --force`);
    }
    tx.nodes.delete(n.id);
  });
  return {};
}
