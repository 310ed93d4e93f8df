// `shoal node ls|inspect|update|promote|demote|rm`: the cluster's nodes through the control API.
// Role changes record the wanted role; the leader's role manager applies it to Raft membership.
import type { Command } from 'commander';
import { ControlService, ListNodesRequest } from '../../proto/gen/control.js';
import { DaemonService } from '../../proto/gen/daemon.js';
import { ManagerStatus_Reachability, Node, NodeAvailability, NodeRole, type NodeSpec } from '../../proto/gen/types.js';
import { addConnectionOptions, connectionFlags, listAll, withConnection, type Connection } from '../client/index.js';
import { UsageError } from '../errors.js';
import { availabilityName, formatOf, nodeStateName, printJson, renderTable, roleName, shortId } from '../format/index.js';

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

const AVAILABILITY: Record<string, NodeAvailability> = { active: NodeAvailability.ACTIVE, pause: NodeAvailability.PAUSE, drain: NodeAvailability.DRAIN };
const ROLES: Record<string, NodeRole> = { worker: NodeRole.WORKER, manager: NodeRole.MANAGER };

function managerStatus(n: Node): string {
  if (n.role !== NodeRole.MANAGER) return '';
  const ms = n.managerStatus;
  const degraded = ms?.degraded ? ' (degraded)' : ''; // its leader components kept failing
  if (ms?.leader) return `Leader${degraded}`;
  if (ms?.reachability === ManagerStatus_Reachability.REACHABLE) return `Reachable${degraded}`;
  if (ms?.reachability === ManagerStatus_Reachability.UNREACHABLE) return `Unreachable${degraded}`;
  return `Manager${degraded}`;
}

/** This host's node id when talking to the local daemon (marked * in `node ls`, as Docker does). */
async function selfId(c: Connection): Promise<string | undefined> {
  if (!c.target.local) return undefined;
  try {
    return (await c.call(DaemonService.info, {}, 5_000)).nodeId || undefined;
  } catch {
    return undefined; // a daemon without the Daemon service (tests) or a transient failure: no mark
  }
}

async function getNode(c: Connection, ref: string): Promise<Node> {
  const r = await c.call(ControlService.getNode, { nodeId: ref });
  return r.node!;
}

/** Reads the node, changes its spec with edit, and writes it back based on the version read. */
async function editNode(c: Connection, ref: string, edit: (spec: NodeSpec, n: Node) => void): Promise<Node> {
  const n = await getNode(c, ref);
  const spec: NodeSpec = structuredClone(n.spec ?? { annotations: { name: '', labels: {} }, desiredRole: n.role, availability: NodeAvailability.ACTIVE });
  spec.annotations ??= { name: '', labels: {} };
  edit(spec, n);
  const r = await c.call(ControlService.updateNode, { nodeId: n.id, version: n.meta?.version ?? 0n, spec });
  return r.node!;
}

function setRole(program: Command, name: 'promote' | 'demote', role: NodeRole): void {
  program
    .command(name)
    .description(name === 'promote' ? 'make nodes managers' : 'make managers workers')
    .argument('<node...>', 'node ids or hostnames')
    .action(async (refs: string[], _f: unknown, cmd: Command) => {
      await withConnection(connectionFlags(cmd), async (c) => {
        for (const ref of refs) {
          const n = await editNode(c, ref, (s) => (s.desiredRole = role));
          process.stdout.write(`node ${n.description?.hostname || n.id} ${name}d to ${roleName(role)}\n`);
        }
      });
    });
}

