// What each per-file stage needs to report a problem or warning at the right place.
import type { Environment } from './interpolate.js';
import { ProblemList, type StackWarning } from './errors.js';
import { showPath, type KeyPath, type PositionIndex } from './tree.js';

export class FileContext {
  constructor(
    readonly file: string,
    readonly positions: PositionIndex,
    readonly problems: ProblemList,
    readonly warnings: StackWarning[],
    readonly workingDir: string,
    readonly env: Environment,
    /** Key path -> variables that interpolated to "" there; shared by every file of one load. */
    private readonly blanks = new Map<string, string[]>(),
  ) {}

  noteBlank(path: KeyPath, names: string[]): void {
    this.blanks.set(showPath(path), names);
  }

  /** Variables that came out empty in the value at `path` or below it, for error messages. */
  blankVariables(path: KeyPath): string[] {
    const at = showPath(path);
    const out = new Set<string>();
    for (const [k, names] of this.blanks) {
      if (k === at || k.startsWith(`${at}.`) || k.startsWith(`${at}[`)) for (const n of names) out.add(n);
    }
    return [...out];
  }

  /** " (variable X is not set or empty)" when the value at `path` lost text to interpolation. */
  blankHint(path: KeyPath): string {
    const names = this.blankVariables(path);
    if (names.length === 0) return '';
    const what = names.length === 1 ? `variable ${names[0]} is` : `variables ${names.join(', ')} are`;
    return ` (${what} unset or empty: set ${names.length === 1 ? 'it' : 'them'} before deploying)`;
  }

  error(path: KeyPath, message: string, at: 'key' | 'value' = 'value'): void {
    const loc = at === 'key' ? this.positions.locateKey(path, this.file) : this.positions.locateValue(path, this.file);
    this.problems.add({ ...loc, path: showPath(path), message });
  }

  warn(path: KeyPath, message: string, at: 'key' | 'value' = 'value'): void {
    const loc = at === 'key' ? this.positions.locateKey(path, this.file) : this.positions.locateValue(path, this.file);
    const w = { ...loc, path: showPath(path), message };
    if (!this.warnings.some((x) => x.path === w.path && x.message === w.message)) this.warnings.push(w);
  }
}
