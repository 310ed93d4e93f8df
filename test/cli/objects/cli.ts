// The real `shoal` CLI process (tsx cli/main.ts) against the real Control API
// (test/manager/controlapi/harness.ts: MemoryStore, orchestrators, scheduler, fake agent) on a
// unix socket in a shoalso-* temp dir, with standard input when a test gives one.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startControl, type ControlHarness } from '../../manager/controlapi/harness.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const tsx = join(repo, 'node_modules/.bin/tsx');

export interface Run { code: number; stdout: string; stderr: string }

export interface CliEnv {
  dir: string;
  control: ControlHarness;
  shoal(args: string[], o?: { stdin?: string | Buffer; env?: Record<string, string> }): Promise<Run>;
  write(name: string, text: string | Buffer): string;
  close(): Promise<void>;
}

export async function startCli(): Promise<CliEnv> {
  const dir = mkdtempSync(join(tmpdir(), 'shoalso-'));
  let control: ControlHarness;
  try {
    control = await startControl({ bind: `unix:${join(dir, 'shoal.sock')}` });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    dir,
    control,
    shoal: (args, o = {}) =>
      new Promise((done) => {
        const child = spawn(tsx, [join(repo, 'cli/main.ts'), ...args], {
          cwd: dir,
          env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, SHOAL_RUN: dir, ...o.env },
          stdio: ['pipe', 'pipe', 'pipe'],
        });
        let stdout = '';
        let stderr = '';
        const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
        child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
        child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
        child.on('close', (code) => {
          clearTimeout(timer);
          done({ code: code ?? -1, stdout, stderr });
        });
        child.stdin.end(o.stdin ?? '');
      }),
    write: (name, text) => {
      writeFileSync(join(dir, name), text);
      return join(dir, name);
    },
    close: async () => {
      try {
        await control.close();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
