// The replicated key-value state machine of the simulator: put, compare-and-swap, and a
// table of applied operation ids so a retried proposal takes effect once.

export type KvCommand =
  | { id: string; op: 'put'; key: string; value: string }
  | { id: string; op: 'cas'; key: string; expect: string; value: string };

/** ok: whether the write happened; current: the value before it (what a failed cas saw). */
export type KvResult = { ok: boolean; current: string };

export class KvStore {
  data = new Map<string, string>();
  private done = new Map<string, KvResult>();

  apply(cmd: KvCommand): KvResult {
    const prev = this.done.get(cmd.id);
    if (prev) return prev;
    let res: KvResult;
    const cur = this.data.get(cmd.key) ?? '';
    if (cmd.op === 'put') {
      this.data.set(cmd.key, cmd.value);
      res = { ok: true, current: cur };
    } else {
      res = { ok: cur === cmd.expect, current: cur };
      if (res.ok) this.data.set(cmd.key, cmd.value);
    }
    this.done.set(cmd.id, res);
    return res;
  }

  get(key: string): string { return this.data.get(key) ?? ''; }

  serialize(): Buffer {
    return Buffer.from(JSON.stringify({ data: [...this.data], done: [...this.done] }));
  }

  static deserialize(b: Buffer): KvStore {
    const kv = new KvStore();
    if (!b.length) return kv;
    const o = JSON.parse(b.toString()) as { data: [string, string][]; done: [string, KvResult][] };
    kv.data = new Map(o.data);
    kv.done = new Map(o.done);
    return kv;
  }
}
