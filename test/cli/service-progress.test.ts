// Convergence progress in-process: the redrawn bar on a TTY, global services (their count is
// the tasks the orchestrator made), and the task-per-line form otherwise.
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlService } from '../../proto/gen/control.js';
import { connect, type Connection } from '../../cli/client/index.js';
import { waitForConvergence } from '../../cli/client/converge.js';
import { replicatedSpec } from '../manager/controlapi/specs.js';
import { startCli, type CliHarness } from './service-harness.js';

class Capture extends Writable {
  text = '';
  constructor(readonly isTTY: boolean) {
    super();
  }
  override _write(chunk: Buffer, _enc: string, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
}

let h: CliHarness;
let c: Connection;
beforeAll(async () => {
  h = await startCli();
  c = connect({}, { SHOAL_RUN: h.run });
});
afterAll(async () => {
  c?.close();
  await h?.close();
});

const create = (spec: ReturnType<typeof replicatedSpec>) => c.call(ControlService.createService, { spec });

describe('convergence progress', () => {
  it('redraws one bar on a TTY', async () => {
    const { service } = await create(replicatedSpec('bar', 2));
    const out = new Capture(true);
    const r = await waitForConvergence(c, service!, { out });
    expect(r).toEqual({ converged: true, running: 2, desired: 2 });
    expect(out.text).toMatch(/\rbar \[=+\] 2\/2 running\n$/);
    expect(out.text).not.toMatch(/bar\.1 {2}/);
  });

  it('counts a global service by the tasks made for its nodes, line by line off a TTY', async () => {
    const spec = replicatedSpec('everywhere', 0, (s) => (s.mode = { $case: 'global', value: {} }));
    const { service } = await create(spec);
    const out = new Capture(false);
    const r = await waitForConvergence(c, service!, { out });
    expect(r).toEqual({ converged: true, running: 3, desired: 3 });
    expect(out.text).toMatch(/everywhere: 3\/3 running\n$/);
    expect(out.text.split('\n').filter((l) => / {2}running$/.test(l))).toHaveLength(3);
  });
});
