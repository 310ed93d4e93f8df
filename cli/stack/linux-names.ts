// Names the kernel side will check later (capabilities, signals, ulimits, sysctls), checked
// when the file is read so that a typo fails the deploy, not every task on every node. The
// capability, ulimit and sysctl rules are rules/linux-names.ts, the runtime's and the cluster's.
import { constants } from 'node:os';
import { capabilityProblem, sysctlProblem, ulimitProblem } from '../../rules/linux-names.js';

/** An error for an unknown capability (with or without the CAP_ prefix, any case). */
export function checkCapability(name: string): string | undefined {
  return capabilityProblem(name);
}

export function checkSignal(sig: string): string | undefined {
  if (/^\d+$/.test(sig)) return Number(sig) >= 1 && Number(sig) <= 64 ? undefined : `signal number ${sig} is out of range 1-64`;
  const name = sig.toUpperCase().startsWith('SIG') ? sig.toUpperCase() : `SIG${sig.toUpperCase()}`;
  if (name in constants.signals || /^SIGRTM(IN|AX)([+-]\d+)?$/.test(name)) return undefined;
  return `unknown signal "${sig}": use a name such as SIGTERM, SIGINT or SIGQUIT`;
}

export function checkUlimit(name: string, soft: number, hard: number): string | undefined {
  return ulimitProblem(name, soft, hard);
}

/** Only sysctls that belong to the container's own namespaces can be set per container. */
export function checkSysctl(name: string): string | undefined {
  return sysctlProblem(name, '', false);
}
