// Merging several files (-c base -c override) in order, with Compose's rules: mappings merge
// key by key, scalars and most lists are replaced, and a few lists merge by identity
// (ports by publication, volumes by target, secrets and configs by source, capabilities and
// DNS settings as sets). Runs on canonical trees, so list-or-mapping keys are mappings here.
import { portKey, type CanonicalPort } from './ports.js';
import { isMap, newMap, type Plain, type PlainMap } from './tree.js';

type Identity = (item: Plain) => string;

const byField = (field: string): Identity => (item) => (isMap(item) ? String(item[field]) : JSON.stringify(item));

const serviceListMerges: Record<string, Identity> = {
  ports: (item) => (isMap(item) ? portKey(item as unknown as CanonicalPort) : JSON.stringify(item)),
  volumes: byField('target'),
  secrets: byField('source'),
  configs: byField('source'),
  cap_add: String,
  cap_drop: String,
  dns: String,
  dns_search: String,
};

export function mergeFiles(trees: PlainMap[]): PlainMap {
  let out = newMap();
  for (const t of trees) out = mergeMap(out, t, []) as PlainMap;
  return out;
}

function mergeValue(base: Plain | undefined, over: Plain, path: string[]): Plain {
  if (isMap(base) && isMap(over)) return mergeMap(base, over, path);
  if (Array.isArray(base) && Array.isArray(over)) {
    const key = path[2]!;
    const identity = path.length === 3 && path[0] === 'services' && Object.prototype.hasOwnProperty.call(serviceListMerges, key)
      ? serviceListMerges[key]
      : undefined;
    if (identity) return mergeList(base, over, identity);
  }
  return clone(over);
}

function mergeMap(base: PlainMap, over: PlainMap, path: string[]): PlainMap {
  const out = newMap();
  for (const k of Object.keys(base)) out[k] = base[k]!;
  for (const k of Object.keys(over)) out[k] = mergeValue(out[k], over[k]!, [...path, k]);
  return out;
}

function mergeList(base: Plain[], over: Plain[], identity: Identity): Plain[] {
  const byId = new Map<string, Plain>();
  for (const item of base) byId.set(identity(item), item);
  for (const item of over) byId.set(identity(item), clone(item));
  return [...byId.values()];
}

function clone(v: Plain): Plain {
  if (Array.isArray(v)) return v.map(clone);
  if (isMap(v)) {
    const out = newMap();
    for (const k of Object.keys(v)) out[k] = clone(v[k]!);
    return out;
  }
  return v;
}
