// The CLI's error handling end to end, through the real entry point: whatever the user gets
// wrong, the answer is one line on stderr, a non-zero exit code and no stack trace.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const base = mkdtempSync(join(tmpdir(), 'shoaltl-cli-'));
const notADir = join(base, 'file');
writeFileSync(notADir, 'not a directory\n');

afterAll(() => rmSync(base, { recursive: true, force: true }));

// Asynchronous on purpose: a spawnSync per call kept the vitest worker's event loop from turning
// for the whole file (over a minute on a loaded machine), and its pending RPC to the runner
// timed out ("Timeout calling onTaskUpdate"), failing the run.
function shoal(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('npx', ['tsx', 'cli/main.ts', ...args], {
      cwd: join(import.meta.dirname, '../..'),
      encoding: 'utf8',
      env: {
        ...process.env,
        SHOAL_DEBUG: '',
        SHOAL_LAB_STATE_DIR: join(base, 'state'),
        SHOAL_LAB_DATA_DIR: join(base, 'data'),
        ...env,
      },
      timeout: 60_000,
    }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
      resolve({ code, stdout, stderr });
    });
  });
}

function expectOneLineError(r: Awaited<ReturnType<typeof shoal>>, pattern: RegExp): void {
  expect(r.code, r.stderr).not.toBe(0);
  expect(r.code).not.toBeNull();
  expect(r.stdout).toBe('');
  const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
  expect(r.stderr).not.toMatch(/^\s+at /m);
}

describe('shoal CLI errors', () => {
  it('unknown command', async () => {
    expectOneLineError(await shoal(['bogus']), /unknown command 'bogus'/);
  });

  it('unknown subcommand', async () => {
    expectOneLineError(await shoal(['lab', 'bogus']), /unknown command 'bogus'/);
  });

  it('unknown option', async () => {
    expectOneLineError(await shoal(['lab', 'up', '--hosts', '2', '--bogus']), /unknown option '--bogus'/);
  });

  it('missing required option and argument', async () => {
    expectOneLineError(await shoal(['lab', 'up']), /required option '--hosts <n>'/);
    expectOneLineError(await shoal(['lab', 'exec']), /missing required argument 'host'/);
  });

  it('bad option values name the input and the fix', async () => {
    expectOneLineError(await shoal(['lab', 'up', '--hosts', 'banana']), /^shoal: --hosts "banana": give a whole number from 1 to 250$/);
    expectOneLineError(await shoal(['lab', 'up', '--hosts', '300']), /^shoal: --hosts "300": give a whole number from 1 to 250$/);
    expectOneLineError(await shoal(['lab', 'up', '--hosts', '2', '--subnet', '10.0.0.1/8']), /did you mean --subnet 10\.0\.0\.0\/8\?/);
    expectOneLineError(await shoal(['lab', 'ls', '--format', 'xml']), /argument 'xml' is invalid\. Allowed choices are table, json/);
  });

  it('a lab that does not exist', async () => {
    expectOneLineError(await shoal(['lab', 'exec', '--name', 'shoaltl-none', 'h1', 'true']), /^shoal: no lab named shoaltl-none is up; start one with/);
  });

  it('single-host container and image commands: bad values, unknown image, missing archive, nothing left', async () => {
    const cgroupParent = `shoaltl-cli-${process.pid}`;
    const env = { SHOAL_ROOT: join(base, 'root'), SHOAL_RUN: join(base, 'run'), SHOAL_CGROUP_PARENT: cgroupParent };
    expectOneLineError(await shoal(['container', 'run', '--memory', 'banana', 'busybox', 'true'], env), /--memory.*"banana".*64m/);
    expectOneLineError(await shoal(['container', 'run', '--cpus', 'lots', 'busybox', 'true'], env), /--cpus.*"lots"/);
    expectOneLineError(await shoal(['container', 'run', 'nosuchimage', 'true'], env), /nosuchimage.*not found.*shoal image load/);
    expectOneLineError(await shoal(['image', 'load', '-i', join(base, 'missing.tar')], env), /missing\.tar/);
    expect(existsSync(join(base, 'run', 'containers')) ? readdirSync(join(base, 'run', 'containers')).filter((e) => !e.startsWith('.')) : []).toEqual([]);
    expect(readdirSync('/sys/fs/cgroup', { withFileTypes: true }).filter((e) => e.isDirectory() && existsSync(join('/sys/fs/cgroup', e.name, cgroupParent)))).toEqual([]);
  });

  it('an internal failure: one line with a hint, exit 70, the stack only on request', async () => {
    const r = await shoal(['lab', 'ls'], { SHOAL_LAB_STATE_DIR: join(notADir, 'state') });
    expectOneLineError(r, /^shoal: internal error: .*ENOTDIR.*set SHOAL_DEBUG=1 for the stack\)$/);
    expect(r.code).toBe(70);
    const debug = await shoal(['lab', 'ls'], { SHOAL_LAB_STATE_DIR: join(notADir, 'state'), SHOAL_DEBUG: '1' });
    expect(debug.code).toBe(70);
    expect(debug.stderr).toMatch(/^\s+at /m);
  });
});
