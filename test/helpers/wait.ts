// Polling a synchronous condition (a store, a counter) until it holds, for tests that drive real
// processes and sockets: no fixed sleeps, and a timeout that names what never happened.

export async function waitFor(what: string, cond: () => boolean, ms = 30_000, everyMs = 20): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
