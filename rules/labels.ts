// Labels are small metadata: a cap on their size keeps every object (and every list answer
// carrying many of them) far below the gRPC message limit. Docker allows 500 kB per spec.

export const MAX_LABELS_BYTES = 500 * 1024;

/** Bytes of keys and values (UTF-8) of one label map. */
export function labelsBytes(labels: Readonly<Record<string, string>>): number {
  let n = 0;
  for (const [k, v] of Object.entries(labels)) n += Buffer.byteLength(k) + Buffer.byteLength(v);
  return n;
}

/**
 * The first problem with the label maps of one spec, each given with the field that holds it
 * (e.g. ['labels', ...], ['container labels', ...]), or undefined. The cap is on their sum.
 */
export function labelsProblem(what: string, fields: readonly (readonly [string, Readonly<Record<string, string>>])[]): string | undefined {
  let total = 0;
  const sizes: string[] = [];
  for (const [field, labels] of fields) {
    for (const k of Object.keys(labels)) if (!k.trim()) return `${what} has a ${field} entry with an empty key; write key=value`;
    const n = labelsBytes(labels);
    total += n;
    if (n > 0) sizes.push(`${field}: ${n}`);
  }
  if (total <= MAX_LABELS_BYTES) return undefined;
  return `the labels of ${what} take ${total} bytes (${sizes.join(', ')}); at most ${MAX_LABELS_BYTES} bytes of label keys and values are allowed per spec`;
}
