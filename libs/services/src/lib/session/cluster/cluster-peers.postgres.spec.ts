import pg from 'pg';
import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { once } from 'node:events';
import { randomUUID } from 'node:crypto';
import {
  createTestSessionDb,
  openCachedTestStore,
  sessionFixture,
  TcpProxy,
  TEST_PG_URL,
  until,
  type CachedTestStore,
  type CountedRead,
  type TestSessionDb,
} from '@bodhi/testing';
import { quoteIdent } from '../sql/session-sql.js';
import { sessionKey } from '../store/session-key.js';
import type { SessionCacheRuntime } from '../store/session-data-source.factory.js';
import { invalidationChannel } from './channel-messages.js';
import type { BarrierOutcome } from './cluster-peers.js';

const HOUR = 3_600_000;

function runtimeOf(store: CachedTestStore): SessionCacheRuntime {
  if (!store.runtime) throw new Error('the session cache is off');
  return store.runtime;
}

/**
 * Another role of the database on a plain `pg` connection, as issue #28 describes it: it
 * LISTENs on the table's channel, so it hears every instance's messages, and NOTIFYs there
 * whatever it likes (NOTIFY needs no privilege).
 */
class Stranger {
  /** Every payload heard on the channel, in order. */
  readonly heard: string[] = [];
  private readonly waiting = new Map<string, () => void>();

  private constructor(
    private readonly client: pg.Client,
    private readonly channel: string,
  ) {}

  static async connect(channel: string): Promise<Stranger> {
    const client = new pg.Client(TEST_PG_URL);
    await client.connect();
    const stranger = new Stranger(client, channel);
    client.on('notification', ({ payload = '' }) => {
      stranger.heard.push(payload);
      stranger.waiting.get(payload)?.();
    });
    await client.query(`LISTEN ${quoteIdent(channel)}`);
    return stranger;
  }

  /** Sends each payload, in order, each in its own transaction (one collapses equal payloads). */
  async notify(...payloads: string[]): Promise<void> {
    for (const payload of payloads) {
      await this.client.query('SELECT pg_notify($1, $2)', [this.channel, payload]);
    }
  }

  /** Sends distinct payloads in one statement: a flood. */
  async flood(payloads: string[]): Promise<void> {
    await this.client.query('SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p', [
      this.channel,
      payloads,
    ]);
  }

  /**
   * Resolves once this connection has heard everything committed before the call: a marker
   * of its own has come back (notifications arrive in commit order).
   */
  async caughtUp(): Promise<void> {
    const marker = `s:${sessionKey(randomUUID())}`;
    const back = new Promise<void>((resolve) => this.waiting.set(marker, resolve));
    await this.notify(marker);
    await back;
    this.waiting.delete(marker);
  }

  /** The probes heard from `instance`, in order (whatever their format after the prefix). */
  probesOf(instance: string): string[] {
    return this.heard.filter((payload) => payload.startsWith(`p:${instance}:`));
  }

  end(): Promise<void> {
    return this.client.end();
  }
}

/**
 * Issue #28, part 4: the listeners' own messages forged, reflected and replayed by a
 * stranger on the channel, against two real instances A and B on one database. Each
 * sequence is the one the issue describes, sent over a plain connection; what must hold
 * after it: an ending on A returns once every real serving instance (and no other) has
 * answered, with no barrier timing out, and B, which had the session cached, never serves it
 * once A's ending has returned. B's listener goes through a proxy that can keep B from
 * hearing anything, so that an ending which did not wait for B would show as a stale read.
 */
