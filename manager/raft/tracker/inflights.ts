// Flow control for a follower in replicate state: a bounded ring of the last index of each
// MsgApp in flight (and its size), freed as acknowledgements arrive.

export class Inflights {
  private readonly idx: bigint[];
  private readonly bytes: number[];
  private start = 0;
  private n = 0;
  private totalBytes = 0;

  constructor(readonly capacity: number, readonly maxBytes = 0) {
    this.idx = new Array<bigint>(capacity);
    this.bytes = new Array<number>(capacity);
  }

  get count(): number { return this.n; }

  add(index: bigint, bytes: number): void {
    if (this.full()) throw new Error('inflights: add while full');
    const pos = (this.start + this.n) % this.capacity;
    this.idx[pos] = index;
    this.bytes[pos] = bytes;
    this.n++;
    this.totalBytes += bytes;
  }

  /** Frees every flight whose last index is <= to. */
  freeLE(to: bigint): void {
    while (this.n > 0 && this.idx[this.start]! <= to) {
      this.totalBytes -= this.bytes[this.start]!;
      this.start = (this.start + 1) % this.capacity;
      this.n--;
    }
    if (this.n === 0) this.start = 0;
  }

  /** Frees the oldest flight: lets a heartbeat response probe a window that may hold a lost message. */
  freeFirstOne(): void {
    if (this.n === 0) return;
    this.freeLE(this.idx[this.start]!);
  }

  full(): boolean {
    return this.n === this.capacity || (this.maxBytes > 0 && this.totalBytes >= this.maxBytes);
  }

  reset(): void {
    this.start = 0;
    this.n = 0;
    this.totalBytes = 0;
  }
}
