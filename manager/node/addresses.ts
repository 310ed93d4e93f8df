// Where a manager's services live. The cluster API (control, dispatcher, CA, Raft membership)
// is served on the advertised address (port 4243 by default); the Raft transport owns its own
// gRPC server (manager/raft/transport) and listens on the next port up. Keeping that rule in
// one place lets any manager turn a Raft member's address into its cluster API address.

export const DEFAULT_API_PORT = 4243;

function split(addr: string): { host: string; port: number } {
  const i = addr.lastIndexOf(':');
  if (i < 0) return { host: addr, port: DEFAULT_API_PORT };
  return { host: addr.slice(0, i), port: Number(addr.slice(i + 1)) };
}

/** host[:port] -> host:port with the default cluster API port. */
export function withApiPort(addr: string): string {
  const { host, port } = split(addr);
  return `${host}:${port}`;
}

/** The Raft transport address of the manager whose cluster API is at apiAddr. */
export function raftAddrFor(apiAddr: string): string {
  const { host, port } = split(apiAddr);
  return `${host}:${port + 1}`;
}

/** The cluster API address of the manager whose Raft transport is at raftAddr. */
export function apiAddrFor(raftAddr: string): string {
  const { host, port } = split(raftAddr);
  return `${host}:${port - 1}`;
}
