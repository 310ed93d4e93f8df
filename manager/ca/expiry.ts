// How long the node certificates the CA signs are valid: ClusterSpec.ca_config.node_cert_expiry,
// 90 days by default and never under one hour (as Swarm); a test-only override (a daemon tuning
// option) may go lower so that renewals happen within a test.
import type { CAConfig } from '../../proto/gen/types.js';

export const DEFAULT_NODE_CERT_EXPIRY_MS = 90 * 86_400_000;
export const MIN_NODE_CERT_EXPIRY_MS = 3_600_000;

export function nodeCertExpiryMs(caConfig: CAConfig | undefined, overrideMs?: number): number {
  if (overrideMs && overrideMs > 0) return overrideMs;
  const nanos = caConfig?.nodeCertExpiry?.nanos ?? 0n;
  if (nanos <= 0n) return DEFAULT_NODE_CERT_EXPIRY_MS;
  return Math.max(MIN_NODE_CERT_EXPIRY_MS, Number(nanos / 1_000_000n));
}