describe('cluster peers on postgres: forged, reflected and replayed messages', () => {
  let db: TestSessionDb;
  let channel: string;
  let a: CachedTestStore;
  let warn: jest.SpiedFunction<Logger['warn']>;
  let stranger: Stranger;
  let bProxy: TcpProxy | undefined;
  let b: CachedTestStore | undefined;
  let n = 0;
  const sid = (name: string) => `${name}-${process.pid}-${++n}`;

  beforeAll(async () => {
    db = await createTestSessionDb('postgres');
    channel = invalidationChannel(db.schema as string, db.table);
  });
  // A is new in each test too: what one test's forgeries left in A is not the next one's.
  beforeEach(async () => {
    stranger = await Stranger.connect(channel);
    const logger = new Logger('SessionCache');
    jest.spyOn(logger, 'log').mockImplementation(() => undefined);
    warn = jest.spyOn(logger, 'warn').mockImplementation(() => undefined);
    a = await openCachedTestStore(db, {}, logger);
  });
  afterEach(async () => {
    await b?.close();
    await bProxy?.close();
    await a?.close();
    [b, bProxy] = [undefined, undefined];
    await stranger?.end();
  });
  afterAll(() => db?.drop());

  const listenerOf = (store: CachedTestStore) => runtimeOf(store).listener;

  /** B, its listener behind a proxy of the test's; A knows it serves (it heard B's probe saying so). */
  async function startB(): Promise<CachedTestStore> {
    bProxy = await TcpProxy.start(TEST_PG_URL);
    const started = await openCachedTestStore(db, { cacheListenUrl: bProxy.url });
    b = started;
    // B's first probe proves its listener (not serving yet), its second says it serves.
    await until(() => stranger.probesOf(listenerOf(started).instance).length >= 2);
    await handledBy(a);
    return started;
  }

  /** Resolves once `store`'s listener has handled everything committed before the call. */
  async function handledBy(store: CachedTestStore): Promise<void> {
    const before = (await store.counts()).notified;
    await stranger.notify(`s:${sessionKey(randomUUID())}`);
    await until(async () => (await store.counts()).notified > before);
  }

  /**
   * The answers heard to `barrier` (a forged one) and to one barrier of A's sent after it:
   * each listener answers a barrier once it has handled everything before it, on one
   * connection, so once A's own barrier has been answered and the stranger has caught up,
   * every answer to the forged one has been heard too.
   */
  async function answersAfter(barrier: string): Promise<string[]> {
    const from = stranger.heard.length;
    await stranger.notify(barrier);
    await listenerOf(a).barrier();
    await stranger.caughtUp();
    return stranger.heard.slice(from).filter((payload) => payload.startsWith('k:'));
  }

  /** The payload of `answer` replayed as a probe: same token, other kind. */
  const asProbe = (answer: string) => `p:${answer.slice('k:'.length)}`;

  /**
   * Ends `sid`, which B serves from its cache, on A, with B's listener kept from hearing
   * anything until A's own answer is in; `forged` is sent (and handled by A) just before.
   * Gives how A's barrier ended and what B read the moment A's ending returned: had A not
   * waited for B, B would still hold the session then.
   */
  async function endOnA(
    onB: CachedTestStore,
    sid: string,
    forged: string[] = [],
  ): Promise<{ outcome: BarrierOutcome; atB: CountedRead }> {
    const listener = listenerOf(a);
    bProxy?.stall();
    await stranger.notify(...forged);
    await handledBy(a);
    const outcome = once(listener, 'barrier') as Promise<[BarrierOutcome]>;
    const ownAnswer = once(listener, 'acknowledged');
    const atB = a.store.destroySession(sid).then(() => onB.read(sid));
    expect(await ownAnswer).toEqual([true]);
    await new Promise((resolve) => setImmediate(resolve));
    bProxy?.unstall();
    return { atB: await atB, outcome: (await outcome)[0] };
  }

  /** A session of `name` saved on A and served from B's cache. */
  async function cachedOnB(onB: CachedTestStore, name: string): Promise<string> {
    const s = sid(name);
    await a.store.saveSession(s, sessionFixture(HOUR, { user_id: `u-${name}` }));
    expect((await onB.read(s)).lookup).toBe('miss');
    expect((await onB.read(s)).lookup).toBe('hit');
    return s;
  }

  /** What every test ends on: A waited for exactly A and B, both answered, B read no stale row. */
  function expectEndedEverywhere(
    onB: CachedTestStore,
    ended: { outcome: BarrierOutcome; atB: CountedRead },
  ): void {
    const real = [listenerOf(a).instance, listenerOf(onB).instance].sort();
    expect(ended.outcome).toEqual({ waitedFor: real, unanswered: [], ended: 'answered' });
    expect(ended.atB).toMatchObject({ session: null, lookup: 'miss' });
    expect(warn).not.toHaveBeenCalled();
  }

  it('`b:EVIL:0:1`, its answers replayed as probes: no instance EVIL is waited for', async () => {
    const onB = await startB();
    const s = await cachedOnB(onB, 'evil');
    const answers = await answersAfter('b:EVIL:0:1');
    // The issue replays them every probe interval, to keep EVIL alive; once, right before
    // the ending, is what the ending sees.
    const ended = await endOnA(onB, s, answers.map(asProbe));
    expectEndedEverywhere(onB, ended);
    // Only A's own barrier was answered (by A and B), never the forged one.
    expect(answers).toHaveLength(2);
  });

  it('`b:<B>:0:0`, its answers replayed as probes: B is still waited for', async () => {
    const onB = await startB();
    const s = await cachedOnB(onB, 'not-serving');
    const answers = await answersAfter(`b:${listenerOf(onB).instance}:0:0`);
    const ended = await endOnA(onB, s, answers.map(asProbe));
    expectEndedEverywhere(onB, ended);
    expect(answers).toHaveLength(2);
  });

  it('1000 forged peers, then a new instance B: B is waited for', async () => {
    const forged = Array.from({ length: 1000 }, (_, i) => `b:FORGED-${i}:0:0`);
    const from = stranger.heard.length;
    await stranger.flood(forged);
    await listenerOf(a).barrier();
    await stranger.caughtUp();
    const answers = stranger.heard.slice(from).filter((payload) => payload.startsWith('k:'));
    // And 1000 probes in the probes' own shape, each with a made-up signature.
    const made = Array.from(
      { length: 1000 },
      () => `p:${randomUUID()}:1:${Date.now()}:1.${'0'.repeat(32)}`,
    );
    await stranger.flood([...answers.map(asProbe), ...made]);
    await handledBy(a);
    const onB = await startB();
    const s = await cachedOnB(onB, 'crowded');
    expectEndedEverywhere(onB, await endOnA(onB, s));
    // A's own barrier alone was answered (A was the only instance then).
    expect(answers).toHaveLength(1);
  });

  it("B's first probe (sent before it served) replayed while B serves: B is still waited for", async () => {
    const onB = await startB();
    const [first] = stranger.probesOf(listenerOf(onB).instance);
    const s = await cachedOnB(onB, 'replayed');
    expectEndedEverywhere(onB, await endOnA(onB, s, [first]));
  });

  it("B's probe saying it serves replayed after B stopped: B is not waited for", async () => {
    const onB = await startB();
    const instanceB = listenerOf(onB).instance;
    const serving = stranger.probesOf(instanceB).at(-1) as string;
    b = undefined;
    await onB.close();
    // A has heard B's last probe, which says B no longer serves.
    await until(() => listenerOf(a).servingInstances() === 1);
    await stranger.notify(serving);
    await handledBy(a);
    const outcome = once(listenerOf(a), 'barrier') as Promise<[BarrierOutcome]>;
    await a.store.destroySession(sid('after-stop'));
    expect((await outcome)[0]).toEqual({
      waitedFor: [listenerOf(a).instance],
      unanswered: [],
      ended: 'answered',
    });
    expect(warn).not.toHaveBeenCalled();
  });
});
