// Runs inside a lab host's network namespace (as the agent would): either the embedded DNS
// server, driven by JSON lines on stdin (one reply line per command), or a fake upstream
// resolver that answers every A query with a fixed address.
//   node --import tsx dns-serve.ts server '{"upstreams":[...]}'
//   node --import tsx dns-serve.ts upstream ADDR PORT ANSWER
import { createSocket } from 'node:dgram';
import { createInterface } from 'node:readline';
import * as packet from 'dns-packet';
import { DnsServer } from '../../overlay-net/dns/index.js';

const [mode, ...args] = process.argv.slice(2);

if (mode === 'upstream') {
  const [addr, port, answer] = args as [string, string, string];
  const s = createSocket('udp4');
  s.on('message', (msg, rinfo) => {
    const q = packet.decode(msg);
    const question = q.questions![0]!;
    const answers: packet.Answer[] = question.type === 'A' ? [{ type: 'A', name: question.name, ttl: 60, data: answer }] : [];
    s.send(packet.encode({ type: 'response', id: q.id, flags: packet.RECURSION_AVAILABLE, questions: q.questions, answers }), rinfo.port, rinfo.address);
  });
  s.bind(Number(port), addr, () => process.stdout.write('ready\n'));
} else if (mode === 'server') {
  const server = new DnsServer(JSON.parse(args[0] ?? '{}'));
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    const cmd = JSON.parse(line) as { op: string; arg: unknown };
    const done = (err?: unknown) => process.stdout.write(JSON.stringify({ ok: !err, error: err ? String(err) : undefined }) + '\n');
    const ops: Record<string, (a: never) => unknown> = {
      addNetwork: (a) => server.addNetwork(a),
      removeNetwork: (a) => server.removeNetwork(a),
      upsertService: (a) => server.upsertService(a),
      removeService: (a) => server.removeService(a),
      upsertTask: (a) => server.upsertTask(a),
      removeTask: (a) => server.removeTask(a),
    };
    Promise.resolve()
      .then(() => ops[cmd.op]!(cmd.arg as never))
      .then(() => done(), done);
  });
  rl.on('close', () => void server.close().then(() => process.exit(0)));
  process.stdout.write('ready\n');
} else {
  process.stderr.write(`unknown mode ${mode}\n`);
  process.exit(2);
}
