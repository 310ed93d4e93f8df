// How the CLI reaches a daemon: see target.ts (where), connect.ts (calls), errors.ts (messages).
export { connect, withConnection, Connection, CALL_TIMEOUT_MS } from './connect.js';
export { listAll } from './paging.js';
export { resolveTarget, localSocket, DEFAULT_CLUSTER_PORT, type ConnectionFlags, type Target } from './target.js';
export { DaemonUnreachableError, RemoteError, fromGrpc } from './errors.js';
export { addConnectionOptions, connectionFlags } from './options.js';
