// After interpolation every substituted value is a string; Compose then casts the values at
// typed paths (replicas: ${N:-3} -> 3). Strings that do not parse stay strings, so the schema
// reports them with their path ("three" is not an integer).
import { isMap, type Plain, type PlainMap } from './tree.js';

type Cast = (s: string) => Plain;
/** Numbers where Compose wants a string (`user: 1000`, `uid: 100`) become that string. */
type NumberCast = (n: number) => Plain;
const numberToString: NumberCast = (n) => String(n);

const toInt: Cast = (s) => (/^[+-]?\d+$/.test(s.trim()) ? Number(s.trim()) : s);
const toMode: Cast = (s) => {
  const t = s.trim();
  if (/^0[0-7]+$/.test(t)) return parseInt(t, 8);
  if (/^0o[0-7]+$/i.test(t)) return parseInt(t.slice(2), 8);
  return toInt(t);
};
const toFloat: Cast = (s) => (/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s.trim()) ? Number(s.trim()) : s);
const toBool: Cast = (s) => {
  const t = s.trim().toLowerCase();
  if (['true', 'yes', 'y', 'on'].includes(t)) return true;
  if (['false', 'no', 'n', 'off'].includes(t)) return false;
  return s;
};

// '*' matches any mapping key, '#' any list index.
const casts: [string, Cast][] = [
  ['services.*.deploy.replicas', toInt],
  ['services.*.deploy.placement.max_replicas_per_node', toInt],
  ['services.*.deploy.resources.limits.pids', toInt],
  ['services.*.deploy.restart_policy.max_attempts', toInt],
  ['services.*.deploy.update_config.parallelism', toInt],
  ['services.*.deploy.rollback_config.parallelism', toInt],
  ['services.*.deploy.update_config.max_failure_ratio', toFloat],
  ['services.*.deploy.rollback_config.max_failure_ratio', toFloat],
  ['services.*.healthcheck.retries', toInt],
  ['services.*.healthcheck.disable', toBool],
  ['services.*.ports.#.target', toInt],
  ['services.*.ports.#.published', toInt],
  ['services.*.secrets.#.mode', toMode],
  ['services.*.configs.#.mode', toMode],
  ['services.*.volumes.#.tmpfs.mode', toMode],
  ['services.*.volumes.#.read_only', toBool],
  ['services.*.volumes.#.bind.create_host_path', toBool],
  ['services.*.volumes.#.volume.nocopy', toBool],
  ['services.*.ulimits.*', toInt],
  ['services.*.ulimits.*.soft', toInt],
  ['services.*.ulimits.*.hard', toInt],
  ['services.*.read_only', toBool],
  ['services.*.init', toBool],
  ['services.*.tty', toBool],
  ['services.*.stdin_open', toBool],
  ['services.*.privileged', toBool],
  ['networks.*.external', toBool],
  ['networks.*.attachable', toBool],
  ['networks.*.internal', toBool],
  ['networks.*.enable_ipv6', toBool],
  ['volumes.*.external', toBool],
  ['secrets.*.external', toBool],
  ['configs.*.external', toBool],
];

const numberCasts: [string, NumberCast][] = [
  ['services.*.user', numberToString],
  ['services.*.secrets.#.uid', numberToString],
  ['services.*.secrets.#.gid', numberToString],
  ['services.*.configs.#.uid', numberToString],
  ['services.*.configs.#.gid', numberToString],
];

const patterns = casts.map(([p, f]) => [p.split('.'), f] as const);
const numberPatterns = numberCasts.map(([p, f]) => [p.split('.'), f] as const);

/** Casts string values at typed paths, in place. */
export function castTypedValues(root: PlainMap): void {
  for (const [segs, f] of patterns) apply(root, segs, 0, (v) => (typeof v === 'string' ? f(v) : v));
  for (const [segs, f] of numberPatterns) apply(root, segs, 0, (v) => (typeof v === 'number' ? f(v) : v));
}

function apply(node: Plain, segs: readonly string[], i: number, f: (v: Plain) => Plain): void {
  const seg = segs[i]!;
  const last = i === segs.length - 1;
  const visit = (container: PlainMap | Plain[], key: string | number) => {
    const v = (container as Record<string | number, Plain>)[key];
    if (v === undefined) return;
    if (last) {
      (container as Record<string | number, Plain>)[key] = f(v);
    } else {
      apply(v, segs, i + 1, f);
    }
  };
  if (seg === '#') {
    if (Array.isArray(node)) node.forEach((_, k) => visit(node, k));
  } else if (isMap(node)) {
    if (seg === '*') {
      for (const k of Object.keys(node)) if (!k.startsWith('x-')) visit(node, k);
    } else if (Object.prototype.hasOwnProperty.call(node, seg)) {
      visit(node, seg);
    }
  }
}
