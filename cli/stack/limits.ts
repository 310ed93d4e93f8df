// Bounds on what the loader will read. Real Compose files are a few kilobytes; these limits
// exist so that a hostile or corrupted file fails fast in bounded memory instead of hanging.
export interface StackLimits {
  /** Largest file read, in bytes. YAML parsing costs ~1 s per MiB of dense lists here. */
  readonly maxFileBytes: number;
  /** Longest single scalar, in characters. */
  readonly maxScalarChars: number;
  /** Deepest nesting of mappings and sequences after aliases are expanded. */
  readonly maxDepth: number;
  /** Nodes in the document after aliases and merge keys are expanded (billion-laughs guard). */
  readonly maxExpandedNodes: number;
}

export const defaultLimits: StackLimits = {
  maxFileBytes: 2 * 1024 * 1024,
  maxScalarChars: 1024 * 1024,
  maxDepth: 64,
  // the yaml package spends ~1 s of CPU per 60,000 entries here; real files have a few thousand
  maxExpandedNodes: 50_000,
};

/** The node-budget message for a document with no alias to blame. */
export function tooManyValues(max: number, what: string): string {
  return `the file has more than ${max} ${what}: stack files have hundreds; move bulk data into a config or secret file`;
}
