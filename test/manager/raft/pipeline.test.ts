// What a write waits on in the driver, pinned by events (never by time): three members in this
// process over real gRPC with real WALs; the leader's WAL writes are held by the test (the
// bytes reach the disk, but the driver hears "durable" only when the test releases them).
import { createHook } from 'node:async_hooks';
import { afterEach, expect, it } from 'vitest';
import { type Message, MessageType } from '../../../proto/gen/raft.js';
import { Cluster, type Member, until } from './process/cluster.js';

interface SaveRec { entries?: { index: bigint }[]; hardState?: unknown }
interface Internals {
  wal: { save: (rec: SaveRec, sync?: boolean) => Promise<void> };
  transport: { send: (msgs: readonly Message[]) => void };
  rn: { status(): { commit: bigint; lastIndex: bigint } };
}

let cluster: Cluster | undefined;
let releaseHeld = (): void => {};
afterEach(async () => {
  releaseHeld(); // a failed test must not leave the leader's writes held (stop waits for them)
  await cluster?.destroy();
  cluster = undefined;
});

/** Records what the leader writes and sends; `hold` keeps each write's completion until released. */
function watch(m: Member) {
  const n = m.node as unknown as Internals;
  const saves: { entries: bigint[]; release: () => void; durable: boolean }[] = [];
  const sent: Message[] = [];
  const state = { hold: false };
  const save = n.wal.save.bind(n.wal);
  n.wal.save = (rec, sync) => {
    const p = save(rec, sync);
    const s = { entries: (rec.entries ?? []).map((e) => e.index), release: () => {}, durable: false };
    saves.push(s);
    if (!state.hold) return p.then(() => void (s.durable = true));
    return new Promise<void>((resolve, reject) => {
      s.release = () => void p.then(() => { s.durable = true; resolve(); }, reject);
    });
  };
  const send = n.transport.send.bind(n.transport);
  n.transport.send = (msgs) => {
    sent.push(...msgs);
    send(msgs);
  };
  const releaseAll = (): void => {
    state.hold = false;
    for (const s of saves) s.release();
  };
  releaseHeld = releaseAll;
  return { saves, sent, state, releaseAll, core: n.rn };
}

const appsWith = (sent: Message[], index: bigint) =>
  sent.filter((m) => m.type === MessageType.MSG_APP && m.entries.some((e) => e.index === index));

async function three(): Promise<{ c: Cluster; l: Member }> {
  const c = new Cluster();
  cluster = c;
  await c.init(3);
  await Promise.all([1n, 2n, 3n].map((id) => c.start(id, c.founders(3))));
  const l = await c.leader();
  for (let i = 0; i < 5; i++) await l.node!.propose(Buffer.from(`warm${i}`));
  return { c, l };
}

it('a lone proposal is written and sent to both followers in the turn it was made, with no timer or immediate', async () => {
  const { l } = await three();
  const w = watch(l);
  const created: string[] = [];
  const hook = createHook({ init: (_id, type) => void (type === 'Timeout' || type === 'Immediate' ? created.push(type) : undefined) });
  let turnOver = false;
  setImmediate(() => (turnOver = true));
  const index = (w.core.status().lastIndex) + 1n;
  hook.enable();
  const done = l.node!.propose(Buffer.from('lone'));
  // the driver runs on microtasks of this turn: let them drain, but no macrotask
  for (let i = 0; i < 50 && !(w.saves.length && appsWith(w.sent, index).length === 2); i++) await Promise.resolve();
  hook.disable();
  expect(turnOver).toBe(false);
  expect(w.saves.map((s) => s.entries)).toContainEqual([index]);
  expect(appsWith(w.sent, index).map((m) => m.to).sort()).toHaveLength(2);
  expect(created).toEqual([]);
  expect(await done).toBe(6);
});

it('proposals made during the leader\'s write are sent at once and join the next write together; the leader counts itself only once durable', async () => {
  const { c, l } = await three();
  const w = watch(l);
  const a = w.core.status().lastIndex + 1n;
  w.state.hold = true;
  let aDone = false;
  const pa = l.node!.propose(Buffer.from('a')).then((n) => ((aDone = true), n));
  await until(() => w.saves.some((s) => s.entries.includes(a)) && appsWith(w.sent, a).length === 2, 'a written and sent');
  // followers write and acknowledge while the leader's own write is still in flight: the core
  // sees a quorum for `a` (the followers' fsyncs are done, the leader's is not)
  await until(() => w.core.status().commit >= a, 'followers acknowledged a');
  const pb = l.node!.propose(Buffer.from('b'));
  const pc = l.node!.propose(Buffer.from('c'));
  const b = a + 1n;
  await until(() => appsWith(w.sent, b + 1n).length === 2, 'b and c sent while a\'s write is held');
  expect(appsWith(w.sent, b).map((m) => m.entries.length)).toEqual([2, 2]); // one message per follower
  expect(w.saves.find((s) => s.entries.includes(a))!.durable).toBe(false);
  const bWrite = w.saves.find((s) => s.entries.includes(b));
  expect(bWrite?.entries).toEqual([b, b + 1n]); // one write, queued behind a's (the WAL's next group)
  // nothing applied or acknowledged on the leader, and no follower told a is committed
  expect(aDone).toBe(false);
  expect(l.sm.items).not.toContain('a');
  expect(w.sent.filter((m) => m.commit >= a)).toEqual([]);
  for (const f of c.running().filter((m) => m !== l)) expect(f.sm.items).not.toContain('a');
  w.releaseAll();
  expect(await pa).toBe(6);
  expect(await pb).toBe(7);
  expect(await pc).toBe(8);
  await until(() => c.running().every((m) => m.sm.items.length === 8), 'all applied a, b and c');
  expect(w.sent.some((m) => m.commit >= b)).toBe(true);
});
