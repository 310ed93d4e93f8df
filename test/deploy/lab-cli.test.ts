// `shoal lab up|ls|exec|down` through the real CLI entry point.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Lab } from '../../deploy/lab/lab.js';
import { residueOf, tempDirs } from './lab-helpers.js';

const NAME = 'shoaltl-cli';
const dirs = tempDirs('cli');

afterAll(async () => {
  try {
    await Lab.down(NAME, { ...dirs, graceMs: 0 });
    expect(residueOf(NAME, dirs)).toEqual([]);
  } finally {
    dirs.cleanup();
  }
});

// Asynchronous, so the vitest worker's event loop keeps turning while the CLI runs (a minute of
// spawnSync made its RPC to the runner time out, an unhandled error that fails the run).
function shoal(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('npx', ['tsx', 'cli/main.ts', ...args], {
      cwd: join(import.meta.dirname, '../..'),
      encoding: 'utf8',
      env: { ...process.env, SHOAL_LAB_STATE_DIR: dirs.stateDir, SHOAL_LAB_DATA_DIR: dirs.dataDir },
      timeout: 60_000,
    }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stdout, stderr });
    });
  });
}

describe('shoal lab', () => {
  it('up, ls, exec, down, down again', async () => {
    const up = await shoal('lab', 'up', '--name', NAME, '--hosts', '2', '--subnet', '172.20.9.0/24');
    expect(up.code, up.stderr).toBe(0);
    expect(up.stdout).toMatch(/h1\s+172\.20\.9\.2/);
    expect(up.stdout).toMatch(/h2\s+172\.20\.9\.3/);

    const ls = await shoal('lab', 'ls', '--format', 'json');
    expect(ls.code, ls.stderr).toBe(0);
    const labs = JSON.parse(ls.stdout) as { name: string; status: string; subnet: string; hosts: { name: string; addr: string }[] }[];
    expect(labs).toEqual([
      expect.objectContaining({ name: NAME, status: 'up', subnet: '172.20.9.0/24', hosts: [{ name: 'h1', addr: '172.20.9.2' }, { name: 'h2', addr: '172.20.9.3' }] }),
    ]);
    expect((await shoal('lab', 'ls')).stdout).toMatch(new RegExp(`^${NAME}\\s+2\\s+172\\.20\\.9\\.0/24\\s+up`, 'm'));

    // options after HOST belong to the command; its exit code is the CLI's
    const ex = await shoal('lab', 'exec', '--name', NAME, 'h2', '--', 'sh', '-c', 'hostname; echo $SHOAL_ADDR; exit 3');
    expect(ex.code).toBe(3);
    expect(ex.stdout).toBe('h2\n172.20.9.3\n');
    const killed = await shoal('lab', 'exec', '--name', NAME, 'h1', 'sh', '-c', 'kill -TERM $$');
    expect(killed.code).toBe(128 + 15);

    const again = await shoal('lab', 'up', '--name', NAME, '--hosts', '3');
    expect(again.code).not.toBe(0);
    expect(again.stderr.trim()).toMatch(/^shoal: lab shoaltl-cli already exists \(2 host\(s\), up\); run `shoal lab down --name shoaltl-cli` first/);
    expect((await shoal('lab', 'exec', '--name', NAME, 'h1', 'hostname')).stdout).toBe('h1\n');

    const badHost = await shoal('lab', 'exec', '--name', NAME, 'h7', 'true');
    expect(badHost.code).not.toBe(0);
    expect(badHost.stderr.trim()).toBe('shoal: lab shoaltl-cli has no host "h7"; its hosts are h1, h2');

    const down = await shoal('lab', 'down', '--name', NAME);
    expect(down.code, down.stderr).toBe(0);
    expect(down.stdout).toMatch(/removed/);
    expect(residueOf(NAME, dirs)).toEqual([]);
    const down2 = await shoal('lab', 'down', '--name', NAME);
    expect(down2.code, down2.stderr).toBe(0);
    expect(down2.stdout).toMatch(/not up; nothing to remove/);
  }, 240_000); // ten CLI processes (node + tsx each) and a lab up/down: over a minute on a loaded 2-core machine
});
