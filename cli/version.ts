// `shoal version` / `shoal --version`: the client's version, and the daemon's when it answers.
import type { Command } from 'commander';
import { DaemonService } from '../proto/gen/daemon.js';
import { shoalVersion } from '../rules/version.js';
import { addConnectionOptions, connectionFlags, withConnection } from './client/index.js';

export function registerVersionCommand(program: Command): void {
  addConnectionOptions(program.command('version').description("print the client's version, and the daemon's when it is reachable"))
    .action(async (_opts: object, cmd: Command) => {
      process.stdout.write(`Client: shoal ${shoalVersion()} (node ${process.versions.node})\n`);
      const answer = await Promise.race([
        withConnection(connectionFlags(cmd), async (c) => c.call(DaemonService.info, {})).then((i) => `shoal ${i.version || 'unknown (an older daemon)'} (cluster ${i.state})`, (e: Error) => `not reachable: ${e.message.split('\n')[0]}`),
        new Promise<string>((resolve) => setTimeout(() => resolve('not reachable: no answer within 3s'), 3000).unref()),
      ]);
      process.stdout.write(`Daemon: ${answer}\n`);
    });
}
