// Runs the real `shoal` entry point as a child process. Runner-free (no vitest import): the lab
// cluster and the benchmarks use it outside vitest.
import { spawn } from 'node:child_process';
import { join } from 'node:path';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
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
