// `shoal lab up|ls|exec|down`: the lab of simulated hosts, from the command line.
import { constants } from 'node:os';
import { Command, Option } from 'commander';
import { DEFAULT_LAB, DEFAULT_SUBNET } from './config.js';
import { Lab, type LabSummary } from './lab.js';
import { UsageError } from '../../cli/errors.js';

export function registerLabCommands(program: Command): void {
  const lab = program
    .command('lab')
    .description('simulated hosts on this machine (network + UTS namespaces)')
    .enablePositionalOptions(); // lets `exec` hand everything after HOST to the command
  const nameOption = () => new Option('--name <lab>', 'lab name').default(DEFAULT_LAB);

  lab
    .command('up')
    .description('make a lab of N hosts, each with its own address, hostname and SHOAL_ROOT/SHOAL_RUN')
    .requiredOption('--hosts <n>', 'number of hosts')
    .addOption(nameOption())
    .option('--subnet <cidr>', 'underlay subnet, private to this machine', DEFAULT_SUBNET)
    .action(async (opts: { hosts: string; name: string; subnet: string }) => {
      // Ctrl-C during up rolls back instead of leaving a half-made lab.
      const abort = new AbortController();
      const onSignal = () => abort.abort();
      process.on('SIGINT', onSignal).on('SIGTERM', onSignal);
      const l = await Lab.up({ name: opts.name, hosts: opts.hosts, subnet: opts.subnet, signal: abort.signal }).finally(
        () => process.off('SIGINT', onSignal).off('SIGTERM', onSignal),
      );
      process.stdout.write(`lab ${l.name} is up (${l.subnet}, switch ${l.switchAddr}):\n`);
      for (const h of l.hosts) process.stdout.write(`  ${h.name}  ${h.addr}  SHOAL_ROOT=${h.root}\n`);
      process.stdout.write(`run commands with: shoal lab exec --name ${l.name} h1 -- CMD...\n`);
    });

  lab
    .command('ls')
    .description('list labs')
    .addOption(new Option('--format <format>', 'output format').choices(['table', 'json']).default('table'))
    .action(async (opts: { format: 'table' | 'json' }) => {
      const labs = await Lab.list();
      if (opts.format === 'json') process.stdout.write(`${JSON.stringify(labs, null, 2)}\n`);
      else process.stdout.write(formatTable(labs));
    });

  lab
    .command('exec')
    .description('run a command inside a host of the lab; exits with its exit code')
    .addOption(nameOption())
    .argument('<host>', 'host name (h1, h2, ...)')
    .argument('<cmd...>', 'command and arguments (put them after --)')
    .passThroughOptions()
    .action(async (host: string, cmd: string[], opts: { name: string }) => {
      const l = await Lab.open(opts.name);
      l.host(host); // unknown host: one clear error before anything runs
      process.exitCode = await runAttached(l, host, cmd);
    });

  lab
    .command('down')
    .description('remove the lab: its processes, namespaces, links, mounts and directories (idempotent)')
    .addOption(nameOption())
    .action(async (opts: { name: string }) => {
      const report = await Lab.down(opts.name);
      if (report.residue.length > 0) {
        throw new UsageError(
          `lab ${opts.name}: could not remove ${report.residue.join('; ')}; fix that and run \`shoal lab down\` again`,
        );
      }
      process.stdout.write(
        report.removed === 0
          ? `lab ${opts.name} is not up; nothing to remove\n`
          : `lab ${opts.name} removed (${report.removed} objects, ${report.killed} processes stopped)\n`,
      );
    });
}

/** Runs with the terminal attached; a signal death becomes 128+N as a shell reports it. */
function runAttached(l: Lab, host: string, cmd: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = l.spawn(host, cmd, { stdio: 'inherit' });
    const forward = (sig: NodeJS.Signals) => child.kill(sig);
    process.on('SIGINT', forward).on('SIGTERM', forward);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      process.off('SIGINT', forward).off('SIGTERM', forward);
      if (code !== null) resolve(code);
      else resolve(128 + (signal ? constants.signals[signal] : 0));
    });
  });
}

function formatTable(labs: LabSummary[]): string {
  const rows = [['NAME', 'HOSTS', 'SUBNET', 'STATUS', 'CREATED']];
  for (const l of labs) rows.push([l.name, String(l.hosts.length), l.subnet, l.status, l.createdAt]);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
}
