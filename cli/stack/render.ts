// `shoal stack config` output: the StackSpec as YAML (interpolated, merged, normalised, with
// every default filled in), so a user sees exactly what would be deployed.
import { stringify } from 'yaml';
import { formatProblem, type StackWarning } from './errors.js';
import type { StackSpec } from './model.js';

export function renderStack(stack: StackSpec): string {
  return stringify(stack, { lineWidth: 0, aliasDuplicateObjects: false });
}

export function renderWarning(w: StackWarning): string {
  return `warning: ${formatProblem(w)}`;
}
