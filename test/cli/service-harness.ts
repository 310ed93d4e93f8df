// Runs the real `shoal` entry point as a child process (asynchronously: the control API under
// test is served by this same process) against a control API on a unix socket in a temp dir.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { startControl, type ControlHarness, type ControlHarnessOptions } from '../manager/controlapi/harness.js';
import { runShoal, type CliResult } from './run-shoal.js';

export { runShoal, type CliResult };

export interface CliHarness {
  run: string;
  control: ControlHarness;
  shoal(args: string[], env?: Record<string, string>): Promise<CliResult>;
  close(): Promise<void>;
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
