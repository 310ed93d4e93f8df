// The README's first command, end to end (minus install-deps.sh, which the suite has run):
// deploy/demo.sh builds the busybox image, brings up a 2-host lab, runs a limited container in
// each host and leaves the lab up; `deploy/demo.sh down` removes everything.
import { spawnSync } from 'node:child_process';
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

function demo(...args: string[]) {
  const r = spawnSync('bash', [join(repo, 'deploy/demo.sh'), ...args], { cwd: repo, env, encoding: 'utf8', timeout: 110_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('deploy/demo.sh', () => {
  it('runs a limited container in each of two hosts, then removes everything on down', async () => {
    expect(existsSync(join(repo, 'dist/cli/main.js')), 'dist/ is missing: run npm run build (install-deps.sh does)').toBe(true);
    const up = demo();
    expect(up.code, `${up.stdout}\n${up.stderr}`).toBe(0);
    for (const h of ['h1', 'h2']) expect(up.stdout).toMatch(new RegExp(`^web-${h}$`, 'm'));
    // 64m, from memory.limit_in_bytes (v1) or memory.max (v2), once per host
    expect(up.stdout.match(/^67108864$/gm)?.length).toBe(2);
    expect(up.stdout).toMatch(/^\s*1\s+\S+\s+.*\bsh\b/m); // ps: the command is pid 1 in its container
    expect(up.stdout.match(/^cpu quota: (50000|50000 100000)$/gm)?.length).toBe(2);
    expect(up.stdout.match(/^pids max: 64$/gm)?.length).toBe(2);
    expect(up.stdout).toMatch(/2 packets transmitted, 2 packets received/);
    expect(up.stdout).toMatch(/\.\/deploy\/demo\.sh down/);
    const lab = await Lab.open(NAME, dirs);
    expect(lab.hosts.map((h) => h.name)).toEqual(['h1', 'h2']);

    const down = demo('down');
    expect(down.code, down.stderr).toBe(0);
    expect(residueOf(NAME, dirs)).toEqual([]);
    expect(existsSync(out)).toBe(false);
  });
});
