// Errors a user can cause with a named volume: a name that cannot be a directory, or removing a
// volume that a container still mounts.

export class VolumeNameError extends Error {
  readonly userError = true as const;
  constructor(name: string) {
    super(`invalid volume name ${JSON.stringify(name)}: use letters, digits, '_', '.' and '-', starting with a letter or digit (at most 255 characters)`);
    this.name = 'VolumeNameError';
  }
}

export class VolumeInUseError extends Error {
  readonly userError = true as const;
  constructor(name: string, containers: string[]) {
    super(`volume ${name} is in use by container${containers.length > 1 ? 's' : ''} ${containers.join(', ')}: remove ${containers.length > 1 ? 'them' : 'it'} first`);
    this.name = 'VolumeInUseError';
  }
}

export class VolumeNotFoundError extends Error {
  readonly userError = true as const;
  constructor(name: string) {
    super(`no volume named ${name} on this node`);
    this.name = 'VolumeNotFoundError';
  }
}
