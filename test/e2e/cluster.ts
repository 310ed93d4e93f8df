// What a lab e2e test file imports: the lab cluster (lab-cluster.ts, runner-free so that the
// benchmarks can use it) and labSuite(), which registers vitest hooks.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { runShoal, type CliResult } from '../cli/run-shoal.js';
import { TestCluster, type ClusterOptions } from './lab-cluster.js';

export * from './lab-cluster.js';

export interface LabSuite {
  /** The file's cluster: made before its first test, removed after its last. */
  readonly c: TestCluster;
  /** A temp dir of the file's own (stack files, bind sources), removed with the cluster. */
  readonly dir: string;
  /** `shoal ARGS` against h1's local socket. */
  shoal(args: string[]): Promise<CliResult>;
}

/** The lifecycle every lab e2e file needs: a formed cluster and a temp dir for its tests. */
export function labSuite(o: ClusterOptions & { managers: number; tmpPrefix: string; upMs?: number; downMs?: number }): LabSuite {
  let cluster: TestCluster | undefined;
  let dir = '';
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), o.tmpPrefix));
    cluster = await TestCluster.up(o);
    await cluster.form(o.managers);
  }, o.upMs ?? 120_000);
  afterAll(async () => {
    await cluster?.down();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, o.downMs ?? 60_000);
  const c = (): TestCluster => {
    if (!cluster) throw new Error(`lab ${o.name} is not up: use it inside a test`);
    return cluster;
  };
  return {
    get c() {
      return c();
    },
    get dir() {
      return dir;
    },
    shoal: (args) => runShoal(args, { SHOAL_RUN: c().host('h1').run }),
  };
}
