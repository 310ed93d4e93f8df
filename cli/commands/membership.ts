// `shoal init|join|leave|join-token|info`: this host's membership, through the local daemon's
// Daemon service (always the unix socket: these act on this host), and the cluster's join
// tokens through the Control service.
import { Metadata } from '@grpc/grpc-js';
import type { Command } from 'commander';
import { ControlService } from '../../proto/gen/control.js';
import { DaemonService, type InfoResponse } from '../../proto/gen/daemon.js';
import { NodeRole, type Cluster } from '../../proto/gen/types.js';
import { addConnectionOptions, connectionFlags, fromGrpc, withConnection, type Connection } from '../client/index.js';
import { UsageError } from '../errors.js';
import { formatOf, printJson, roleName } from '../format/index.js';
import { collect } from './secret.js';
import { unlockKeyNotice } from './autolock.js';

/** init and join wait for certificates, Raft and the first heartbeat: allow them time. */
const MEMBERSHIP_TIMEOUT_MS = 120_000;


function joinCommand(token: string, addr: string): string {
  return `    shoal join --token ${token} ${addr}`;
}

async function info(c: Connection): Promise<InfoResponse> {
  return c.call(DaemonService.info, {});
}

function managerAddr(i: InfoResponse): string {
  return i.leaderAddr || i.managers[0] || '<manager-address>:4243';
}

/** Leave (may wait for the Raft change and the tasks' grace periods); resolves with warnings. */
async function leave(c: Connection, force: boolean): Promise<string[]> {
  const client = c.daemonClient();
  await c.ready(client);
  return new Promise<string[]>((resolve, reject) => {
    client.leave({ force }, new Metadata(), { deadline: new Date(Date.now() + MEMBERSHIP_TIMEOUT_MS) }, (err, res) => {
      if (err) reject(fromGrpc(err, c.target));
      else resolve(res.warnings);
    });
  });
}

/** --default-addr-pool-mask-length: a whole number (the daemon checks its range); 0 = default. */
function maskLength(v: string | undefined): number {
  if (v === undefined) return 0;
  if (!/^\d{1,2}$/.test(v)) throw new UsageError(`invalid --default-addr-pool-mask-length "${v}": give a prefix length such as 24`);
  return Number(v);
}

