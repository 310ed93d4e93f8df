// Checks across the peers of one network: two hosts claiming the same addresses would make
// the second route silently replace the first, so such a list is refused whole.
import { broadcastOf, parsePrefix } from './addr.js';
import { InvalidNetworkInputError } from './errors.js';
import type { PeerState } from './driver.js';

/** Throws naming both hosts when prefixes of two peers (or two of one) overlap. */
export function checkPeersDisjoint(networkName: string, peers: readonly PeerState[]): void {
  const ranges = peers
    .flatMap((p) => p.prefixes.map((text) => ({ host: p.hostId, text, ...range(text) })))
    .sort((a, b) => a.start - b.start || b.end - a.end);
  for (let i = 1; i < ranges.length; i++) {
    const prev = ranges[i - 1]!;
    const cur = ranges[i]!;
    if (cur.start <= prev.end)
      throw new InvalidNetworkInputError(
        `network ${networkName}: ${cur.text} of peer ${cur.host} overlaps ${prev.text} of peer ${prev.host}; ` +
          `each address belongs to one host`,
      );
  }
}

function range(text: string): { start: number; end: number } {
  const p = parsePrefix(text, true)!.prefix;
  return { start: p.base, end: broadcastOf(p) };
}
