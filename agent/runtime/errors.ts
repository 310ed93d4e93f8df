// Typed errors of the container runtime. The user-facing ones carry `userError` so the CLI
// prints their message alone; each message names the input and the way out.

/** A spec field that cannot work (missing bind source, bad env entry, ...). */
export class ContainerSpecError extends Error {
  readonly userError = true as const;
  constructor(message: string) {
    super(message);
    this.name = 'ContainerSpecError';
  }
}

export class NoSuchContainerError extends Error {
  readonly userError = true as const;
  constructor(ref: string) {
    super(`no such container: ${ref} (see \`shoal container ls -a\`)`);
    this.name = 'NoSuchContainerError';
  }
}

export class NameInUseError extends Error {
  readonly userError = true as const;
  constructor(name: string, id: string) {
    super(`container name "${name}" is already in use by ${id.slice(0, 12)}: remove that container or pick another --name`);
    this.name = 'NameInUseError';
  }
}

/** The container is in a state the operation cannot handle (e.g. rm of a running one). */
export class ContainerStateError extends Error {
  readonly userError = true as const;
  constructor(message: string) {
    super(message);
    this.name = 'ContainerStateError';
  }
}

/** The shim could not start the container's process (command not found, bad cwd, mount failure). */
export class ContainerStartError extends Error {
  readonly userError = true as const;
  readonly exitCode = 127;
  constructor(id: string, reason: string) {
    super(`container ${id.slice(0, 12)} failed to start: ${reason}`);
    this.name = 'ContainerStartError';
  }
}
