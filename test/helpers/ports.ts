// Loopback ports for tests that start several servers whose addresses must be known up front
// (Raft peers name each other before any of them listens).
import net from 'node:net';

/** n ports that were free on 127.0.0.1 a moment ago (each bound, read, then closed). */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, () => new Promise<net.Server>((resolve) => {
      const s = net.createServer();
      s.listen(0, '127.0.0.1', () => resolve(s));
    })),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}
