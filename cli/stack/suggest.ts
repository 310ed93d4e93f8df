// "Did you mean" for unknown keys: the closest sibling key by edit distance, or the place
// where a key that exists elsewhere in the format belongs (replicas -> deploy.replicas).

export function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 3) return 99;
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j]!;
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + cost);
      // Transposition (servcies -> services) counts as one edit.
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) prev[j] = Math.min(prev[j]!, diag);
      diag = up;
    }
  }
  return prev[b.length]!;
}

export function closestKey(key: string, candidates: readonly string[]): string | undefined {
  const k = key.toLowerCase();
  let best: string | undefined;
  let bestD = Math.max(2, Math.floor(key.length / 3)) + 1;
  for (const c of candidates) {
    const d = c.toLowerCase() === k ? 0 : editDistance(k, c.toLowerCase());
    if (d < bestD) { best = c; bestD = d; }
  }
  return best;
}

/** Keys users put at the service level that belong somewhere else in cluster mode. */
const misplaced: Record<string, string> = {
  replicas: 'deploy.replicas',
  mode: 'deploy.mode',
  placement: 'deploy.placement',
  resources: 'deploy.resources',
  restart_policy: 'deploy.restart_policy',
  update_config: 'deploy.update_config',
  rollback_config: 'deploy.rollback_config',
  endpoint_mode: 'deploy.endpoint_mode',
  constraints: 'deploy.placement.constraints',
  scale: 'deploy.replicas',
  mem_limit: 'deploy.resources.limits.memory',
  memory: 'deploy.resources.limits.memory',
  mem_reservation: 'deploy.resources.reservations.memory',
  cpus: 'deploy.resources.limits.cpus',
  cpu_count: 'deploy.resources.limits.cpus',
  cpu_quota: 'deploy.resources.limits.cpus',
  cpu_shares: 'deploy.resources.reservations.cpus',
  pids_limit: 'deploy.resources.limits.pids',
  env: 'environment',
};

export function misplacedKeyHint(key: string): string | undefined {
  return Object.prototype.hasOwnProperty.call(misplaced, key) ? misplaced[key] : undefined;
}
