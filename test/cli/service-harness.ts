// Runs the real `shoal` entry point as a child process (asynchronously: the control API under
// test is served by this same process) against a control API on a unix socket in a temp dir.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { startControl, type ControlHarness, type ControlHarnessOptions } from '../manager/controlapi/harness.js';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliHarness {
  run: string;
  control: ControlHarness;
  shoal(args: string[], env?: Record<string, string>): Promise<CliResult>;
  close(): Promise<void>;
}

/** Runs `shoal ARGS` (tsx, from the repository root) without blocking this process. */
export function runShoal(args: string[], env: Record<string, string>): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    // node --import tsx: what `npx tsx` runs, without npx's second of start-up per command.
    const child = spawn(process.execPath, ['--import', 'tsx', 'cli/main.ts', ...args], {
      cwd: join(import.meta.dirname, '../..'),
      env: { ...process.env, SHOAL_DEBUG: '', SHOAL_HOST: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export async function startCli(o: ControlHarnessOptions = {}): Promise<CliHarness> {
  const run = mkdtempSync(join(tmpdir(), 'shoalcx-'));
  try {
    const control = await startControl({ ...o, bind: `unix:${join(run, 'shoal.sock')}` });
    return {
      run,
      control,
      shoal: (args, env = {}) => runShoal(args, { SHOAL_RUN: run, ...env }),
      close: async () => {
        await control.close();
        rmSync(run, { recursive: true, force: true });
      },
    };
  } catch (err) {
    rmSync(run, { recursive: true, force: true });
    throw err;
  }
}

export function expectOneLineError(r: CliResult, pattern: RegExp): void {
  expect(r.code, r.stderr).toBe(1);
  const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
  expect(r.stderr).not.toMatch(/^\s+at /m);
}
