// Applies interpolation to every scalar string value of one file (keys are never interpolated;
// x-* extension subtrees are left alone, since they are only anchors for other parts).
import { interpolate, InterpolationError } from './interpolate.js';
import { isMap, type KeyPath, type Plain, type PlainMap } from './tree.js';
import type { FileContext } from './context.js';

/** `failed` receives the path of every value that could not be interpolated. */
export function interpolateTree(root: PlainMap, ctx: FileContext, failed: KeyPath[] = []): void {
  const unsetSeen = new Set<string>();
  const walk = (container: PlainMap | Plain[], key: string | number, path: KeyPath): void => {
    const v = (container as Record<string | number, Plain>)[key]!;
    if (typeof v === 'string') {
      try {
        const r = interpolate(v, ctx.env);
        (container as Record<string | number, Plain>)[key] = r.value;
        if (r.blank.length > 0) ctx.noteBlank(path, r.blank);
        for (const name of r.unset) {
          if (unsetSeen.has(name)) continue;
          unsetSeen.add(name);
          ctx.warn(path, `variable ${name} is not set: substituting an empty string`);
        }
      } catch (err) {
        if (!(err instanceof InterpolationError)) throw err;
        for (const m of err.messages) ctx.error(path, m);
        failed.push(path);
      }
    } else if (Array.isArray(v)) {
      v.forEach((_, i) => walk(v, i, [...path, i]));
    } else if (isMap(v)) {
      for (const k of Object.keys(v)) if (!k.startsWith('x-')) walk(v, k, [...path, k]);
    }
  };
  for (const k of Object.keys(root)) if (!k.startsWith('x-')) walk(root, k, [k]);
}
