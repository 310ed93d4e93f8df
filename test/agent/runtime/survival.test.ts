// Containers outlive the process that started them: SIGKILL the starter, the container keeps
// running, a fresh runtime adopts it and later collects its exit code.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { ContainerRuntime } from '../../../agent/runtime/index.js';
import { collect, leftoverCgroups, makeFixture, type Fixture } from './helpers.js';

let fx: Fixture;
beforeAll(() => {
  fx = makeFixture('surv');
});
afterAll(async () => {
  await fx.cleanup();
  expect(leftoverCgroups(fx.cgroupParent)).toEqual([]);
});

function startInChild(shared: string): Promise<{ id: string; kill: () => Promise<void> }> {
  const script = join(import.meta.dirname, 'fixtures', 'start-detached.ts');
  const child = spawn(process.execPath, ['--import', 'tsx', script, fx.stateDir, fx.cgroupParent, fx.layer, shared], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    child.on('error', reject);
    child.on('exit', (code) => reject(new Error(`starter exited early (${code})`)));
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /^([0-9a-f]{64})\n/.exec(out);
      if (m) {
        child.removeAllListeners('exit');
        resolve({
          id: m[1]!,
          kill: () =>
            new Promise<void>((done) => {
              child.on('exit', () => done());
              child.kill('SIGKILL');
            }),
        });
      }
    });
  });
}

describe('survival and adoption', () => {
  it('keeps running after SIGKILL of the starter and is adopted by a new runtime', async () => {
    const shared = join(fx.root, 'shared');
    mkdirSync(shared);
    const { id, kill } = await startInChild(shared);
    await kill();
    const fresh = new ContainerRuntime({ stateDir: fx.stateDir, cgroupParent: fx.cgroupParent, logger: pino({ level: 'warn' }) });
    const adopted = await fresh.adopt();
    expect(adopted.map((c) => c.id)).toContain(id);
    const info = await fresh.inspect(id);
    expect(info.state).toBe('running');
    process.kill(info.pid!, 0); // still alive, after its starter died
    const waiting = fresh.wait(id);
    writeFileSync(join(shared, 'go'), '');
    const exit = await waiting;
    expect(exit.code).toBe(42);
    const text = (await collect(fresh.logs(id))).map((l) => l.text).join('');
    expect(text).toBe('started\nleaving\n');
    await fresh.remove(id);
  });
});
