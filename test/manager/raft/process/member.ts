// A Raft member as its own process, for the real-process test and the benchmark: a RaftNode with
// a list state machine, driven over a small HTTP API on loopback.
//   tsx member.ts --id 1 --dir D --listen 127.0.0.1:P --peers 1=127.0.0.1:P1,2=... --http 0
//                 [--log debug] [--snapshot-every N] [--fsync off] [--tick-ms 50] [--encrypt off]
//   POST /put (body: value)  -> 200 {"n": list length}  | 421 {"leader": "id"} | 503 {"error": ...}
//   GET /items -> JSON array of applied values; GET /status -> leader, role, term, applied
// Prints one line {"ready":true,"http":PORT,"raft":ADDR} on stdout once serving.
import { createHash } from 'node:crypto';
import http from 'node:http';
import { pino } from 'pino';
import { NotLeaderError } from '../../../../manager/raft/index.js';
import { RaftNode, type NodeLogger, type StateMachine } from '../../../../manager/raft/node/index.js';
import { AesGcmCipher } from '../../../../manager/raft/storage/index.js';

const arg = (name: string, dflt?: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  const v = i > 0 ? process.argv[i + 1] : dflt;
  if (v === undefined) throw new Error(`missing --${name}`);
  return v;
};

class ListMachine implements StateMachine<number> {
  items: string[] = [];
  apply(data: Buffer): number {
    this.items.push(data.toString());
    return this.items.length;
  }
  snapshot(): Uint8Array {
    return Buffer.from(JSON.stringify(this.items));
  }
  restore(data: Buffer): void {
    this.items = data.length ? (JSON.parse(data.toString()) as string[]) : [];
  }
}

const json = (o: object): string => JSON.stringify(o, (_, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
const logger: NodeLogger = pino({ level: arg('log', 'warn'), base: { member: arg('id') } }, pino.destination(2));

const peers = new Map(arg('peers').split(',').map((p) => {
  const [id, addr] = p.split('=');
  return [BigInt(id!), addr!] as const;
}));
const sm = new ListMachine();
// The WAL and snapshots are sealed as a manager's are (AES-256-GCM; --encrypt off only to see what
// that costs). The key is derived from the directory so that a restarted member reads its own
// files: a test key, never a real one.
const seed = createHash('sha256').update(`shoal-test-key:${arg('dir')}`).digest();
const cipher = arg('encrypt', 'on') !== 'off' ? new AesGcmCipher({ id: seed.subarray(0, 8), key: createHash('sha256').update(seed).digest() }) : undefined;
const node = await RaftNode.start({
  id: BigInt(arg('id')),
  clusterId: arg('cluster', 'shoalri-proc'),
  dir: arg('dir'),
  listen: arg('listen'),
  peers,
  stateMachine: sm,
  snapshotEvery: Number(arg('snapshot-every', '10000')),
  fsync: arg('fsync', 'on') !== 'off', // 'off' only to see what the disk costs; never in tests
  tickMs: Number(arg('tick-ms', '50')),
  cipher,
  logger,
});

function body(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    req.on('data', (d: Buffer) => parts.push(d));
    req.on('end', () => resolve(Buffer.concat(parts)));
    req.on('error', reject);
  });
}

const server = http.createServer((req, res) => {
  const send = (code: number, o: object): void => {
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(json(o));
  };
  if (req.method === 'POST' && req.url === '/put') {
    body(req)
      .then((b) => node.propose(b))
      .then((n) => send(200, { n }))
      .catch((err: unknown) => {
        if (err instanceof NotLeaderError) send(421, { leader: err.leader });
        else send(503, { error: (err as Error).message });
      });
  } else if (req.url === '/items') send(200, sm.items);
  else if (req.url === '/status') {
    const s = node.status();
    send(200, { id: s.id, leader: s.leader, role: s.role, term: s.term, applied: s.applied });
  } else send(404, { error: 'unknown path' });
});
server.keepAliveTimeout = 60_000;
server.listen(Number(arg('http', '0')), '127.0.0.1', () => {
  const port = (server.address() as { port: number }).port;
  process.stdout.write(`${json({ ready: true, http: port, raft: node.address })}\n`);
});

process.on('SIGTERM', () => {
  server.close();
  void node.stop().then(() => process.exit(0));
});
