import { it } from 'vitest';
import { Cluster } from '/work/main/test/manager/raft/process/cluster.js';
for (const fsync of [true, false]) it(`c1 fsync=${fsync}`, async () => {
  const c = new Cluster({ fsync });
  await c.init(3);
  try {
    await Promise.all([1n, 2n, 3n].map((id) => c.start(id, c.founders(3))));
    const l = await c.leader();
    for (let i = 0; i < 200; i++) await l.node!.propose(Buffer.alloc(100));
    const lat: number[] = [];
    const t0 = performance.now();
    for (let i = 0; i < 2000; i++) { const s = performance.now(); await l.node!.propose(Buffer.alloc(100)); lat.push(performance.now() - s); }
    const secs = (performance.now() - t0) / 1000;
    lat.sort((a, b) => a - b);
    console.log(`fsync=${fsync} c1 ops/s`, Math.round(2000 / secs), 'p50', lat[1000]!.toFixed(3), 'p99', lat[1980]!.toFixed(3));
    const t1 = performance.now();
    let next = 0;
    await Promise.all(Array.from({ length: 64 }, async () => { while (next++ < 20000) await l.node!.propose(Buffer.alloc(100)); }));
    console.log(`fsync=${fsync} c64 ops/s`, Math.round(20000 / ((performance.now() - t1) / 1000)));
  } finally { await c.destroy(); }
});
