// What test/bench/run.ts hands every benchmark besides its own arguments.
export interface BenchOptions {
  /**
   * `--smoke`: CI's check that the benchmark still runs. Small sizes, anchors (Swarm, etcd, crun,
   * runc) skipped, the same code paths; the last line is still one JSON object (with
   * `"smoke": true`), whose figures mean nothing.
   */
  smoke: boolean;
}

export type BenchMain = (args: string[], o: BenchOptions) => Promise<void>;
