// Autolock (manager/keys/README.md): `shoal cluster update --autolock=true|false`,
// `shoal unlock` (a restarted manager of an autolocked cluster), `shoal unlock-key [--rotate] [-q]`.
import type { Command } from 'commander';
import { ControlService } from '../../proto/gen/control.js';
import { DaemonService } from '../../proto/gen/daemon.js';
import { addConnectionOptions, connectionFlags, withConnection } from '../client/index.js';
import { UsageError } from '../errors.js';
import { readUnlockKey } from './unlock-prompt.js';


/** What Swarm prints next to a new key, in our words: without it a restarted manager stays locked. */
export function unlockKeyNotice(key: string): string {
  return (
    'To unlock a manager of this cluster after it restarts, run `shoal unlock` on it and give this key:\n\n' +
    `    ${key}\n\n` +
    'Keep it somewhere safe (a password manager): without it a restarted manager cannot read its state.\n'
  );
}

function parseBool(v: string): boolean {
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw new UsageError(`--autolock takes true or false, not ${JSON.stringify(v)}`);
}

export function registerClusterCommands(program: Command): void {
  const cluster = program.command('cluster').description('cluster-wide settings');
  addConnectionOptions(
    cluster
      .command('update')
      .description('change cluster-wide settings')
      .option('--autolock <bool>', 'true: managers keep their Raft key-encryption key off disk and need `shoal unlock` after a restart; false: undo'),
  ).action(async (f: { autolock?: string }, cmd: Command) => {
    if (f.autolock === undefined) throw new UsageError('nothing to update: give --autolock=true or --autolock=false');
    const autolock = parseBool(f.autolock);
    await withConnection(connectionFlags(cmd), async (c) => {
      const r = await c.call(ControlService.updateAutolock, { autolock });
      process.stdout.write('Cluster updated.\n');
      if (autolock && r.unlockKey) process.stdout.write(`\n${unlockKeyNotice(r.unlockKey)}`);
    });
  });
}

export function registerUnlockCommands(program: Command): void {
  addConnectionOptions(
    program
      .command('unlock')
      .description('unlock this manager after a restart (autolock): asks for the unlock key, or reads it from stdin'),
  ).action(async (_f: object, cmd: Command) => {
    const key = await readUnlockKey();
    if (!key) throw new UsageError('no unlock key given: type it at the prompt or pipe it in (`shoal unlock-key -q` on an unlocked manager prints it)');
    await withConnection(connectionFlags(cmd), async (c) => {
      await c.call(DaemonService.unlock, { unlockKey: key }, 120_000);
      process.stdout.write('Manager unlocked.\n');
    });
  });

  addConnectionOptions(
    program
      .command('unlock-key')
      .description("print (or rotate) the cluster's unlock key")
      .option('--rotate', 'make a new unlock key (managers re-wrap their keys with it; the old one stops working)')
      .option('-q, --quiet', 'print only the key'),
  ).action(async (f: { rotate?: boolean; quiet?: boolean }, cmd: Command) => {
    await withConnection(connectionFlags(cmd), async (c) => {
      const r = await c.call(f.rotate ? ControlService.rotateUnlockKey : ControlService.getUnlockKey, {});
      if (f.quiet) return void process.stdout.write(`${r.unlockKey}\n`);
      if (f.rotate) process.stdout.write('Successfully rotated the manager unlock key.\n\n');
      process.stdout.write(unlockKeyNotice(r.unlockKey));
    });
  });
}
