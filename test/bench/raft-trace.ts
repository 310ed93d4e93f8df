// `npm run bench -- raft-trace [--writes N] [--smoke]`
// What one lone write waits on, in numbers that do not depend on the machine's load: three
// RaftNodes in this process (real gRPC on loopback, real WALs with fdatasync, sealed as a
// manager's are), one write at a time after a warm-up. Per write it counts, with async_hooks,
// the callbacks the event loop ran (by resource type: each is one trip through the loop's
// phases: a timer, a thread-pool job coming back, a socket read) and the timers and immediates
// created; and it prints the stage timestamps of one write (propose, each member's WAL write
// and fsync, messages stepped, apply) so the order of the stages can be read off. CPU time
// (user + system, all three members, from propose to its answer) is reported beside the counts.
// The last line is one JSON object with the medians.
import { createHook } from 'node:async_hooks';
import { createHash } from 'node:crypto';
import type { Message } from '../../proto/gen/raft.js';
import { MessageType } from '../../proto/gen/raft.js';
import { AesGcmCipher } from '../../manager/raft/storage/index.js';
import { Cluster, type Member } from '../manager/raft/process/cluster.js';
import type { BenchOptions } from '../bench-helpers/bench.js';

const now = (): number => Number(process.hrtime.bigint()) / 1e3; // microseconds

interface Counts { callbacks: Map<string, number>; created: Map<string, number>; cpuUs: number }

let counting: Counts | undefined;
const bump = (m: Map<string, number>, k: string): void => void m.set(k, (m.get(k) ?? 0) + 1);
const types = new Map<number, string>();
const hook = createHook({
  init(id, type) {
    if (type === 'PROMISE') return;
    types.set(id, type);
    if (counting) bump(counting.created, type);
  },
  before(id) {
    const t = types.get(id);
    if (t && counting) bump(counting.callbacks, t);
  },
  destroy(id) {
    types.delete(id);
  },
});

let trace: { t: number; who: string; what: string }[] | undefined;
const tally = { saves: 0, messages: 0 };
const mark = (who: string, what: string): void => void trace?.push({ t: now(), who, what });

/** Wraps a member's WAL, transport and core so the trace sees each stage (test instrumentation). */
function instrument(m: Member): void {
  const who = `m${m.id}`;
  // the private fields of RaftNode are reached by name: this is a diagnostic, not an API
  const n = m.node as unknown as {
    wal: { save: (rec: { entries?: unknown[]; hardState?: unknown }, sync?: boolean) => Promise<void> };
    transport: { send: (msgs: readonly Message[]) => void };
    rn: { step: (msg: Message) => void };
  };
  const save = n.wal.save.bind(n.wal);
  n.wal.save = (rec, sync) => {
    const what = `wal write ${rec.entries?.length ?? 0} entries${rec.hardState ? ' + hard state' : ''}${sync ? ', fdatasync' : ''}`;
    mark(who, `${what}: start`);
    tally.saves++;
    return save(rec, sync).then(() => mark(who, `${what}: durable`));
  };
  const send = n.transport.send.bind(n.transport);
  n.transport.send = (msgs) => {
    tally.messages += msgs.length;
    for (const x of msgs) mark(who, `send ${MessageType[x.type]} to m${x.to} (${x.entries.length} entries, commit ${x.commit})`);
    send(msgs);
  };
  const step = n.rn.step.bind(n.rn);
  n.rn.step = (msg) => {
    mark(who, `step ${MessageType[msg.type]} from m${msg.from}`);
    step(msg);
  };
  const apply = m.sm.apply.bind(m.sm);
  m.sm.apply = (data) => {
    mark(who, 'apply');
    return apply(data);
  };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

export default async function main(args: string[], { smoke }: BenchOptions): Promise<void> {
  const i = args.indexOf('--writes');
  const writes = i >= 0 ? Number(args[i + 1]) : smoke ? 20 : 200;
  const seed = createHash('sha256').update('shoal-trace-key').digest();
  const cipher = new AesGcmCipher({ id: seed.subarray(0, 8), key: createHash('sha256').update(seed).digest() });
  const c = new Cluster({ cipher });
  try {
    await c.init(3);
    await Promise.all([1n, 2n, 3n].map((id) => c.start(id, c.founders(3))));
    const l = await c.leader();
    for (let k = 0; k < 100; k++) await l.node!.propose(Buffer.alloc(100, 'w'));
    for (const m of c.running()) instrument(m);
    hook.enable();
    const perWrite: Counts[] = [];
    const cpuAll = process.cpuUsage();
    for (let k = 0; k < writes; k++) {
      // let the followers' commit notices settle so that each write starts from a quiet loop
      await new Promise((r) => setTimeout(r, 5));
      const counts: Counts = { callbacks: new Map(), created: new Map(), cpuUs: 0 };
      if (k === writes - 1) trace = [];
      counting = counts;
      const cpu0 = process.cpuUsage();
      mark(`m${l.id}`, 'propose');
      await l.node!.propose(Buffer.alloc(100, 'v'));
      mark(`m${l.id}`, 'resolved');
      const cpu = process.cpuUsage(cpu0);
      counts.cpuUs = cpu.user + cpu.system;
      counting = undefined;
      perWrite.push(counts);
    }
    const all = process.cpuUsage(cpuAll);
    hook.disable();
    const t0 = trace![0]!.t;
    for (const e of trace!) process.stderr.write(`${(e.t - t0).toFixed(0).padStart(7)} us  ${e.who}  ${e.what}\n`);
    trace = undefined;
    // the same writes from 64 callers at once: CPU, WAL saves and messages per write (all members)
    const conc = 64;
    const writes64 = writes * 20;
    tally.saves = 0;
    tally.messages = 0;
    const cpu64 = process.cpuUsage();
    let next = 0;
    await Promise.all(Array.from({ length: conc }, async () => {
      while (next++ < writes64) {
        // each caller's next write comes in its own callback, as requests from sockets do
        await new Promise((r) => setImmediate(r));
        await l.node!.propose(Buffer.alloc(100, 'c'));
      }
    }));
    const used64 = process.cpuUsage(cpu64);
    const c64 = {
      cpu_us_per_write: Math.round((used64.user + used64.system) / writes64),
      wal_saves_per_write: +(tally.saves / writes64).toFixed(3),
      messages_per_write: +(tally.messages / writes64).toFixed(3),
    };
    const keys = (pick: (c: Counts) => Map<string, number>) => [...new Set(perWrite.flatMap((c) => [...pick(c).keys()]))].sort();
    const med = (pick: (c: Counts) => Map<string, number>) =>
      Object.fromEntries(keys(pick).map((k) => [k, median(perWrite.map((c) => pick(c).get(k) ?? 0))]));
    const total = (pick: (c: Counts) => Map<string, number>) => median(perWrite.map((c) => [...pick(c).values()].reduce((a, b) => a + b, 0)));
    console.log(JSON.stringify({
      bench: 'raft-trace', writes,
      loop_callbacks_per_write: total((c) => c.callbacks), callbacks_by_type: med((c) => c.callbacks),
      timers_created_per_write: median(perWrite.map((c) => c.created.get('Timeout') ?? 0)),
      cpu_us_per_write: median(perWrite.map((c) => c.cpuUs)),
      // including what follows the answer (the followers hearing the commit) and the pauses' ticks
      cpu_us_per_write_whole_cycle: Math.round((all.user + all.system) / writes),
      immediates_created_per_write: median(perWrite.map((c) => c.created.get('Immediate') ?? 0)),
      created_by_type: med((c) => c.created),
      c64,
    }));
  } finally {
    hook.disable();
    await c.destroy();
  }
}