export function registerNodeCommands(program: Command): void {
  const node = addConnectionOptions(program.command('node').description('manage the nodes of the cluster'));

  node
    .command('ls')
    .description('list nodes')
    .option('--format <format>', 'table or json')
    .option('-q, --quiet', 'print only ids')
    .action(async (f: { format?: string; quiet?: boolean }, cmd: Command) => {
      const format = formatOf(f.format);
      await withConnection(connectionFlags(cmd), async (c) => {
        const nodes = await listAll(c, ControlService.listNodes, ListNodesRequest.fromPartial({}), (r) => r.nodes);
        if (format === 'json') return printJson(nodes.map((n) => Node.toJSON(n)));
        if (f.quiet) return void process.stdout.write(nodes.map((n) => `${n.id}\n`).join(''));
        const self = await selfId(c);
        const rows = nodes.map((n) => [`${shortId(n.id, 25)}${n.id === self ? ' *' : ''}`, n.description?.hostname ?? '', nodeStateName(n.status?.state), availabilityName(n.spec?.availability), managerStatus(n), n.status?.addr ?? '']);
        process.stdout.write(renderTable(['ID', 'HOSTNAME', 'STATUS', 'AVAILABILITY', 'MANAGER STATUS', 'ADDRESS'], rows));
      });
    });

  node
    .command('inspect')
    .description('show nodes in full (JSON)')
    .argument('<node...>', 'node ids or hostnames')
    .action(async (refs: string[], _f: unknown, cmd: Command) => {
      await withConnection(connectionFlags(cmd), async (c) => {
        const out: unknown[] = [];
        for (const ref of refs) out.push(Node.toJSON(await getNode(c, ref)));
        printJson(out);
      });
    });

  node
    .command('update')
    .description('change a node: availability, labels, role')
    .argument('<node>', 'node id or hostname')
    .option('--availability <a>', 'active, pause or drain')
    .option('--label-add <KEY=VALUE>', 'add or change a label (repeatable)', collect)
    .option('--label-rm <KEY>', 'remove a label (repeatable)', collect)
    .option('--role <role>', 'worker or manager')
    .action(async (ref: string, f: { availability?: string; labelAdd?: string[]; labelRm?: string[]; role?: string }, cmd: Command) => {
      const availability = f.availability === undefined ? undefined : AVAILABILITY[f.availability];
      if (f.availability !== undefined && availability === undefined) throw new UsageError(`--availability is active, pause or drain, not "${f.availability}"`);
      const role = f.role === undefined ? undefined : ROLES[f.role];
      if (f.role !== undefined && role === undefined) throw new UsageError(`--role is worker or manager, not "${f.role}"`);
      const add = (f.labelAdd ?? []).map((l) => {
        const i = l.indexOf('=');
        const k = i < 0 ? l : l.slice(0, i);
        if (!k) throw new UsageError(`--label-add "${l}" has no key; write KEY=VALUE`);
        return [k, i < 0 ? '' : l.slice(i + 1)] as const;
      });
      if (availability === undefined && role === undefined && add.length === 0 && !f.labelRm?.length) {
        throw new UsageError('node update needs a change: --availability, --label-add, --label-rm or --role');
      }
      await withConnection(connectionFlags(cmd), async (c) => {
        const n = await editNode(c, ref, (s, cur) => {
          if (availability !== undefined) s.availability = availability;
          if (role !== undefined) s.desiredRole = role;
          const labels = s.annotations!.labels;
          for (const k of f.labelRm ?? []) {
            if (!(k in labels)) throw new UsageError(`node ${cur.description?.hostname || cur.id} has no label "${k}" to remove`);
            delete labels[k];
          }
          for (const [k, v] of add) labels[k] = v;
        });
        process.stdout.write(`${n.id}\n`);
      });
    });

  setRole(node, 'promote', NodeRole.MANAGER);
  setRole(node, 'demote', NodeRole.WORKER);

  node
    .command('rm')
    .alias('remove')
    .description('remove nodes from the cluster (a node must be down, or use --force)')
    .argument('<node...>', 'node ids or hostnames')
    .option('-f, --force', 'remove even if the node is not down')
    .action(async (refs: string[], f: { force?: boolean }, cmd: Command) => {
      await withConnection(connectionFlags(cmd), async (c) => {
        for (const ref of refs) {
          await c.call(ControlService.removeNode, { nodeId: ref, force: f.force === true });
          process.stdout.write(`${ref}\n`);
        }
      });
    });
}
