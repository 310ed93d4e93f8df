// Agent heartbeats: the window arithmetic, and real sessions over loopback gRPC with a scripted
// dispatcher whose heartbeat answers come late, fail once, or never come.
import { Server, ServerCredentials, status, type sendUnaryData, type ServerUnaryCall, type ServerWritableStream, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { AGENT_GIVE_UP_PERIODS, HeartbeatWindow, isTransientHeartbeatError, MissedHeartbeatsError } from '../../../agent/session/heartbeat.js';
import { SessionLoop } from '../../../agent/session/index.js';
import { DispatcherService, type HeartbeatRequest, type HeartbeatResponse, type SessionMessage } from '../../../proto/gen/dispatcher.js';
import { NodeDescription } from '../../../proto/gen/types.js';
import { insecure, until } from './manager.js';

// at least 1 s: the old deadline (one period, at least 1 s) must fail the 'late' case
const PERIOD_MS = 1_000;

type Behaviour = 'prompt' | 'late' | 'fail-once' | 'never';

interface FakeManager {
  addr: string;
  behaviour: Behaviour;
  sessions: number;
  heartbeats: number;
  server: Server;
}

const servers: Server[] = [];
const loops: SessionLoop[] = [];
afterEach(async () => {
  for (const l of loops.splice(0)) await l.stop();
  for (const s of servers.splice(0)) s.forceShutdown();
});

/** A dispatcher that opens sessions and answers heartbeats as scripted (no store, no tasks). */
async function fakeManager(behaviour: Behaviour): Promise<FakeManager> {
  const server = new Server();
  const m: FakeManager = { addr: '', behaviour, sessions: 0, heartbeats: 0, server };
  const hold = (call: ServerWritableStream<unknown, unknown>): void => {
    call.on('cancelled', () => undefined); // stays open until the agent goes
  };
  server.addService(DispatcherService, {
    session(call: ServerWritableStream<unknown, SessionMessage>) {
      m.sessions++;
      call.write({ sessionId: `s${m.sessions}`, nodeId: 'n1', managers: [], heartbeatPeriod: { nanos: BigInt(PERIOD_MS) * 1_000_000n }, node: undefined });
      hold(call);
    },
    heartbeat(_call: ServerUnaryCall<HeartbeatRequest, HeartbeatResponse>, cb: sendUnaryData<HeartbeatResponse>) {
      m.heartbeats++;
      const ok = (): void => cb(null, { period: { nanos: BigInt(PERIOD_MS) * 1_000_000n } });
      if (m.behaviour === 'prompt') return ok();
      if (m.behaviour === 'late') return void setTimeout(ok, PERIOD_MS * 1.3); // later than one period
      if (m.behaviour === 'fail-once' && m.heartbeats % 2 === 1) return cb({ code: status.UNAVAILABLE, details: 'connection reset' });
      if (m.behaviour === 'fail-once') return ok();
      // never: the call hangs until the agent's deadline
    },
    assignments: hold,
    logSubscriptions: hold,
    updateTaskStatus: (_c: unknown, cb: sendUnaryData<object>) => cb(null, {}),
    publishLogs: (_c: unknown, cb: sendUnaryData<object>) => cb(null, {}),
  } as unknown as UntypedServiceImplementation);
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  m.addr = `127.0.0.1:${port}`;
  servers.push(server);
  return m;
}

function loopFor(addrs: string[]): { loop: SessionLoop; opened: string[]; ended: Error[] } {
  const opened: string[] = [];
  const ended: Error[] = [];
  const loop = new SessionLoop({
    managers: addrs,
    credentials: insecure,
    description: () => NodeDescription.fromPartial({ hostname: 'hb-test' }),
    onSession: (m, first) => {
      if (first) opened.push(m.sessionId);
    },
    onAssignments: () => undefined,
    onDisconnect: (err) => ended.push(err),
    logger: pino({ level: 'silent' }),
    backoff: { initialMs: 20, maxMs: 100 },
  });
  loops.push(loop);
  return { loop, opened, ended };
}

describe('HeartbeatWindow', () => {
  it('waits for an answer until shortly before the manager would mark the node down', () => {
    const w = new HeartbeatWindow(1_000, 100);
    expect(w.giveUpAt()).toBe(1_000 + AGENT_GIVE_UP_PERIODS * 100);
    expect(AGENT_GIVE_UP_PERIODS).toBeGreaterThan(1); // a single late answer is not the end
    expect(AGENT_GIVE_UP_PERIODS).toBeLessThan(3); // and the agent moves before the manager gives up
    // the heartbeat sent one period later may take longer than one period
    expect(w.deadline(1_100) - 1_100).toBeGreaterThan(100);
    // sent late (the agent was starved): still half a period for the answer
    expect(w.deadline(1_400)).toBe(1_450);
    expect(w.expired(1_249)).toBe(false);
    expect(w.expired(1_250)).toBe(true);
    w.answered(1_200, 200);
    expect(w.giveUpAt()).toBe(1_700);
    expect(w.silentFor(1_300)).toBe(100);
  });

  it('retries soon but never past the window', () => {
    const w = new HeartbeatWindow(0, 2_000);
    expect(w.retryDelay(100)).toBe(250);
    expect(w.retryDelay(4_900)).toBe(100);
    expect(new HeartbeatWindow(0, 40).retryDelay(0)).toBe(20);
  });

  it('retries only failures of the call, not of the session', () => {
    expect(isTransientHeartbeatError({ code: status.UNAVAILABLE, details: 'connection reset' })).toBe(true);
    expect(isTransientHeartbeatError({ code: status.UNAVAILABLE, details: 'not leader: 10.0.0.2:4243' })).toBe(false);
    expect(isTransientHeartbeatError({ code: status.NOT_FOUND, details: 'session "x" is not valid' })).toBe(false);
    expect(isTransientHeartbeatError({ code: status.DEADLINE_EXCEEDED })).toBe(true);
  });
});

describe('agent heartbeats over gRPC', () => {
  it('keeps its session when answers come later than one period, or fail once and then succeed', async () => {
    for (const b of ['late', 'fail-once'] as const) {
      const m = await fakeManager(b);
      const { loop, opened, ended } = loopFor([m.addr]);
      loop.start();
      await until(() => m.heartbeats >= 4, `four heartbeats (${b})`);
      expect([b, opened.length, ended.map((e) => e.message)]).toEqual([b, 1, []]);
      expect(m.sessions).toBe(1);
      await loop.stop();
    }
  }, 30_000);

  it('moves to another manager when its manager stops answering heartbeats', async () => {
    const silent = await fakeManager('never');
    const other = await fakeManager('prompt');
    const { loop, ended } = loopFor([silent.addr, other.addr]);
    loop.start();
    await until(() => other.sessions === 1 && loop.session !== undefined, 'a session with the other manager');
    expect(silent.sessions).toBe(1);
    expect(ended[0]).toBeInstanceOf(MissedHeartbeatsError);
    expect((ended[0] as MissedHeartbeatsError).silentMs).toBeGreaterThanOrEqual(AGENT_GIVE_UP_PERIODS * PERIOD_MS);
    // one heartbeat was waited for through the window rather than abandoned after one period
    expect(silent.heartbeats).toBe(1);
    const before = other.heartbeats;
    await until(() => other.heartbeats >= before + 2, 'heartbeats with the other manager');
    expect(loop.session).toBeDefined();
  }, 30_000);
});
