// A control API on a real gRPC server in its own process, for measuring the server's memory
// while clients watch: `node --expose-gc --import tsx watch-server.ts`. Prints {"ready":true,
// "addr":...}; then each stdin line "write N" rewrites the status message of every task
// (TASKS updates per proposal) until N updates are written, and answers one JSON line with the
// heap (after a full GC), the RSS and the store's version.
import { createInterface } from 'node:readline';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { ControlService } from '../../../proto/gen/control.js';
import { Cluster, Task, TaskState } from '../../../proto/gen/types.js';
import { controlService } from '../../../manager/controlapi/index.js';
import { MemoryStore } from '../../../manager/store/index.js';
import { makeService } from '../store/fixtures.js';

const TASKS = 100;
/** Every update carries a distinct 2 KB message, so a queue that keeps old versions shows in the heap. */
const PAD = 'x'.repeat(2_000);

const store = new MemoryStore();
await store.update((tx) => {
  tx.clusters.create(Cluster.fromPartial({ id: 'cluster1', spec: { annotations: { name: 'default' } } }));
  tx.services.create(makeService('s1', 'web', { replicas: TASKS }));
  for (let i = 0; i < TASKS; i++) {
    tx.tasks.create(Task.fromPartial({ id: `t${i}`, serviceId: 's1', serviceName: 'web', slot: i + 1, desiredState: TaskState.RUNNING, status: { state: TaskState.RUNNING, message: 'start' } }));
  }
});

const server = new Server();
server.addService(ControlService, controlService({ store, isLeader: () => true, leaderClient: () => null, authorize: () => undefined }));
const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));

let written = 0;
const gc = (globalThis as { gc?: () => void }).gc!;

async function write(n: number): Promise<void> {
  for (let done = 0; done < n; done += TASKS) {
    const round = written++;
    await store.update((tx) => {
      for (const t of tx.tasks.all()) tx.tasks.update({ ...t, status: { ...t.status!, message: `round ${round} ${PAD}` } });
    });
    // let the server's streams and sockets run between proposals, as Raft's I/O would
    await new Promise((r) => setImmediate(r));
    if (round % 20 === 0) await new Promise((r) => setTimeout(r, 5));
  }
}

function measure(): { heapUsed: number; rss: number; version: string; rounds: number } {
  gc();
  gc();
  const m = process.memoryUsage();
  return { heapUsed: m.heapUsed, rss: m.rss, version: store.version.toString(), rounds: written };
}

process.stdout.write(`${JSON.stringify({ ready: true, addr: `127.0.0.1:${port}` })}\n`);
for await (const line of createInterface({ input: process.stdin })) {
  const [cmd, arg] = line.trim().split(/\s+/);
  if (cmd === 'write') await write(Number(arg));
  else if (cmd !== 'measure') continue;
  process.stdout.write(`${JSON.stringify(measure())}\n`);
}
server.forceShutdown();
