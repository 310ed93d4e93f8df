// `shoal version` / `shoal --version`: the client's version, and whether the daemon answers.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { DaemonService } from '../proto/gen/daemon.js';
import { addConnectionOptions, connectionFlags, withConnection } from './client/index.js';

/** The version in shoal's package.json (found upwards from this file, in the source tree or dist/). */
export function clientVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'shoal' && pkg.version) return pkg.version;
    } catch { /* not here: look one level up */ }
    dir = dirname(dir);
  }
  return 'unknown';
}

export function registerVersionCommand(program: Command): void {
  addConnectionOptions(program.command('version').description("print the client's version, and the daemon's when it is reachable"))
    .action(async (_opts: object, cmd: Command) => {
      process.stdout.write(`Client: shoal ${clientVersion()} (node ${process.versions.node})\n`);
      // The daemon's Info has no version field yet: say whether it answers, and its state.
      const answer = await Promise.race([
        withConnection(connectionFlags(cmd), async (c) => c.call(DaemonService.info, {})).then((i) => `reachable (cluster ${i.state}); it does not report its version yet`, (e: Error) => `not reachable: ${e.message.split('\n')[0]}`),
        new Promise<string>((resolve) => setTimeout(() => resolve('not reachable: no answer within 3s'), 3000).unref()),
      ]);
      process.stdout.write(`Daemon: ${answer}\n`);
    });
}
