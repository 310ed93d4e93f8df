// `shoal service logs` on a 2-host lab cluster (h1 manager, h2 worker) with real containers: the
// agents publish their containers' output, the leader's dispatcher collects it, and the real CLI
// prints it with Docker's task@host prefixes; -f shows lines written after it started.
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runShoal } from '../cli/service-harness.js';
import { TestCluster, until } from './cluster.js';

const REPO = resolve(import.meta.dirname, '../..');
let c: TestCluster;

beforeAll(async () => {
  c = await TestCluster.up({ name: 'shoallge2e', subnet: '10.231.44.0/24', hosts: 2 });
  await c.form(1);
}, 120_000);

afterAll(async () => {
  await c?.down();
}, 60_000);

const env = (): Record<string, string> => ({ SHOAL_RUN: c.host('h1').run });

describe('e2e: service logs', () => {
  it('shows the lines of both tasks with their hosts, and -f shows new ones', async () => {
    await c.createService('h1', 'chatty', { replicas: 2, args: ['sh', '-c', 'i=0; while true; do echo "tick $i"; i=$((i+1)); sleep 1; done'] });
    await until(async () => new Set((await c.running('h1', 'chatty')).map((t) => t.node)).size === 2, 'chatty on h1 and h2', 40_000);

    const r = await until(async () => {
      const out = await runShoal(['service', 'logs', 'chatty'], env());
      return /^chatty\.\d\.\w+@h1 +\| tick \d+$/m.test(out.stdout) && /^chatty\.\d\.\w+@h2 +\| tick \d+$/m.test(out.stdout) ? out : undefined;
    }, 'lines from both hosts', 30_000);
    expect(r.code, r.stderr).toBe(0);

    const child = spawn(process.execPath, ['--import', 'tsx', 'cli/main.ts', 'service', 'logs', '-f', '--tail', '0', 'chatty'], {
      cwd: REPO,
      env: { ...process.env, SHOAL_DEBUG: '', SHOAL_HOST: '', ...env() },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      // --tail 0: nothing old is shown, so any tick line was written after the command started.
      await until(() => /\| tick \d+$/m.test(out), 'a followed line', 20_000);
      const code = new Promise<number | null>((r) => child.on('close', (x) => r(x)));
      child.kill('SIGINT');
      expect(await code).toBe(0);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  }, 90_000);
});
