// Cluster rpcs: read the cluster object (without the root CA key, which never leaves the
// managers' store, nor the unlock key) and rotate join tokens.
import type { Cluster } from '../../proto/gen/types.js';
import type { GetClusterResponse, RotateJoinTokenRequest, RotateJoinTokenResponse } from '../../proto/gen/control.js';
import { rotateJoinTokens } from '../ca/tokens.js';
import { cloneObject, type MemoryStore, type ReadonlyDeep, type ReadTx } from '../store/index.js';
import { failedPrecondition, invalidArgument } from './errors.js';

function theCluster(tx: ReadTx): ReadonlyDeep<Cluster> {
  const c = tx.clusters.all()[0];
  if (!c) throw failedPrecondition('this manager holds no cluster object yet: run `shoal init` or wait for it to catch up');
  return c;
}

/** A copy safe to hand to a client: the CA's private key is blanked. */
export function redactCluster(c: ReadonlyDeep<Cluster>): Cluster {
  const out = cloneObject<Cluster>(c);
  if (out.rootCa) out.rootCa.caKey = Buffer.alloc(0);
  out.unlockKey = ''; // only GetUnlockKey hands it out
  return out;
}

export function getCluster(store: MemoryStore): GetClusterResponse {
  return { cluster: store.view((tx) => redactCluster(theCluster(tx))) };
}

export async function rotateJoinToken(store: MemoryStore, req: RotateJoinTokenRequest): Promise<RotateJoinTokenResponse> {
  if (!req.worker && !req.manager) throw invalidArgument('say which join token to rotate: worker, manager or both');
  const id = await store.update((tx) => {
    const c = theCluster(tx);
    const ca = c.rootCa;
    if (!ca) throw failedPrecondition('the cluster has no root CA, so it has no join tokens to rotate');
    const current = { worker: ca.joinTokens?.worker ?? '', manager: ca.joinTokens?.manager ?? '' };
    const joinTokens = rotateJoinTokens(current, ca.caCertHash, { worker: req.worker, manager: req.manager });
    tx.clusters.update({ ...c, rootCa: { ...ca, joinTokens } });
    return c.id;
  });
  return { cluster: store.view((tx) => redactCluster(tx.clusters.get(id)!)) };
}
