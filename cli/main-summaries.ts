// The one-line summary of each top-level command.
/** What each top-level command does, for `shoal --help` and completion without loading every
 *  group; test/cli/stack/cli-face.test.ts checks them against the groups' own definitions. */
export const summaries: Readonly<Record<string, string>> = {
  init: 'make this host the first manager of a new cluster',
  join: 'join this host to a cluster as a worker or a manager (the token decides)',
  leave: 'take this host out of its cluster',
  'join-token': 'print (or rotate) the command that joins a worker or a manager',
  info: "describe this host's node and its cluster",
  service: 'manage the services of the cluster',
  stack: 'deploy and inspect stacks described in Compose files',
  node: 'manage the nodes of the cluster',
  secret: 'manage secrets: files mounted read-only into containers (under /run/secrets), never shown back',
  config: 'manage configs: files mounted read-only into containers',
  network: 'manage the networks of the cluster',
  cluster: 'cluster-wide settings',
  unlock: 'unlock this manager after a restart (autolock): asks for the unlock key, or reads it from stdin',
  'unlock-key': "print (or rotate) the cluster's unlock key",
  container: 'run and manage containers on this host',
  image: 'manage images in the local store',
  daemon: 'run the shoal daemon of this host in the foreground (agent, and manager on manager hosts)',
  lab: 'simulated hosts on this machine (network + UTS namespaces)',
  version: "print the client's version, and the daemon's when it is reachable",
  completion: 'print a shell completion script: eval "$(shoal completion bash)" (or zsh)',
};

