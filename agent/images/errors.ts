// Errors a user can cause while handling images. Each names the input and what to do, and carries
// `userError` so the CLI prints the message alone (see cli/errors.ts).

abstract class ImageUserError extends Error {
  readonly userError = true as const;
  readonly exitCode: number = 1;
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

export class ImageNotFoundError extends ImageUserError {
  constructor(readonly ref: string) {
    super(`image "${ref}" not found: load it with \`shoal image load -i FILE\` or see \`shoal image ls\``);
  }
}

export class AmbiguousImageError extends ImageUserError {
  constructor(readonly ref: string, readonly ids: string[]) {
    super(`image id prefix "${ref}" matches ${ids.length} images (${ids.map((i) => i.slice(7, 19)).join(', ')}): give more digits`);
  }
}

export class InvalidReferenceError extends ImageUserError {
  constructor(readonly ref: string, why: string) {
    super(`invalid image reference "${ref}": ${why}`);
  }
}

/** The archive (or a layer inside it) is not a readable tar: corrupt, truncated or not an image. */
export class ImageArchiveError extends ImageUserError {
  constructor(readonly source: string, detail: string) {
    super(`cannot read image archive ${source}: ${detail}`);
  }
}

export class DigestMismatchError extends ImageUserError {
  constructor(readonly source: string, readonly expected: string, readonly actual: string) {
    super(`digest mismatch in ${source}: expected ${expected}, got ${actual}; the file is corrupt or was altered, nothing was stored`);
  }
}

/** A layer entry would land outside its layer directory; the whole layer is refused. */
export class UnsafeLayerError extends ImageUserError {
  constructor(readonly source: string, readonly entry: string, why: string) {
    // a hostile name may be kilobytes long: show its start and end
    const shown = entry.length > 120 ? `${entry.slice(0, 60)}…${entry.slice(-40)}` : entry;
    super(`refusing layer ${source}: entry "${shown}" ${why}; nothing was unpacked`);
  }
}

export class UnsupportedCompressionError extends ImageUserError {
  constructor(readonly source: string, readonly kind: string) {
    super(`${source} is ${kind}-compressed, which this build cannot unpack: recompress the layers with gzip or leave them uncompressed`);
  }
}

/** remove() of an id that several references still name, without force. */
export class ImageConflictError extends ImageUserError {
  constructor(message: string) {
    super(message);
  }
}

/** The store's files were changed behind its back (a layer directory deleted by hand). */
export class ImageStoreCorruptError extends ImageUserError {
  constructor(message: string) {
    super(message);
  }
}

/** A layer or archive goes past a configured bound (limits.ts); nothing was stored. */
export class LayerLimitError extends ImageUserError {
  constructor(readonly source: string, why: string, fix: string) {
    super(`refusing ${source}: ${why}; nothing was stored. ${fix[0]!.toUpperCase()}${fix.slice(1)}`);
  }
}
