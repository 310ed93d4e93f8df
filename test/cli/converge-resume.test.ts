// The CLI's convergence follower survives its watch being dropped: on a manager whose watch
// queues are tiny, WatchTasks ends RESOURCE_EXHAUSTED again and again while 30 tasks are made
// and started, and the follower resumes from the last version it saw until the service runs.
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlService, type WatchTasksRequest } from '../../proto/gen/control.js';
import { MemoryStore } from '../../manager/store/index.js';
import { connect, type Connection } from '../../cli/client/index.js';
import { waitForConvergence } from '../../cli/client/converge.js';
import { replicatedSpec } from '../manager/controlapi/specs.js';
import { startCli, type CliHarness } from './service-harness.js';

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: string, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
}

let h: CliHarness;
let c: Connection;
beforeAll(async () => {
  // one proposal of 30 tasks is more than a watcher may hold: every burst drops the watch
  h = await startCli({ store: new MemoryStore({ watchLimits: { maxEvents: 8 } }) });
  c = connect({}, { SHOAL_RUN: h.run });
});
afterAll(async () => {
  c?.close();
  await h?.close();
});

describe('convergence follower', () => {
  it('resumes a dropped watch from the last version it saw and still sees the service converge', async () => {
    const client = c.controlClient();
    const requests: WatchTasksRequest[] = [];
    const watch = client.watchTasks.bind(client);
    client.watchTasks = ((req: WatchTasksRequest, ...rest: never[]) => {
      requests.push(req);
      return watch(req, ...rest);
    }) as typeof client.watchTasks;
    // tasks are made and assigned while the agent waits; it then starts all 30 in one proposal
    h.control.pauseAgent();
    const { service } = await c.call(ControlService.createService, { spec: replicatedSpec('burst', 30) });
    const out = new Capture();
    const converging = waitForConvergence(c, service!, { out, timeoutMs: 120_000 });
    while (requests.length === 0) await new Promise((res) => setTimeout(res, 20));
    await new Promise((res) => setTimeout(res, 500));
    h.control.resumeAgent();
    await c.call(ControlService.createService, { spec: replicatedSpec('nudge', 1) }); // a commit wakes the agent
    const r = await converging;
    expect(r).toEqual({ converged: true, running: 30, desired: 30 });
    expect(requests.length).toBeGreaterThan(1);
    expect(requests[0]!.resumeFromVersion).toBe(0n);
    expect(requests.slice(1).some((q) => q.resumeFromVersion > 0n)).toBe(true);
  }, 180_000);
});
