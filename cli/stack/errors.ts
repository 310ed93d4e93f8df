// Problems and warnings of the stack-file loader. One StackFileError may carry several
// problems (every problem found in one pass), so a user fixes a file in one round trip.
import type { UserFacingError } from '../errors.js';

/** Where a value came from: the file, and 1-based line and column when known. */
export interface SourceLocation {
  readonly file: string;
  readonly line?: number;
  readonly column?: number;
}

/** One thing wrong with the input. `path` is the key path, e.g. services.web.deploy.replicas. */
export interface StackProblem extends SourceLocation {
  readonly path: string;
  readonly message: string;
}

/** Accepted input that cluster mode will not honour (or honours differently). */
export interface StackWarning extends SourceLocation {
  readonly path: string;
  readonly message: string;
}

export function formatLocation(loc: SourceLocation): string {
  if (loc.line === undefined) return loc.file;
  return `${loc.file}:${loc.line}:${loc.column ?? 1}`;
}

export function formatProblem(p: StackProblem | StackWarning): string {
  const where = formatLocation(p);
  return p.path ? `${where}: ${p.path}: ${p.message}` : `${where}: ${p.message}`;
}

/** The stack file(s) cannot be used; nothing was applied. */
export class StackFileError extends Error implements UserFacingError {
  readonly userError = true as const;
  readonly problems: readonly StackProblem[];

  constructor(problems: readonly StackProblem[]) {
    const list = problems.length > 0 ? problems : [{ file: '<stack>', path: '', message: 'invalid stack file' }];
    const shown = list.slice(0, 10).map(formatProblem);
    if (list.length > 10) shown.push(`... and ${list.length - 10} more`);
    super(list.length === 1 ? shown[0]! : `${list.length} problems in the stack file:\n  ${shown.join('\n  ')}`);
    this.name = 'StackFileError';
    this.problems = list;
  }

  /** The first problem's location, for callers that show one place. */
  get file(): string { return this.problems[0]!.file; }
  get line(): number | undefined { return this.problems[0]!.line; }
  get column(): number | undefined { return this.problems[0]!.column; }
  get path(): string { return this.problems[0]!.path; }
}

/** Collects problems during one stage; `throwIfAny` ends the stage. */
export class ProblemList {
  readonly items: StackProblem[] = [];
  add(p: StackProblem): void {
    // Cap the list: a mutated file can produce thousands, and nobody reads past the first few.
    if (this.items.length < 50) this.items.push(p);
  }
  get size(): number { return this.items.length; }
  throwIfAny(): void {
    if (this.items.length === 0) return;
    // Report in reading order, whatever order the checks ran in (stable for equal places).
    const fileOrder = new Map<string, number>();
    for (const p of this.items) if (!fileOrder.has(p.file)) fileOrder.set(p.file, fileOrder.size);
    const sorted = [...this.items].sort((a, b) =>
      fileOrder.get(a.file)! - fileOrder.get(b.file)! || (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
    throw new StackFileError(sorted);
  }
}
