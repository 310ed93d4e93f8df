// Child process for the kill -9 test: appends entries to a WAL in its state directory, several
// saves in flight at once (so group commit is exercised), and prints each index once its save
// resolved, i.e. once it is acknowledged as durable. The parent SIGKILLs it at a random moment.
import { Wal } from '../../../../manager/raft/storage/index.js';
import { EntryType } from '../../../../proto/gen/raft.js';

const [dir, startArg] = process.argv.slice(2);
if (!dir) throw new Error('usage: wal-writer.ts DIR');
const { wal, state } = await Wal.open({ dir, clusterId: 'shoalri-kill', nodeId: 1n, segmentBytes: 64 << 10 });
let next = (state.entries.at(-1)?.index ?? 0n) + 1n;
void startArg;
process.stdout.write(`ready ${next}\n`);
const inFlight = 8;
async function writer(): Promise<void> {
  for (;;) {
    const index = next++;
    const data = Buffer.from(`value-${index}-`.padEnd(100, 'x'));
    await wal.save({ entries: [{ term: 1n, index, type: EntryType.ENTRY_NORMAL, data }], hardState: { term: 1n, vote: 1n, commit: index } });
    process.stdout.write(`ack ${index}\n`);
  }
}
await Promise.all(Array.from({ length: inFlight }, writer));
