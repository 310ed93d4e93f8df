// The connection flags every cluster command accepts.
import type { Command } from 'commander';
import type { ConnectionFlags } from './target.js';

export function addConnectionOptions(cmd: Command): Command {
  return cmd
    .option('-H, --host <addr>', 'manager address host[:port] (default: the local daemon socket; env SHOAL_HOST)')
    .option('--tlscert <file>', 'client certificate for --host (default SHOAL_ROOT/certificates/node.crt)')
    .option('--tlskey <file>', 'client key for --host')
    .option('--tlscacert <file>', 'cluster root certificate for --host')
    .option('--cert-dir <dir>', 'directory with node.crt, node.key and root.crt for --host');
}

export function connectionFlags(cmd: Command): ConnectionFlags {
  const o = cmd.optsWithGlobals() as ConnectionFlags;
  return { host: o.host, tlscert: o.tlscert, tlskey: o.tlskey, tlscacert: o.tlscacert, certDir: o.certDir };
}
