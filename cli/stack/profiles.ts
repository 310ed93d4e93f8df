// Compose profiles: a service that lists `profiles:` is deployed only when one of them is
// active (`stack deploy --profile NAME`, or COMPOSE_PROFILES when no flag is given); a service
// without `profiles:` always is. Services left out are not checked further than the schema,
// so a debug service that only has `build:` does not block a deploy without its profile.
import type { Environment } from './interpolate.js';
import { isMap, type PlainMap } from './tree.js';
import type { FileContext } from './context.js';

export interface LeftOutService {
  /** The service's key in the stack file. */
  service: string;
  /** Its profiles, none of them active. */
  profiles: string[];
}

const profileName = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** The active profiles: the flags if any were given, else COMPOSE_PROFILES (comma-separated). */
export function activeProfiles(flags: readonly string[] | undefined, env: Environment): string[] {
  const given = flags && flags.length > 0 ? flags : (env.COMPOSE_PROFILES ?? '').split(',');
  return [...new Set(given.flatMap((p) => p.split(',')).map((p) => p.trim()).filter((p) => p !== ''))];
}

/** Removes from the merged tree the services whose profiles are all inactive ("*" activates every one). */
export function applyProfiles(root: PlainMap, active: readonly string[], ctx: FileContext): LeftOutService[] {
  const services = root.services;
  if (!isMap(services)) return [];
  const all = active.includes('*');
  const known = new Set<string>();
  const leftOut: LeftOutService[] = [];
  for (const name of Object.keys(services)) {
    const svc = services[name];
    if (!isMap(svc) || !Array.isArray(svc.profiles)) continue;
    const profiles = svc.profiles.map(String);
    profiles.forEach((p, i) => {
      known.add(p);
      if (!profileName.test(p)) ctx.error(['services', name, 'profiles', i], `invalid profile name "${p}": use letters, digits, "_", "." and "-", starting with a letter or digit`);
    });
    if (all || profiles.some((p) => active.includes(p))) continue;
    leftOut.push({ service: name, profiles });
    delete services[name];
  }
  const unknown = active.filter((p) => p !== '*' && !known.has(p));
  if (unknown.length > 0) {
    ctx.warn([], `profile${unknown.length === 1 ? '' : 's'} ${unknown.join(', ')} named by --profile or COMPOSE_PROFILES: no service lists ${unknown.length === 1 ? 'it' : 'them'} under \`profiles:\``);
  }
  if (leftOut.length > 0 && Object.keys(services).filter((k) => !k.startsWith('x-')).length === 0) {
    const names = [...new Set(leftOut.flatMap((l) => l.profiles))];
    ctx.error(['services'], `every service is left out by its profiles: activate one with --profile ${names[0]} (profiles here: ${names.join(', ')})`, 'key');
  }
  return leftOut;
}

/** "profile debug is not active: --profile debug deploys it" */
export function leftOutReason(l: LeftOutService): string {
  const list = l.profiles.join(', ');
  return `${l.profiles.length === 1 ? 'profile' : 'profiles'} ${list} not active: --profile ${l.profiles[0]} deploys it`;
}
