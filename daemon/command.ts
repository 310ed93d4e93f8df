// `shoal daemon`: runs this host's daemon in the foreground (systemd's Type=simple), JSON logs on
// stderr. SIGTERM/SIGINT stop it cleanly without stopping containers: the next start re-adopts them.
import type { Command } from 'commander';
import { pino } from 'pino';
import { Daemon } from './daemon.js';
import { startLocalApi } from './local-api.js';
import { daemonPaths, defaultRoot, defaultRun } from './paths.js';

interface DaemonFlags {
  listenAddr?: string;
  advertiseAddr?: string;
  root?: string;
  run?: string;
  heartbeatMs?: string;
  disconnectGraceMs?: string;
  raftTickMs?: string;
  raftElectionTicks?: string;
  raftSnapshotEvery?: string;
  nodeCertExpiryMs?: string;
  maxReplicas?: string;
  shutdownTimeout?: string;
  logLevel?: string;
}

/** dockerd's default `--shutdown-timeout`. */
const DEFAULT_SHUTDOWN_TIMEOUT_S = 15;

function int(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw Object.assign(new Error(`${name} must be a positive whole number, got ${JSON.stringify(v)}`), { userError: true });
  return n;
}

export function registerDaemonCommand(program: Command): void {
  program
    .command('daemon')
    .description('run the shoal daemon of this host in the foreground (agent, and manager on manager hosts)')
    .option('--listen-addr <addr>', 'cluster API address to bind (default 0.0.0.0:4243; Raft uses the next port)')
    .option('--advertise-addr <addr>', 'address other nodes reach this one at (default: first non-loopback IPv4)')
    .option('--root <dir>', 'persistent state (default $SHOAL_ROOT or /var/lib/shoal)')
    .option('--run <dir>', 'volatile state and the local socket (default $SHOAL_RUN or /run/shoal)')
    .option('--heartbeat-ms <ms>', 'agent heartbeat period for a new cluster (default 5000; env SHOAL_HEARTBEAT_MS)')
    .option('--disconnect-grace-ms <ms>', 'a node whose session closed is down after this (default 3000; env SHOAL_DISCONNECT_GRACE_MS)')
    .option('--raft-tick-ms <ms>', 'Raft tick (default 50; env SHOAL_RAFT_TICK_MS)')
    .option('--raft-election-ticks <n>', 'Raft election timeout in ticks (default 8)')
    .option('--raft-snapshot-every <n>', 'applied Raft entries between snapshots (default 10000; env SHOAL_RAFT_SNAPSHOT_EVERY)')
    .option('--node-cert-expiry-ms <ms>', 'tests only: validity of the node certificates this manager signs, under the 1 h minimum (env SHOAL_NODE_CERT_EXPIRY_MS)')
    .option('--max-replicas <n>', 'replicas one service may ask for, on this manager (default 1000; env SHOAL_MAX_REPLICAS)')
    .option('--shutdown-timeout <seconds>', 'SIGTERM/SIGINT: exit after this even if work is still under way; a second signal exits at once (default 15; env SHOAL_SHUTDOWN_TIMEOUT)')
    .option('--log-level <level>', 'pino level (default $SHOAL_LOG_LEVEL or info)')
    .action(async (f: DaemonFlags) => {
      const logger = pino({ level: f.logLevel ?? process.env.SHOAL_LOG_LEVEL ?? 'info', base: { pid: process.pid } }, pino.destination(2));
      const paths = daemonPaths(f.root ?? defaultRoot(), f.run ?? defaultRun());
      const d = new Daemon({
        paths,
        listenAddr: f.listenAddr,
        advertiseAddr: f.advertiseAddr,
        tuning: {
          heartbeatMs: int(f.heartbeatMs ?? process.env.SHOAL_HEARTBEAT_MS, '--heartbeat-ms'),
          disconnectGraceMs: int(f.disconnectGraceMs ?? process.env.SHOAL_DISCONNECT_GRACE_MS, '--disconnect-grace-ms'),
          raft: {
            tickMs: int(f.raftTickMs ?? process.env.SHOAL_RAFT_TICK_MS, '--raft-tick-ms'),
            electionTicks: int(f.raftElectionTicks, '--raft-election-ticks'),
            snapshotEvery: int(f.raftSnapshotEvery ?? process.env.SHOAL_RAFT_SNAPSHOT_EVERY, '--raft-snapshot-every'),
          },
          agentBackoff: { initialMs: 50, maxMs: 1_000 },
          nodeCertExpiryMs: int(f.nodeCertExpiryMs ?? process.env.SHOAL_NODE_CERT_EXPIRY_MS, '--node-cert-expiry-ms'),
          maxReplicas: int(f.maxReplicas ?? process.env.SHOAL_MAX_REPLICAS, '--max-replicas'),
        },
        logger,
      });
      const graceS = int(f.shutdownTimeout ?? process.env.SHOAL_SHUTDOWN_TIMEOUT, '--shutdown-timeout') ?? DEFAULT_SHUTDOWN_TIMEOUT_S;
      await d.resume().catch((err: unknown) => logger.error({ err: (err as Error).message }, 'could not resume; serving the local API so the node can be repaired'));
      const local = await startLocalApi(d, paths.socket, [d.localControlService()], logger);
      const sig = await new Promise<string>((resolve) => {
        process.once('SIGTERM', () => resolve('SIGTERM'));
        process.once('SIGINT', () => resolve('SIGINT'));
      });
      logger.info({ signal: sig, timeoutS: graceS }, 'stopping (containers keep running)');
      // A busy daemon may be in the middle of long work (container stops with long grace
      // periods, thousands of starts): it exits after the grace period, or at a second signal,
      // with that work left as it is. The next start re-adopts containers and the managers'
      // full assignment set tells it what to finish or remove.
      const exitNow = (why: string): void => {
        logger.warn({ signal: sig }, why);
        logger.flush();
        process.exit(1);
      };
      const timer = setTimeout(() => exitNow(`shutdown took longer than ${graceS} s (--shutdown-timeout): exiting with work still under way`), graceS * 1000);
      process.once('SIGTERM', () => exitNow('second SIGTERM: exiting at once'));
      process.once('SIGINT', () => exitNow('second SIGINT: exiting at once'));
      local.forceShutdown();
      await d.stop();
      clearTimeout(timer);
      logger.info({}, 'daemon stopped');
      logger.flush();
      process.exit(0);
    });
}
