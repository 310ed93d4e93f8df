// Capabilities, sysctls, ulimits and init: the checks a spec's options must pass before anything
// is created (each returns the problem as one line, or undefined), and their entries in the
// shim's config (native/shim/config.h: capadd, capdrop, sysctl, rlimit, init).
import { readFileSync } from 'node:fs';
import { appendFile } from 'node:fs/promises';
import { CAPABILITIES, capabilityProblem, sysctlProblem, ULIMIT_NAMES, ulimitProblem } from '../../rules/linux-names.js';
import type { ContainerSpec, NetworkMode, Ulimit } from './types.js';

// The names and their rules are rules/linux-names.ts (the stack loader, the CLI and the control
// API use them too); what is this host's alone (its bounding set) stays here.
export { CAPABILITIES, ULIMIT_NAMES };

let bounding: bigint | null | undefined;
/** This process's bounding set: what a shim it spawns as root may hand out (null: unknown). */
function boundingSet(): bigint | null {
  if (bounding === undefined) {
    try {
      const m = /^CapBnd:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
      bounding = m ? BigInt(`0x${m[1]}`) : null;
    } catch {
      bounding = null;
    }
  }
  return bounding;
}

/**
 * `key` names the field in messages ("cap_add" for a task, "capAdd" for a runtime spec); an
 * added capability must also be one this host lets shoal hold (the shim checks again).
 */
export function checkCapability(name: string, key: string, adding = false): string | undefined {
  const bare = name.toUpperCase().replace(/^CAP_/, '');
  const unknown = capabilityProblem(name);
  if (unknown) return `${key}: ${unknown}`;
  if (bare === 'ALL') return undefined;
  const n = CAPABILITIES.indexOf(bare);
  const held = boundingSet();
  if (adding && held !== null && !(held & (1n << BigInt(n)))) {
    return `${key}: capability ${bare} is not available to shoal on this host (not in its bounding set), so no container can have it: remove it`;
  }
  return undefined;
}

export function checkSysctl(name: string, value: string, network: NetworkMode): string | undefined {
  return sysctlProblem(name, value, network === 'host');
}

export function checkUlimit(u: Ulimit): string | undefined {
  return ulimitProblem(u.name, u.soft, u.hard);
}

/** Every problem with the spec's options, first one first. */
export function optionProblems(spec: ContainerSpec): string[] {
  const out: string[] = [];
  for (const c of spec.capAdd ?? []) out.push(checkCapability(c, 'capAdd', true) ?? '');
  for (const c of spec.capDrop ?? []) out.push(checkCapability(c, 'capDrop') ?? '');
  for (const [k, v] of Object.entries(spec.sysctls ?? {})) out.push(checkSysctl(k, v, spec.network ?? 'none') ?? '');
  const seen = new Set<string>();
  for (const u of spec.ulimits ?? []) {
    out.push(checkUlimit(u) ?? (seen.has(u.name) ? `ulimit ${u.name} is given twice: keep one` : ''));
    seen.add(u.name);
  }
  return out.filter((p) => p !== '');
}

/** The config entries of these options; `exec` (a process joining a running container) gets
 * the same capabilities and limits, but neither sysctls (already set) nor an init of its own. */
export function encodeOptions(spec: ContainerSpec, mode: 'run' | 'exec'): Buffer {
  const e: string[][] = [];
  for (const c of spec.capAdd ?? []) e.push(['capadd', c]);
  for (const c of spec.capDrop ?? []) e.push(['capdrop', c]);
  for (const u of spec.ulimits ?? []) e.push(['rlimit', u.name, String(u.soft), String(u.hard)]);
  if (mode === 'run') {
    for (const [k, v] of Object.entries(spec.sysctls ?? {})) e.push(['sysctl', k, v]);
    if (spec.init) e.push(['init']);
  }
  return Buffer.from(e.map((x) => x.join('\0') + '\0').join(''));
}

/** Adds the options to an exec config file (written by shim.ts's writeExecConfig). */
export async function appendExecOptions(configPath: string, spec: ContainerSpec): Promise<void> {
  const extra = encodeOptions(spec, 'exec');
  if (extra.length) await appendFile(configPath, extra);
}
