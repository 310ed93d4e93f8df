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
  ) {}

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
