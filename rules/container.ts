// What a container's hostname and user may look like: the runtime refuses a container with
// anything else, so the control API refuses a service with it before a task is ever made.
import { sampleExpansion } from './templates.js';

const HOSTNAME_RE = /^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/;
export const MAX_HOSTNAME_LENGTH = 64;

/** A DNS name: labels of letters, digits and '-', at most 64 characters in all (the kernel's limit). */
export function isHostname(name: string): boolean {
  return name.length <= MAX_HOSTNAME_LENGTH && HOSTNAME_RE.test(name);
}

/**
 * A service's hostname may hold task templates ({{.Task.Slot}}): checked as a task would get it.
 * A container's (`templates: false`) is what the kernel gets, as it is.
 */
export function hostnameProblem(name: string, o: { templates: boolean } = { templates: true }): string | undefined {
  const sample = o.templates ? sampleExpansion(name) : { ok: true as const, value: name };
  if (!sample.ok) return `invalid hostname ${JSON.stringify(name)}: ${sample.why}`;
  return isHostname(sample.value) ? undefined : `invalid hostname ${JSON.stringify(name)}: use letters, digits and '-' (at most 64 characters)`;
}

// A user or group is a number or a name as useradd accepts it (POSIX portable characters, an
// optional trailing '$' for machine accounts); anything else cannot be in /etc/passwd.
const NAME_OR_ID = /^(\d+|[a-zA-Z_][a-zA-Z0-9_.-]{0,31}\$?)$/;

/** `user`, `user:group`, `uid`, `uid:gid` (empty: the image's user). */
export function userProblem(user: string): string | undefined {
  if (user === '') return undefined;
  const parts = user.split(':');
  if (parts.length <= 2 && parts.every((p, i) => NAME_OR_ID.test(p) || (i === 1 && p === ''))) {
    if (parts.every((p) => !/^\d+$/.test(p) || Number(p) <= 0xfffffffe)) return undefined;
    return `user ${JSON.stringify(user)}: uid and gid must be integers below 4294967295`;
  }
  return `invalid user ${JSON.stringify(user)}: write NAME, UID, NAME:GROUP or UID:GID (letters, digits, '_', '.', '-')`;
}
