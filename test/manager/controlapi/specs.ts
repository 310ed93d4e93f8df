// Service specs for control API and CLI tests.
import { ServiceSpec } from '../../../proto/gen/types.js';

export function replicatedSpec(name: string, replicas = 1, extra: (s: ServiceSpec) => void = () => undefined): ServiceSpec {
  const s = ServiceSpec.fromPartial({
    annotations: { name, labels: {} },
    task: { container: { image: 'busybox:latest', args: ['sleep', '1000'] } },
  });
  s.mode = { $case: 'replicated', value: { replicas } };
  extra(s);
  return s;
}
