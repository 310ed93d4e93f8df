// loadStack: read, parse, interpolate, cast, validate and canonicalise each file, merge them in
// order, then normalise into a StackSpec. Every stage collects all its problems and throws
// one StackFileError; nothing is returned from input that has any error.
import { canonicalize } from './canonical.js';
import { castTypedValues } from './cast.js';
import { warnClusterIgnoredKeys } from './cluster-keys.js';
import { FileContext } from './context.js';
import { warnDroppedKeys } from './dropped-keys.js';
import { ProblemList, StackFileError, type StackWarning } from './errors.js';
import type { Environment } from './interpolate.js';
import { interpolateTree } from './interpolate-tree.js';
import { defaultLimits, type StackLimits } from './limits.js';
import { mergeFiles } from './merge.js';
import type { StackSpec } from './model.js';
import { normalizeStack } from './normalize-stack.js';
import { activeProfiles, applyProfiles, type LeftOutService } from './profiles.js';
import { readStackText } from './source.js';
import { PositionIndex, type KeyPath, type PlainMap } from './tree.js';
import { cutOut, laterProblems } from './partial-checks.js';
import { validateSchema } from './validate.js';
import { parseStackYaml } from './yaml-tree.js';

export interface LoadStackOptions {
  /** -c FILE, merged in order (later files override earlier ones); relative to the process's cwd. */
  files: string[];
  /** Variables for ${...} interpolation and bare environment keys (usually process.env). */
  env: Environment;
  /** Base for relative paths inside the files (bind mounts, env_file, secret and config files):
   *  `docker stack deploy` uses the directory of the first file. */
  workingDir: string;
  /** Checked against service names: `<stack>_<service>` must fit in 63 characters. */
  stackName?: string;
  limits?: Partial<StackLimits>;
  /** Active Compose profiles (`--profile`); absent or empty: COMPOSE_PROFILES of `env`. */
  profiles?: string[];
}

export interface LoadedStack {
  stack: StackSpec;
  warnings: StackWarning[];
  /** Services not deployed because none of their profiles is active, in file order. */
  leftOut: LeftOutService[];
}

export function loadStack(opts: LoadStackOptions): LoadedStack {
  if (opts.files.length === 0) throw new StackFileError([{ file: '<none>', path: '', message: 'no stack file given: pass -c FILE' }]);
  const limits = { ...defaultLimits, ...opts.limits };
  const texts: { file: string; text: string }[] = [];
  const unreadable = new ProblemList();
  for (const file of opts.files) {
    try {
      texts.push({ file: file === '-' ? '<stdin>' : file, text: readStackText(file, limits) });
    } catch (err) {
      if (!(err instanceof StackFileError)) throw err;
      for (const p of err.problems) unreadable.add(p);
    }
  }
  unreadable.throwIfAny();
  return loadStackTexts({ ...opts, texts, limits });
}

/** The same pipeline from text already in memory (tests, stdin). */
export function loadStackTexts(opts: Omit<LoadStackOptions, 'files'> & { texts: { file: string; text: string }[] }): LoadedStack {
  if (opts.texts.length === 0) throw new StackFileError([{ file: '<none>', path: '', message: 'no stack file given: pass -c FILE' }]);
  const limits = { ...defaultLimits, ...opts.limits };
  const warnings: StackWarning[] = [];
  const trees: PlainMap[] = [];
  const merged = new PositionIndex();
  // Every file goes through its own stages even when an earlier file failed, so that one run
  // reports the problems of all files; a file stops at the first stage that finds problems.
  const problems = new ProblemList();
  const blanks = new Map<string, string[]>();
  const cut: KeyPath[] = [];
  let unparsed = false;
  for (const { file, text } of opts.texts) {
    const tree = prepareFile(file, text, limits, problems, warnings, { ...opts, blanks }, cut);
    if (!tree) { unparsed = true; continue; }
    trees.push(tree.root);
    merged.absorb(tree.positions);
  }
  const last = opts.texts[opts.texts.length - 1]!.file;
  const active = activeProfiles(opts.profiles, opts.env);
  if (problems.size > 0) {
    // The checks of the merged stack too, where they mean something: not when a file is missing
    // from the merge, and not about references (what they name may be what was cut out).
    if (!unparsed) {
      const later = laterProblems(cut, (sink) => {
        const ctx = new FileContext(last, merged, sink, [], opts.workingDir, opts.env, blanks);
        const root = mergeFiles(trees);
        applyProfiles(root, active, ctx);
        normalizeStack(root, opts.stackName ?? '', ctx);
      }, (p) => !/is not declared|`services` is empty|no `services:` key|every service is left out/.test(p.message));
      for (const p of later) problems.add(p);
    }
    problems.throwIfAny();
  }
  const root = mergeFiles(trees);
  const ctx = new FileContext(last, merged, problems, warnings, opts.workingDir, opts.env, blanks);
  const leftOut = applyProfiles(root, active, ctx);
  problems.throwIfAny();
  const stack = normalizeStack(root, opts.stackName ?? '', ctx);
  problems.throwIfAny();
  // Warnings are found stage by stage; show them in the order of the files and their lines.
  const order = new Map(opts.texts.map((t, i) => [t.file, i]));
  warnings.sort((a, b) => (order.get(a.file) ?? 0) - (order.get(b.file) ?? 0) || (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
  return { stack, warnings, leftOut };
}

/** Parse, interpolate, cast, validate and canonicalise one file; undefined if it cannot be
 *  parsed. A stage that finds problems does not stop the later ones: they run on the tree with
 *  the failing values cut out (`cut`), and report only what does not touch them. */
function prepareFile(
  file: string, text: string, limits: StackLimits, problems: ProblemList, warnings: StackWarning[],
  opts: { workingDir: string; env: Environment; blanks: Map<string, string[]> },
  cut: KeyPath[],
): { root: PlainMap; positions: PositionIndex } | undefined {
  let parsed;
  try {
    parsed = parseStackYaml(file, text, limits);
  } catch (err) {
    if (!(err instanceof StackFileError)) throw err;
    for (const p of err.problems) problems.add(p);
    return undefined;
  }
  const { root, positions } = parsed;
  const ctxFor = (sink: ProblemList) => new FileContext(file, positions, sink, sink === problems ? warnings : [], opts.workingDir, opts.env, opts.blanks);
  const failed: KeyPath[] = [];
  interpolateTree(root, ctxFor(problems), failed);
  const mine = cut.length;
  cut.push(...cutOut(root, failed));
  castTypedValues(root);
  const wrong: KeyPath[] = [];
  for (const p of validateSchema(root, file, positions, wrong)) problems.add(p);
  cut.push(...cutOut(root, wrong));
  const canonical = (ctx: FileContext) => {
    warnClusterIgnoredKeys(root, ctx);
    warnDroppedKeys(root, ctx);
    canonicalize(root, ctx);
  };
  if (cut.length === mine) canonical(ctxFor(problems));
  else for (const p of laterProblems(cut.slice(mine), (sink) => canonical(ctxFor(sink)))) problems.add(p);
  return parsed;
}
