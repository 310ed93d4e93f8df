// When a file fails a stage, the later stages still run on what is left once the failing values
// are cut out, so one run reports every problem a user can fix. Problems of later stages that
// touch a cut value (or its parents) are not shown: they could be echoes of the first problem.
import { ProblemList, type StackProblem } from './errors.js';
import { isMap, showPath, type KeyPath, type Plain, type PlainMap } from './tree.js';

/** Removes each path's value from the tree: the nearest mapping key at or above it goes (a list
 *  item takes its whole list, so that the remaining indexes keep their positions). */
export function cutOut(root: PlainMap, paths: readonly KeyPath[]): KeyPath[] {
  const cut: KeyPath[] = [];
  for (const path of paths) {
    let end = path.length;
    while (end > 0 && typeof path[end - 1] === 'number') end--;
    if (end === 0) continue;
    const at = path.slice(0, end);
    let parent: Plain | undefined = root;
    for (const seg of at.slice(0, -1)) parent = parent !== null && typeof parent === 'object' ? (parent as Record<string, Plain>)[String(seg)] : undefined;
    if (isMap(parent)) delete parent[String(at[at.length - 1])];
    cut.push(at);
  }
  return cut;
}

/** True when a problem at `path` lies inside, or contains, a value that was cut out. */
export function touchesCut(path: string, cut: readonly string[]): boolean {
  const inside = (a: string, b: string) => a === b || a.startsWith(`${b}.`) || a.startsWith(`${b}[`);
  return cut.some((c) => c === '' || path === '' || inside(path, c) || inside(c, path));
}

/** Runs later checks against a side list and keeps their problems that do not touch `cut`.
 *  The tree may lack values the checks expect; a check that trips over that is dropped, since
 *  the problems already found are what the user must fix first. */
export function laterProblems(cut: readonly KeyPath[], run: (sink: ProblemList) => void, keep: (p: StackProblem) => boolean = () => true): StackProblem[] {
  const sink = new ProblemList();
  try {
    run(sink);
  } catch (err) {
    if (!(err instanceof Error) || (err as { userError?: boolean }).userError) throw err;
  }
  const shown = cut.map(showPath);
  return sink.items.filter((p) => !touchesCut(p.path, shown) && keep(p));
}
