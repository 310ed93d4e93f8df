// Typed errors. A bad limit is the user's doing (a service spec); a busy or unsupported
// cgroup is the host's, and says what to check.

/** A limit value that cannot be applied as given; the message names the field and the fix. */
export class CgroupLimitError extends Error {
  readonly userError = true as const;
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`cgroup limit ${field}: ${message}`);
    this.name = 'CgroupLimitError';
  }
}

/** A cgroup name that would escape the hierarchy or is not a plain path. */
export class CgroupNameError extends Error {
  readonly userError = true as const;
  constructor(name: string) {
    super(
      `invalid cgroup name ${JSON.stringify(name)}: use relative segments of letters, digits, ` +
        `'_', '-', '.' separated by '/', like "shoal/<container id>"`,
    );
    this.name = 'CgroupNameError';
  }
}

/** The host lacks a controller or file a requested limit needs. */
export class CgroupUnsupportedError extends Error {
  readonly userError = true as const;
  constructor(message: string) {
    super(message);
    this.name = 'CgroupUnsupportedError';
  }
}

/** Processes stayed in the cgroup past the deadline, or the kernel kept it busy. */
export class CgroupBusyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CgroupBusyError';
  }
}
