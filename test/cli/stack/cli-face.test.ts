// The CLI's own face (issue 13): top-level help with a summary a user can act on, the version,
// shell completion from the command definitions, and `stack config|deploy --profile`.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { completions, completionScript } from '../../../cli/completion.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const tsx = join(repo, 'node_modules/.bin/tsx');
let dir: string;

beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'shoalsk-')); });
afterAll(() => { rmSync(dir, { recursive: true, force: true }); });

function shoal(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(tsx, [join(repo, 'cli/main.ts'), ...args], {
      cwd: dir, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, SHOAL_RUN: join(dir, 'run'), SHOAL_ROOT: join(dir, 'root'), ...env }, timeout: 60_000,
    }, (err, stdout, stderr) => done({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }));
  });
}

describe('shoal --help, version, completion', () => {
  it('--help gives every top-level command a summary, not "init commands"', async () => {
    const r = await shoal(['--help']);
    expect(r.stdout).toMatch(/init\s+make this host the first manager of a new cluster/);
    expect(r.stdout).toMatch(/stack\s+deploy and inspect stacks described in Compose files/);
    expect(r.stdout).not.toMatch(/\b\w+ commands\b/);
  });

  it('the summaries are the groups\' own descriptions', async () => {
    const { summaries } = await import('../../../cli/main-summaries.js');
    const registrars: [string, () => Promise<(p: Command) => void>][] = [
      ['stack', async () => (await import('../../../cli/commands/stack.js')).registerStackCommands],
      ['service', async () => (await import('../../../cli/commands/service.js')).registerServiceCommands],
      ['node', async () => (await import('../../../cli/commands/node.js')).registerNodeCommands],
      ['secret', async () => (await import('../../../cli/commands/secret.js')).registerSecretCommands],
      ['config', async () => (await import('../../../cli/commands/config.js')).registerConfigCommands],
      ['network', async () => (await import('../../../cli/commands/network.js')).registerNetworkCommands],
      ['init', async () => (await import('../../../cli/commands/membership.js')).registerMembershipCommands],
      ['cluster', async () => (await import('../../../cli/commands/autolock.js')).registerClusterCommands],
      ['unlock', async () => (await import('../../../cli/commands/autolock.js')).registerUnlockCommands],
    ];
    for (const [name, load] of registrars) {
      const program = new Command('shoal');
      (await load())(program);
      for (const c of program.commands) if (summaries[c.name()] !== undefined) expect([c.name(), summaries[c.name()]]).toEqual([c.name(), c.description()]);
      expect(program.commands.map((c) => c.name())).toContain(name);
    }
  });

  it('version prints the client\'s version and says when the daemon is not reachable', async () => {
    for (const args of [['version'], ['--version']]) {
      const r = await shoal(args);
      expect(r.stdout).toMatch(/^Client: shoal 0\.1\.0 \(node [\d.]+\)\nDaemon: not reachable/);
    }
  });

  it('completion: scripts for bash and zsh; candidates come from the command definitions', async () => {
    expect(completionScript('bash')).toMatch(/complete -o default -F _shoal shoal/);
    expect(completionScript('zsh')).toMatch(/^#compdef shoal/);
    expect((await shoal(['completion', 'fish'])).stderr).toMatch(/use bash or zsh/);
    expect((await shoal(['__complete', 'st'])).stdout).toBe('stack\tdeploy and inspect stacks described in Compose files\n');
    const load = async (name: string) => (name === 'stack' ? (await import('../../../cli/commands/stack.js')).registerStackCommands : undefined);
    expect(await completions(new Command('shoal'), ['stack', 'd'], {}, load)).toEqual([expect.stringMatching(/^deploy\tcreate or update the services of a stack/)]);
    expect((await completions(new Command('shoal'), ['stack', 'deploy', '--pr'], {}, load)).map((r) => r.split('\t')[0])).toEqual(['--prune', '--profile']);
  });
});

describe('stack config --profile', () => {
  it('says on stderr which services are left out, and prints the others', async () => {
    const file = join(dir, 'p.yml');
    writeFileSync(file, 'services:\n  web:\n    image: nginx\n  debug:\n    image: busybox\n    profiles: [debug]\n');
    const r = await shoal(['stack', 'config', '-c', file]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('left out: service debug (profile debug not active: --profile debug deploys it)\n');
    expect(r.stdout).not.toMatch(/busybox/);
    const withProfile = await shoal(['stack', 'config', '-c', file, '--profile', 'debug']);
    expect([withProfile.stderr, withProfile.stdout]).toEqual(['', expect.stringMatching(/busybox/)]);
    expect((await shoal(['stack', 'config', '-c', file], { COMPOSE_PROFILES: 'debug' })).stdout).toMatch(/busybox/);
  });
});
