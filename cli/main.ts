#!/usr/bin/env node
// The `shoal` command. Cluster commands (service, node, init, join, ...) talk to daemons over
// gRPC only; the single-host groups (container, image) act on the local runtime directly, as
// `ctr` does; `lab` drives the lab of simulated hosts; `daemon` runs the daemon itself. Each group is loaded only when used, so that `shoal service ls`
// never loads the native addon.
import { Command, CommanderError } from 'commander';
import { isUserFacing, UsageError } from './errors.js';
import { summaries } from './main-summaries.js';

type Registrar = (program: Command) => void;

const groups: Record<string, () => Promise<Registrar>> = {
  container: async () => (await import('../agent/commands/container.js')).registerContainerCommands,
  image: async () => (await import('../agent/commands/image.js')).registerImageCommands,
  lab: async () => (await import('../deploy/lab/commands.js')).registerLabCommands,
  stack: async () => (await import('./commands/stack.js')).registerStackCommands,
  service: async () => {
    const base = await import('./commands/service.js');
    const update = await import('./commands/service-update.js');
    return (p: Command) => {
      base.registerServiceCommands(p);
      update.registerServiceUpdateCommands(p);
      base.finishServiceCommands(p);
    };
  },
  node: async () => (await import('./commands/node.js')).registerNodeCommands,
  secret: async () => (await import('./commands/secret.js')).registerSecretCommands,
  config: async () => (await import('./commands/config.js')).registerConfigCommands,
  network: async () => (await import('./commands/network.js')).registerNetworkCommands,
  init: async () => (await import('./commands/membership.js')).registerMembershipCommands,
  join: async () => (await import('./commands/membership.js')).registerMembershipCommands,
  leave: async () => (await import('./commands/membership.js')).registerMembershipCommands,
  'join-token': async () => (await import('./commands/membership.js')).registerMembershipCommands,
  info: async () => (await import('./commands/membership.js')).registerMembershipCommands,
  daemon: async () => (await import('../daemon/command.js')).registerDaemonCommand,
  cluster: async () => (await import('./commands/autolock.js')).registerClusterCommands,
  unlock: async () => (await import('./commands/autolock.js')).registerUnlockCommands,
  'unlock-key': async () => (await import('./commands/autolock.js')).registerUnlockCommands,
};

const builtins: Record<string, () => Promise<Registrar>> = {
  version: async () => (await import('./version.js')).registerVersionCommand,
  completion: async () => (p: Command) => {
    p.command('completion').description(summaries.completion!).argument('<shell>', 'bash or zsh')
      .action(async (shell: string) => {
        const { completionScript } = await import('./completion.js');
        if (shell !== 'bash' && shell !== 'zsh') throw new UsageError(`no completion for shell "${shell}": use bash or zsh`);
        process.stdout.write(completionScript(shell));
      });
  },
};

export async function main(argv: string[]): Promise<number> {
  const program = new Command('shoal')
    .description('shoal: a multi-host container orchestrator')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  const wanted = argv[2];
  const all = { ...groups, ...builtins };
  if (wanted === '--version' || wanted === '-v') argv = [...argv.slice(0, 2), 'version', ...argv.slice(3)];
  if (wanted === '__complete') {
    const { completions } = await import('./completion.js');
    const rows = await completions(program, argv.slice(3), summaries, async (name) => (all[name] ? all[name]!() : undefined));
    process.stdout.write(rows.map((r) => `${r}\n`).join(''));
    return 0;
  }
  const load = argv[2] !== undefined ? all[argv[2]] : undefined;
  if (load) {
    (await load())(program);
  } else {
    for (const name of Object.keys(all)) program.command(name).description(summaries[name] ?? `${name} commands`);
  }
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    return reportError(err);
  }
}

function reportError(err: unknown): number {
  if (err instanceof CommanderError) {
    // commander already printed the message (or the help text for --help / --version)
    return err.exitCode;
  }
  if (isUserFacing(err)) {
    process.stderr.write(`shoal: ${err.message}\n`);
    return err.exitCode ?? 1;
  }
  const e = err instanceof Error ? err : new Error(String(err));
  if (process.env.SHOAL_DEBUG) process.stderr.write(`${e.stack}\n`);
  process.stderr.write(`shoal: internal error: ${e.message} (set SHOAL_DEBUG=1 for the stack)\n`);
  return 70;
}

main(process.argv).then(
  (code) => process.exit(code),
  (err) => process.exit(reportError(err)),
);
