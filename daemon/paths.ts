// Where a daemon keeps its state: SHOAL_ROOT (persistent) and SHOAL_RUN (volatile).
import { join } from 'node:path';
import type { Logger } from 'pino';
import { describeModeFix, secureStateDirs } from '../proto/file-modes.js';

export interface DaemonPaths {
  root: string;
  run: string;
  certDir: string; // SHOAL_ROOT/certificates
  raftDir: string; // SHOAL_ROOT/raft
  agentDir: string; // SHOAL_ROOT/agent
  imagesDir: string; // SHOAL_ROOT/images
  stateFile: string; // SHOAL_ROOT/node.json: cluster membership of this node
  containersDir: string; // SHOAL_RUN/containers
  socket: string; // SHOAL_RUN/shoal.sock
}

export function daemonPaths(root: string, run: string): DaemonPaths {
  return {
    root,
    run,
    certDir: join(root, 'certificates'),
    raftDir: join(root, 'raft'),
    agentDir: join(root, 'agent'),
    imagesDir: join(root, 'images'),
    stateFile: join(root, 'node.json'),
    containersDir: join(run, 'containers'),
    socket: join(run, 'shoal.sock'),
  };
}

export function defaultRoot(): string {
  return process.env.SHOAL_ROOT || '/var/lib/shoal';
}

export function defaultRun(): string {
  return process.env.SHOAL_RUN || '/run/shoal';
}

/** SHOAL_ROOT and SHOAL_RUN private to root, corrected and logged if found open (proto/file-modes.ts). */
export function secureDaemonPaths(p: DaemonPaths, log: Logger): void {
  secureStateDirs({ root: p.root, run: p.run }, (fix) => log.warn({ path: fix.path, was: fix.was.toString(8), now: fix.now.toString(8) }, describeModeFix(fix)));
}
