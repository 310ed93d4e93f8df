// Issue 9, point 6: `shoal container run --rm … | head -2`. When head exits, the CLI's writes fail
// with EPIPE; it crashed on the unhandled error and left the container running. Now it stops the
// container, removes it (--rm), and exits 141 as a command killed by SIGPIPE would. Real CLI
// processes in a real shell pipeline.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImageStore } from '../../../agent/images/index.js';
import { detectCgroups } from '../../../agent/runtime/cgroups/index.js';
import { leftoverCgroups, leftoverMounts } from '../runtime/helpers.js';
import { testImagePath } from '../../helpers/images.js';

const REPO = join(import.meta.dirname, '../../..');
const CG = `shoalepipe-${process.pid}`;
// endless output; TERM ends it (a shell as pid 1 would otherwise ignore it until the grace period ends)
const CHATTY = ['busybox', 'sh', '-c', 'trap "exit 0" TERM; i=0; while :; do i=$((i+1)); echo line $i; done'];
let base: string;

const containerDirs = (): string[] => {
  const d = join(base, 'run', 'containers');
  return existsSync(d) ? readdirSync(d).filter((e) => /^[0-9a-f]{64}$/.test(e)) : [];
};

function cliArgv(...args: string[]): string {
  return [process.execPath, '--import', 'tsx', join(REPO, 'cli/main.ts'), 'container', ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
}

/** `shoal container ARGS | head -N`: head's output, the CLI's exit status and its stderr. */
function piped(lines: number, ...args: string[]): { out: string; cliStatus: number; err: string } {
  const errFile = join(base, `err-${Math.random().toString(36).slice(2)}`);
  const r = spawnSync('bash', ['-c', `${cliArgv(...args)} 2>${errFile} | head -${lines}; echo "status=\${PIPESTATUS[0]}" >&2`], {
    cwd: REPO,
    encoding: 'utf8',
    env: { ...process.env, SHOAL_ROOT: join(base, 'root'), SHOAL_RUN: join(base, 'run'), SHOAL_CGROUP_PARENT: CG, SHOAL_DEBUG: '' },
    timeout: 90_000,
  });
  const status = /status=(\d+)/.exec(r.stderr);
  return { out: r.stdout, cliStatus: status ? Number(status[1]) : -1, err: readFileSync(errFile, 'utf8') };
}

function cli(...args: string[]): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(REPO, 'cli/main.ts'), 'container', ...args], {
    cwd: REPO,
    encoding: 'utf8',
    env: { ...process.env, SHOAL_ROOT: join(base, 'root'), SHOAL_RUN: join(base, 'run'), SHOAL_CGROUP_PARENT: CG },
    timeout: 60_000,
  });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

beforeAll(async () => {
  base = mkdtempSync(join(tmpdir(), 'shoalepipe-'));
  await new ImageStore({ root: join(base, 'root', 'images') }).load(testImagePath('busybox'));
});

afterAll(async () => {
  for (const id of containerDirs()) cli('rm', '-f', id);
  await detectCgroups().open(CG)?.remove();
  expect(leftoverCgroups(CG)).toEqual([]);
  expect(leftoverMounts(base)).toEqual([]);
  rmSync(base, { recursive: true, force: true });
});

describe('container run into a pipe that closes', () => {
  it('--rm: head gets its lines, the CLI exits 141 without a crash, the container is gone', () => {
    const r = piped(2, 'run', '--rm', '--name', 'shoalepipe-rm', ...CHATTY);
    expect(r.out).toBe('line 1\nline 2\n');
    expect(r.err).toBe('');
    expect(r.cliStatus).toBe(141);
    expect(containerDirs()).toEqual([]);
  });

  it('without --rm: the container is stopped, not left running', () => {
    const r = piped(1, 'run', '--name', 'shoalepipe-keep', ...CHATTY);
    expect(r.out).toBe('line 1\n');
    expect(r.err).toBe('');
    expect(r.cliStatus).toBe(141);
    const info = JSON.parse(cli('inspect', 'shoalepipe-keep').out) as { state: string; exit?: { code: number } }[];
    expect(info[0]).toMatchObject({ state: 'exited', exit: { code: 0 } }); // its TERM trap ran
    expect(cli('rm', 'shoalepipe-keep').code).toBe(0);
  });

  it('logs -f of a running container stops quietly when its reader goes', () => {
    expect(cli('run', '-d', '--name', 'shoalepipe-logs', ...CHATTY).code).toBe(0);
    const r = piped(1, 'logs', '-f', 'shoalepipe-logs');
    // the oldest line the log still holds: line 1 has rotated away if the CLI took a while to start
    expect(r.out).toMatch(/^line \d+\n$/);
    expect(r.err).toBe('');
    expect(r.cliStatus).toBe(141);
    expect(cli('rm', '-f', 'shoalepipe-logs').code).toBe(0);
  });
});