export function registerMembershipCommands(program: Command): void {
  addConnectionOptions(
    program
      .command('init')
      .description('make this host the first manager of a new cluster')
      .option('--advertise-addr <addr>', 'address other nodes reach this one at (host or host:port)')
      .option('--listen-addr <addr>', 'cluster API address to bind (default 0.0.0.0:4243)')
      .option('--force-new-cluster', 'start a new single-manager cluster from this manager\'s state')
      .option('--default-addr-pool <cidr>', 'where networks without --subnet get theirs (repeatable; default 10.0.0.0/8)', collect)
      .option('--default-addr-pool-mask-length <n>', 'prefix length of those subnets (default 24)')
      .option('--autolock', 'keep managers\' Raft key-encryption key off disk: a restarted manager needs `shoal unlock`'),
  ).action(async (f: { advertiseAddr?: string; listenAddr?: string; forceNewCluster?: boolean; defaultAddrPool?: string[]; defaultAddrPoolMaskLength?: string; autolock?: boolean }, cmd: Command) => {
    await withConnection(connectionFlags(cmd), async (c) => {
      const r = await c.call(DaemonService.init, { advertiseAddr: f.advertiseAddr ?? '', listenAddr: f.listenAddr ?? '', forceNewCluster: f.forceNewCluster === true, defaultAddrPool: f.defaultAddrPool ?? [], defaultAddrPoolMaskLength: maskLength(f.defaultAddrPoolMaskLength), autolock: f.autolock === true },
        MEMBERSHIP_TIMEOUT_MS,
      );
      process.stdout.write(
        `Cluster initialized: current node (${r.nodeId}) is now a manager.\n\n` +
          `To add a worker to this cluster, run the following command:\n\n${joinCommand(r.workerToken, r.addr)}\n\n` +
          "To add a manager to this cluster, run 'shoal join-token manager' and follow the instructions.\n",
      );
      if (r.unlockKey) process.stdout.write(`\n${unlockKeyNotice(r.unlockKey)}`);
    });
  });

  addConnectionOptions(
    program
      .command('join')
      .description('join this host to a cluster as a worker or a manager (the token decides)')
      .argument('<addr>', "a manager's host:port")
      .requiredOption('--token <token>', 'join token from `shoal join-token worker|manager`')
      .option('--advertise-addr <addr>', 'address other nodes reach this one at')
      .option('--listen-addr <addr>', 'cluster API address to bind if this node becomes a manager'),
  ).action(async (addr: string, f: { token: string; advertiseAddr?: string; listenAddr?: string }, cmd: Command) => {
    await withConnection(connectionFlags(cmd), async (c) => {
      const r = await c.call(DaemonService.join, { token: f.token, remoteAddr: addr, advertiseAddr: f.advertiseAddr ?? '', listenAddr: f.listenAddr ?? '' },
        MEMBERSHIP_TIMEOUT_MS,
      );
      process.stdout.write(`This node joined a cluster as a ${roleName(r.role)}.\n`);
    });
  });

  addConnectionOptions(
    program
      .command('leave')
      .description('take this host out of its cluster')
      .option('-f, --force', 'leave even if this is a manager: it leaves the Raft group first when the other managers keep a quorum'),
  ).action(async (f: { force?: boolean }, cmd: Command) => {
    await withConnection(connectionFlags(cmd), async (c) => {
      const warnings = await leave(c, f.force === true);
      for (const w of warnings) process.stderr.write(`Warning: ${w}\n`);
      process.stdout.write('Node left the cluster.\n');
    });
  });

  addConnectionOptions(
    program
      .command('join-token')
      .description('print (or rotate) the command that joins a worker or a manager')
      .argument('<role>', 'worker or manager')
      .option('--rotate', 'replace the token (the old one stops working)')
      .option('-q, --quiet', 'print only the token'),
  ).action(async (role: string, f: { rotate?: boolean; quiet?: boolean }, cmd: Command) => {
    if (role !== 'worker' && role !== 'manager') throw new UsageError(`join-token takes worker or manager, not "${role}"`);
    await withConnection(connectionFlags(cmd), async (c) => {
      let cluster: Cluster | undefined;
      if (f.rotate) {
        cluster = (await c.call(ControlService.rotateJoinToken, { worker: role === 'worker', manager: role === 'manager' })).cluster;
      } else {
        cluster = (await c.call(ControlService.getCluster, {})).cluster;
      }
      const token = cluster?.rootCa?.joinTokens?.[role] ?? '';
      if (f.quiet) return void process.stdout.write(`${token}\n`);
      const addr = c.target.local ? managerAddr(await info(c)) : c.target.display;
      if (f.rotate) process.stdout.write(`Successfully rotated ${role} join token.\n\n`);
      process.stdout.write(`To add a ${role} to this cluster, run the following command:\n\n${joinCommand(token, addr)}\n`);
    });
  });

  addConnectionOptions(
    program
      .command('info')
      .description("describe this host's node and its cluster")
      .option('--format <format>', 'table or json'),
  ).action(async (f: { format?: string }, cmd: Command) => {
    const format = formatOf(f.format);
    await withConnection(connectionFlags(cmd), async (c) => {
      const i = await info(c);
      if (format === 'json') return printJson(i);
      const lines = [`Cluster: ${i.state}`];
      if (i.error) lines.push(` Error: ${i.error}`);
      if (i.nodeId) {
        lines.push(` Node ID: ${i.nodeId}`, ` Cluster ID: ${i.clusterId}`, ` Role: ${roleName(i.role)}`);
        if (i.role === NodeRole.MANAGER) lines.push(` Is leader: ${i.isLeader}`);
        if (i.degraded) lines.push(` Degraded: ${i.degraded}`);
        if (i.leaderAddr) lines.push(` Leader: ${i.leaderAddr}`);
        if (i.managers.length) lines.push(` Managers:`, ...i.managers.map((m) => `  ${m}`));
      }
      // clean-ups that failed (a cgroup, a link, a file left behind): the daemon's log names each
      lines.push(` Undo failures: ${i.undoFailures}`);
      process.stdout.write(`${lines.join('\n')}\n`);
    });
  });
}
