// Runs the deterministic simulator over many seeds: safety properties are checked while it
// runs, and every client history must be linearizable. SIM_SEEDS=N runs more seeds;
// SIM_SEED_START=K starts elsewhere; SIM_SEED=S replays one seed (printing its trace on failure).
import { describe, expect, it } from 'vitest';
import { checkLinearizable } from './checker.js';
import { Simulation, type SimStats } from './cluster.js';

const ONE = process.env.SIM_SEED ? Number(process.env.SIM_SEED) : undefined;
const COUNT = Number(process.env.SIM_SEEDS ?? 300);
const FIRST = Number(process.env.SIM_SEED_START ?? 1);
const TICKS = Number(process.env.SIM_TICKS ?? 600);

function runSeed(seed: number): SimStats {
  const sim = new Simulation({ seed, ticks: TICKS, quietTicks: 3000 });
  try {
    const stats = sim.run();
    const lin = checkLinearizable(sim.history);
    if (!lin.ok) {
      const why = lin.gaveUp ? 'the checker gave up (search budget exhausted) on' : 'history is not linearizable for';
      throw new Error(`${why} key ${lin.key} (${sim.history.length} operations)`);
    }
    return stats;
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    throw new Error(`seed ${seed}: ${msg}\nreplay: SIM_SEED=${seed} npx vitest run test/manager/raft/sim\n--- last events ---\n${sim.dumpTrace()}`);
  }
}

describe('raft simulator', () => {
  if (ONE !== undefined) {
    it(`seed ${ONE}`, () => {
      const st = runSeed(ONE);
      console.log(JSON.stringify(st));
    });
    return;
  }
  it(`${COUNT} seeds keep safety and linearizability`, async () => {
    let completed = 0;
    let leaders = 0;
    let crashes = 0;
    let confChanges = 0;
    let snapshots = 0;
    for (let seed = FIRST; seed < FIRST + COUNT; seed++) {
      const st = runSeed(seed);
      // Let the worker's event loop breathe: a synchronous run of minutes starves vitest's
      // worker RPC, which then reports a timeout even though every seed passed.
      if (seed % 10 === 0) await new Promise((r) => setImmediate(r));
      completed += st.completed;
      leaders += st.leaders;
      crashes += st.crashes;
      confChanges += st.confChanges;
      snapshots += st.snapshots;
    }
    console.log(JSON.stringify({ seeds: COUNT, completed, leaders, crashes, confChanges, snapshots }));
    // The schedule must actually exercise the system, or the checks above prove nothing.
    expect(completed).toBeGreaterThan(COUNT * 20);
    expect(crashes).toBeGreaterThan(COUNT / 4);
    expect(confChanges).toBeGreaterThan(COUNT / 4);
    expect(snapshots).toBeGreaterThan(COUNT / 4);
  }, Math.max(300_000, COUNT * 1_000));
});
