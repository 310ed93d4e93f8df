// Clean-up that must not hide its failures. An undo (remove a cgroup, a link, a file) may find
// its object already gone: that is success, named by the error codes that mean it. Any other
// failure leaks a kernel object or a file: it is logged with what was being undone and counted,
// and the count is in the daemon's Info (`shoal info`: "Undo failures").
import { pino, type Logger } from 'pino';

/** An errno code ('ENOENT'), a gRPC status number (1: CANCELLED), or an Error's name ('AbortError'). */
export type DoneCode = string | number;

/** What a failed undo is logged with: the object, and ids (node, service, task, container). */
export interface UndoContext {
  /** "remove cgroup shoal/abc", "delete link shov12": what was being undone */
  what: string;
  log?: Logger | undefined;
  ids?: Record<string, string | undefined>;
}

let failures = 0;
let fallback: Logger | undefined;

/** Undos that failed in this process since it started. */
export function undoFailures(): number {
  return failures;
}

/** Whether err carries one of `codes` (errno `code`, gRPC numeric `code`, or `name`). */
export function hasCode(err: unknown, codes: readonly DoneCode[]): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const { code, name } = err as { code?: unknown; name?: unknown };
  return (typeof code === 'string' || typeof code === 'number' ? codes.includes(code) : false) || (typeof name === 'string' && codes.includes(name));
}

/** Records one undo that failed: logged (error level, with ctx) and counted. */
export function undoFailed(err: unknown, ctx: UndoContext): void {
  failures++;
  const log = ctx.log ?? (fallback ??= pino({ name: 'shoal' }));
  log.error({ ...ctx.ids, err: err instanceof Error ? err.message : String(err), code: (err as { code?: unknown } | null)?.code }, `undo failed: ${ctx.what}`);
}

/**
 * Runs an undo to the end and never throws: an error with one of `done` means "already done"
 * (undefined); any other is logged and counted (undefined).
 */
export async function bestEffort<T>(undo: Promise<T> | (() => Promise<T> | T), done: readonly DoneCode[], ctx: UndoContext): Promise<T | undefined> {
  try {
    return await (typeof undo === 'function' ? undo() : undo);
  } catch (err) {
    if (!hasCode(err, done)) undoFailed(err, ctx);
    return undefined;
  }
}

/** The value, or undefined when p failed with one of `codes` (absence is an answer); rethrows any other error. */
export async function unless<T>(p: Promise<T>, codes: readonly DoneCode[]): Promise<T | undefined> {
  try {
    return await p;
  } catch (err) {
    if (hasCode(err, codes)) return undefined;
    throw err;
  }
}

/** Resolves once p settles, either way: for queues and shutdown waits whose failure p's own caller already receives. */
export function settled(p: Promise<unknown>): Promise<void> {
  return p.then(
    () => undefined,
    () => undefined,
  );
}

/** Waits for p (a sleep, a wait); a rejection after `signal` aborted is the end of the wait, any other is rethrown. */
export async function unlessAborted(p: Promise<unknown>, signal: AbortSignal | undefined): Promise<void> {
  try {
    await p;
  } catch (err) {
    if (!signal?.aborted) throw err;
  }
}
