// At most n callers inside at once, urgent ones first, otherwise in arrival order. The runtime
// puts the file work of create() and start() behind one: twenty starts at once on one event
// loop otherwise advance in lock step, await by await, so the first container's supervisor is
// spawned only after the last one's files are written, and the supervisors' kernel work
// (namespaces, mounts) cannot overlap with the event loop's. A few at a time, starts before
// creates, each container goes to the kernel as soon as its own files are there.
export class Limiter {
  private active = 0;
  private readonly urgent: (() => void)[] = [];
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly n: number) {}

  async run<T>(fn: () => Promise<T>, opts: { urgent?: boolean } = {}): Promise<T> {
    if (this.active < this.n) this.active++;
    else await new Promise<void>((resolve) => (opts.urgent ? this.urgent : this.waiting).push(resolve));
    try {
      return await fn();
    } finally {
      // The slot passes straight to the next in line, but after a turn of the event loop: the
      // work behind the limiter mostly ends in promises that are already settled, so without
      // the turn a queue of creates would run as one chain of microtasks, and the supervisors'
      // reports (I/O) would wait until all of it is done.
      const next = this.urgent.shift() ?? this.waiting.shift();
      if (next) setImmediate(next);
      else this.active--;
    }
  }
}
