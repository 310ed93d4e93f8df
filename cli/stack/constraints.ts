// Placement constraints and spread preferences, checked when the file is read rather than when
// the scheduler first meets them: `node.role == manager`, `node.labels.zone != a`, ...
// The grammar is rules/constraints.ts, the one the control API and the scheduler use.
import { constraintProblem, spreadProblem } from '../../rules/constraints.js';

/** An error message for an invalid constraint, or undefined when it is valid. */
export function checkConstraint(c: string): string | undefined {
  return constraintProblem(c);
}

export function checkSpread(s: string): string | undefined {
  return spreadProblem(s);
}
