// Shared helpers for the stack-loader tests: load YAML text as a file named stack.yml and
// pull out the one problem a case is about.
import { expect } from 'vitest';
import { loadStackTexts, type LoadedStack } from '../../../cli/stack/load.js';
import { StackFileError, type StackProblem } from '../../../cli/stack/errors.js';
import type { Environment } from '../../../cli/stack/interpolate.js';

export const workingDir = '/srv/app';

export function load(text: string, env: Environment = {}, stackName?: string): LoadedStack {
  return loadStackTexts({ texts: [{ file: 'stack.yml', text }], env, workingDir, ...(stackName ? { stackName } : {}) });
}

export function loadError(text: string, env: Environment = {}, stackName?: string): StackFileError {
  try {
    load(text, env, stackName);
  } catch (err) {
    if (err instanceof StackFileError) return err;
    throw err;
  }
  throw new Error(`expected a StackFileError for:\n${text}`);
}

export interface ExpectedProblem {
  path?: string;
  line?: number;
  column?: number;
  message: RegExp;
}

/** Asserts that some problem matches every given field. */
export function expectProblem(err: StackFileError, want: ExpectedProblem): StackProblem {
  const hit = err.problems.find((p) =>
    want.message.test(p.message)
    && (want.path === undefined || p.path === want.path)
    && (want.line === undefined || p.line === want.line)
    && (want.column === undefined || p.column === want.column));
  expect(hit, `no problem matching ${JSON.stringify({ ...want, message: String(want.message) })} in:\n${err.message}`).toBeDefined();
  expect(err.userError).toBe(true);
  return hit!;
}

/** A minimal valid stack around one service body (indented 4 spaces). */
export function svc(body: string, extra = ''): string {
  return `services:\n  web:\n    image: nginx\n${body}${extra}`;
}
