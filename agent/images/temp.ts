// Names of work in progress under <store>/tmp: "<pid>.<start ticks>-<kind>-<random>". A process
// killed mid-load (SIGKILL, OOM, power cut) leaves its entries behind; the next load, import or
// daemon start removes every entry whose process is gone. The start time guards against a new
// process that got the dead one's pid.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hasCode } from '../../proto/undo.js';

/** The kernel's start time of `pid` in clock ticks since boot (field 22 of /proc/PID/stat), or undefined if it is gone. */
function startTicks(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command name (field 2) may hold spaces and parentheses: count from the last ')'
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch (err) {
    if (hasCode(err, ['ENOENT', 'ESRCH'])) return undefined; // the process is gone
    throw err;
  }
}

let mine: string | undefined;

export function tempEntryName(kind: string): string {
  mine ??= `${process.pid}.${startTicks(process.pid) ?? '0'}`;
  return `${mine}-${kind}-${randomBytes(6).toString('hex')}`;
}

/** Whether the process that made the entry `name` has ended (names of other shapes: left alone). */
export function isStaleTempEntry(name: string): boolean {
  const m = /^(\d+)(?:\.(\d+))?-/.exec(name);
  if (!m) return false;
  const pid = Number(m[1]);
  const ticks = pid === process.pid ? mine?.split('.')[1] ?? startTicks(pid) : startTicks(pid);
  if (ticks === undefined) return true;
  // an old-style name without start time: the pid being alive is all we know
  return m[2] !== undefined && m[2] !== ticks;
}
