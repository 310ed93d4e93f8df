// The README's first command, end to end (minus install-deps.sh, which the suite has run):
// deploy/demo.sh builds the busybox image, brings up a 3-host lab, starts a daemon in each host,
// forms a cluster (init + 2 joins), runs a 3-replica service with limits on it and leaves the
// lab up; `deploy/demo.sh down` removes everything (daemons and containers included).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Lab } from '../../deploy/lab/lab.js';
import { residueOf, tempDirs } from './lab-helpers.js';

const NAME = 'shoaltl-demo';
const dirs = tempDirs('demo');
const repo = join(import.meta.dirname, '../..');
const out = join(dirs.base, 'out');
const env = {
  ...process.env,
  SHOAL_DEMO_SKIP_INSTALL: '1',
  SHOAL_DEMO_LAB: NAME,
  SHOAL_DEMO_DIR: out,
  SHOAL_LAB_STATE_DIR: dirs.stateDir,
  SHOAL_LAB_DATA_DIR: dirs.dataDir,
};

afterAll(async () => {
  try {
    await Lab.down(NAME, { ...dirs, graceMs: 0 });
    expect(residueOf(NAME, dirs)).toEqual([]);
  } finally {
    dirs.cleanup();
  }
});

/** Runs the demo without blocking the event loop (vitest's worker RPC gives up after 60 s). */
function demo(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn('bash', [join(repo, 'deploy/demo.sh'), ...args], { cwd: repo, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), 170_000);
    p.on('error', reject);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('deploy/demo.sh', () => {
  it('forms a 3-host cluster and runs a service with limits on it, then removes everything on down', async () => {
    expect(existsSync(join(repo, 'dist/cli/main.js')), 'dist/ is missing: run npm run build (install-deps.sh does)').toBe(true);
    const up = await demo();
    expect(up.code, `${up.stdout}\n${up.stderr}`).toBe(0);
    expect(up.stdout).toMatch(/Cluster initialized/);
    expect(up.stdout.match(/This node joined a cluster as a worker/g)?.length).toBe(2);
    // node ls: the three hosts, ready
    for (const h of ['h1', 'h2', 'h3']) expect(up.stdout).toMatch(new RegExp(`\\b${h}\\b.*\\bready\\b`, 'im'));
    expect(up.stdout).toMatch(/web: 3\/3 running/);
    // service logs: each task's limits, one line per task (64m from memory.limit_in_bytes or memory.max)
    expect(up.stdout.match(/\b67108864$/gm)?.length).toBe(3);
    expect(up.stdout.match(/cpu quota: (50000|50000 100000)$/gm)?.length).toBe(3);
    expect(up.stdout.match(/pids max: 64$/gm)?.length).toBe(3);
    expect(up.stdout.match(/\|\s+1\s+root\s+sh$/gm)?.length).toBe(3); // ps: the command is pid 1 in each container
    expect(up.stdout).toMatch(/2 packets transmitted, 2 packets received/);
    expect(up.stdout).toMatch(/\.\/deploy\/demo\.sh down/);
    const lab = await Lab.open(NAME, dirs);
    expect(lab.hosts.map((h) => h.name)).toEqual(['h1', 'h2', 'h3']);

    const down = await demo('down');
    expect(down.code, down.stderr).toBe(0);
    expect(residueOf(NAME, dirs)).toEqual([]);
    expect(existsSync(out)).toBe(false);
  }, 240_000);
});
