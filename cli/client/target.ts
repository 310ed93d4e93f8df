// Where the CLI finds a daemon: the local unix socket (SHOAL_RUN/shoal.sock, no TLS: its file
// permissions are the authentication), or a manager's cluster address (--host / SHOAL_HOST)
// with a client certificate (--tlscert/--tlskey/--tlscacert, or a certificates directory).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { credentials, type ChannelCredentials } from '@grpc/grpc-js';
import { UsageError } from '../errors.js';

export const DEFAULT_CLUSTER_PORT = 4243;

export interface ConnectionFlags {
  host?: string;
  tlscert?: string;
  tlskey?: string;
  tlscacert?: string;
  /** A directory holding node.crt, node.key and root.crt (default SHOAL_ROOT/certificates). */
  certDir?: string;
}

export interface Target {
  /** grpc target string (unix:/path or host:port). */
  address: string;
  /** What to show the user (unix:///run/shoal/shoal.sock or host:port). */
  display: string;
  local: boolean;
  credentials: ChannelCredentials;
  /** Channel options (TLS: a fixed server name, since certificates name node ids, not hosts). */
  options: Record<string, string | number>;
}

export function localSocket(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.SHOAL_RUN || '/run/shoal', 'shoal.sock');
}

function readPem(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new UsageError(`cannot read the ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}; pass --${what.replace(/ .*/, '')} FILE`);
  }
}

/** The daemon to talk to, from flags and the environment. */
export function resolveTarget(flags: ConnectionFlags, env: NodeJS.ProcessEnv = process.env): Target {
  const host = flags.host ?? env.SHOAL_HOST;
  if (!host || host.startsWith('unix:')) {
    const path = host ? host.replace(/^unix:(\/\/)?/, '') : localSocket(env);
    return { address: `unix:${path}`, display: `unix://${path}`, local: true, credentials: credentials.createInsecure(), options: {} };
  }
  const address = /:\d+$/.test(host) ? host.replace(/^tcp:\/\//, '') : `${host.replace(/^tcp:\/\//, '')}:${DEFAULT_CLUSTER_PORT}`;
  const dir = flags.certDir ?? env.SHOAL_CERT_DIR ?? join(env.SHOAL_ROOT || '/var/lib/shoal', 'certificates');
  const cert = readPem(flags.tlscert ?? join(dir, 'node.crt'), 'tlscert file');
  const key = readPem(flags.tlskey ?? join(dir, 'node.key'), 'tlskey file');
  const ca = readPem(flags.tlscacert ?? join(dir, 'root.crt'), 'tlscacert file');
  // Node certificates name the node id, not a host name: the chain to the cluster root is the check.
  const creds = credentials.createSsl(ca, key, cert, { checkServerIdentity: () => undefined });
  // An IP address as TLS server name draws a Node warning (RFC 6066) on stderr: name it instead.
  return { address, display: address, local: false, credentials: creds, options: { 'grpc.ssl_target_name_override': 'shoal-manager' } };
}

/** True when the local socket plainly does not exist (the daemon is not running). */
export function socketMissing(t: Target): boolean {
  return t.local && !existsSync(t.address.slice('unix:'.length));
}
