// `shoal stack ...`. Only `config` exists until the cluster's control API does: it loads the
// stack files exactly as `deploy` will and prints the result.
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { UsageError } from '../errors.js';
import { loadStack } from '../stack/load.js';
import { checkStackName } from '../stack/names.js';
import { renderStack, renderWarning } from '../stack/render.js';

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

export function registerStackCommands(program: Command): void {
  const stack = program.command('stack').description('deploy and inspect stacks described in Compose files');
  stack
    .command('config')
    .description('print the fully resolved stack file (interpolated, merged, normalised)')
    .option('-c, --compose-file <file>', 'Compose file (required; - reads standard input); repeat to merge overrides in order', collect)
    .option('--stack-name <name>', 'check service names against this stack name (63-character limit)')
    .action((opts: { composeFile?: string[]; stackName?: string }) => {
      const files = opts.composeFile ?? [];
      if (files.length === 0) throw new UsageError('stack config needs a stack file: pass -c FILE (repeat -c to merge overrides)');
      if (opts.stackName !== undefined) checkStackName(opts.stackName);
      const { stack: spec, warnings } = loadStack({
        files,
        env: process.env,
        workingDir: files[0] === '-' ? process.cwd() : dirname(resolve(files[0]!)),
        ...(opts.stackName !== undefined ? { stackName: opts.stackName } : {}),
      });
      for (const w of warnings) process.stderr.write(`${renderWarning(w)}\n`);
      process.stdout.write(renderStack(spec));
    });
}
