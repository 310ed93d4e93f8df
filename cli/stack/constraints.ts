// Placement constraints and spread preferences, checked when the file is read rather than when
// the scheduler first meets them: `node.role == manager`, `node.labels.zone != a`, ...

const constraintKeys = /^(node\.(id|hostname|role|platform\.os|platform\.arch)|(node|engine)\.labels\.[^\s=!]+)$/;

/** An error message for an invalid constraint, or undefined when it is valid. */
export function checkConstraint(c: string): string | undefined {
  const m = /^\s*([^\s=!]+)\s*(==|!=)\s*(.*?)\s*$/.exec(c);
  if (!m) return `invalid constraint "${c}": write KEY==VALUE or KEY!=VALUE, e.g. node.role==manager`;
  const [, key, , value] = m as unknown as [string, string, string, string];
  if (!constraintKeys.test(key)) {
    return `unknown constraint key "${key}" in "${c}": use node.id, node.hostname, node.role, node.platform.os, node.platform.arch, node.labels.NAME or engine.labels.NAME`;
  }
  if (value === '') return `constraint "${c}" has no value after the operator`;
  if (key === 'node.role' && !['manager', 'worker'].includes(value)) return `node.role is manager or worker, not "${value}"`;
  return undefined;
}

export function checkSpread(s: string): string | undefined {
  return /^(node|engine)\.labels\.\S+$/.test(s) || /^node\.(id|hostname|platform\.os|platform\.arch)$/.test(s)
    ? undefined
    : `invalid spread "${s}": spread over a node label (node.labels.NAME) or a node attribute`;
}
