import { BODHI_SESSION_PRUNE_INTERVAL_SECONDS } from '@bodhi/services';
import {
  BodhiClient,
  bootTogether,
  DEMO_ADMIN,
  DEMO_USER,
  heldAdvisoryLocks,
  type LockOwners,
  SessionTraffic,
  Stack,
  StackOptions,
  startStack,
  timed,
  untilReading,
} from '@bodhi/testing';

const ACCESS_TOKEN_TTL_SECONDS = 2;
/** A request slower than this hangs (the issue saw 30 s and more): a bound, not a speed target. */
const HANG_BOUND_MS = 5_000;
const REFRESH_ROUNDS = 10;
const REQUESTS_PER_ROUND = 20;
/** More sessions than the harness's PgBouncer has server connections (default_pool_size 4). */
const REFRESHING_SESSIONS = 8;
const BOOT_ROUNDS = 10;
const BOOTING_TOGETHER = 3;

/** The same cluster, reaching PostgreSQL directly or through a transaction pooler. */
const SETUPS: { name: string; options: Pick<StackOptions, 'pooler'> }[] = [
  { name: 'on direct connections', options: {} },
  {
    name: 'through PgBouncer (transaction mode, unnamed statements)',
    options: { pooler: 'pgbouncer' },
  },
];

describe.each(SETUPS)('a cluster of two servers on one PostgreSQL, $name', ({ options }) => {
  let stack: Stack;
  let a: string;
  let b: string;
  /** Whose advisory locks the last test looks for: every schema and session served here. */
  const owners: LockOwners = { schemas: [], sessionIds: [] };
  /** A client logged in as `who` through `url`, its session among the owners. */
  const loggedIn = async (url: string, who: { username: string; password: string }) => {
    const client = new BodhiClient(url);
    await client.login(who.username, who.password);
    owners.sessionIds.push(client.sessionId() as string);
    return client;
  };

  beforeAll(async () => {
    stack = await startStack({
      backend: 'postgres',
      servers: 2,
      accessTokenTtlSeconds: ACCESS_TOKEN_TTL_SECONDS,
      // The smallest interval: the last test waits for a prune round.
      env: { [BODHI_SESSION_PRUNE_INTERVAL_SECONDS]: '1' },
      ...options,
    });
    [a, b] = stack.servers.map((s) => s.url);
    owners.schemas.push(stack.db.schema as string);
  }, 60_000);
  afterAll(() => stack?.stop());

  it('a login on A is a login on B; a logout on B is a logout on A', async () => {
    const onA = await loggedIn(a, DEMO_USER);
    const onB = onA.on(b);
    expect((await onB.user()).body).toMatchObject({
      auth_status: 'logged_in',
      username: DEMO_USER.username,
    });
    expect((await onB.logout()).status).toBe(200);
    expect((await onA.user()).body).toEqual({ auth_status: 'logged_out' });
  });

  it('a role change on A clears the session the user has on B', async () => {
    const admin = await loggedIn(a, DEMO_ADMIN);
    const user = await loggedIn(b, DEMO_USER);
    const userId = (await user.user()).body.user_id as string;
    const change = await admin.request('PUT', `/bodhi/v1/users/${userId}/role`, {
      role: 'resource_manager',
    });
    expect(change.body).toMatchObject({ sessions_cleared: 1 });
    expect((await user.user()).body).toEqual({ auth_status: 'logged_out' });
  });

  it(`refreshes exactly once per expiry across both servers: ${REQUESTS_PER_ROUND} requests at once, ${REFRESH_ROUNDS} rounds`, async () => {
    const onA = await loggedIn(a, DEMO_USER);
    const onB = onA.on(b);
    for (let round = 1; round <= REFRESH_ROUNDS; round++) {
      await stack.untilAccessTokenExpired(onA.sessionId());
      const grantsBefore = await stack.refreshGrants();
      const outcomes = await Promise.all(
        Array.from({ length: REQUESTS_PER_ROUND }, (_, i) =>
          timed(() => (i % 2 ? onA : onB).user(), HANG_BOUND_MS),
        ),
      );
      const grants = (await stack.refreshGrants()) - grantsBefore;
      // One object per round, so a failure names its round and shows every answer.
      expect({
        round,
        grants,
        answers: outcomes.map(
          (o) => o.failure ?? `${o.answer?.status} ${o.answer?.body.auth_status}`,
        ),
        slowMs: outcomes.filter((o) => o.ms >= HANG_BOUND_MS).map((o) => Math.round(o.ms)),
      }).toEqual({
        round,
        grants: 1,
        answers: Array(REQUESTS_PER_ROUND).fill('200 logged_in'),
        slowMs: [],
      });
    }
  }, 120_000);

  it(`${REFRESHING_SESSIONS} sessions refreshing at once on both servers all answer, each refreshed once`, async () => {
    // Each holder of a session's refresh lock keeps a connection in an open transaction; with
    // more holders than the pooler has server connections, work that needs another connection
    // waits for one only a holder could free, and the store freezes.
    const sessions: BodhiClient[] = [];
    for (let i = 0; i < REFRESHING_SESSIONS; i++) {
      sessions.push(await loggedIn(i % 2 ? b : a, DEMO_USER));
    }
    for (const session of sessions) await stack.untilAccessTokenExpired(session.sessionId());
    const grantsBefore = await stack.refreshGrants();
    const outcomes = await Promise.all(
      sessions.flatMap((session) =>
        [a, b].map((url) => timed(() => session.on(url).user(), HANG_BOUND_MS)),
      ),
    );
    expect({
      grants: (await stack.refreshGrants()) - grantsBefore,
      answers: outcomes.map(
        (o) => o.failure ?? `${o.answer?.status} ${o.answer?.body.auth_status}`,
      ),
      slowMs: outcomes.filter((o) => o.ms >= HANG_BOUND_MS).map((o) => Math.round(o.ms)),
    }).toEqual({
      grants: REFRESHING_SESSIONS,
      answers: Array(REFRESHING_SESSIONS * 2).fill('200 logged_in'),
      slowMs: [],
    });
  }, 60_000);

  it(`${BOOTING_TOGETHER} instances booting at the same moment on a new schema all come up and migrate once (${BOOT_ROUNDS} times)`, async () => {
    // What every boot must record, each once: the migrations the stack's schema holds.
    const recorded = async (schema = stack.db.schema) =>
      (
        await stack.db.query<{ name: string }>(
          `SELECT name FROM "${schema}"."${stack.db.table}_migrations" ORDER BY name`,
        )
      ).map((m) => m.name);
    const migrations = await recorded();
    expect(migrations).toEqual([...new Set(migrations)]);
    for (let round = 1; round <= BOOT_ROUNDS; round++) {
      const schema = `${stack.db.schema}_boot_${round}`;
      owners.schemas.push(schema);
      const booted = await bootTogether(stack, schema, BOOTING_TOGETHER);
      try {
        const answers = await Promise.all(booted.servers.map((s) => new BodhiClient(s.url).user()));
        expect({
          round,
          answers: answers.map((r) => r.body),
          migrations: await recorded(booted.schema),
        }).toEqual({
          round,
          answers: Array(BOOTING_TOGETHER).fill({ auth_status: 'logged_out' }),
          migrations,
        });
      } finally {
        await booted.stop();
      }
    }
  }, 120_000);

  it('a rolling restart of both instances keeps a client logged in, and no request hangs', async () => {
    const user = await loggedIn(a, DEMO_USER);
    const traffic = new SessionTraffic(user, [a, b], HANG_BOUND_MS);
    const grantsBefore = await stack.refreshGrants();
    try {
      await traffic.served(2);
      for (const server of stack.servers) {
        traffic.phase = `${server.url} stopping`;
        await traffic.drain(server.url);
        await server.stop();
        traffic.phase = `${server.url} stopped`;
        await traffic.served(1);
        traffic.phase = `${server.url} starting`;
        await server.up();
        traffic.restore(server.url);
        traffic.phase = `${server.url} restarted`;
        await traffic.served(2);
      }
      // A refresh by the restarted instances too: the token expires with the traffic on.
      traffic.phase = 'after the restart';
      await stack.untilAccessTokenExpired(traffic.client.sessionId());
      await traffic.served(2);
    } finally {
      await traffic.stop();
      // The restarted instances listen on ports of their own now.
      [a, b] = stack.servers.map((s) => s.url);
    }
    const unexpected = traffic.outcomes.filter(
      (o) => o.status !== 200 || o.authStatus !== 'logged_in' || o.ms >= HANG_BOUND_MS,
    );
    expect(unexpected).toEqual([]);
    expect((await stack.refreshGrants()) - grantsBefore).toBeGreaterThan(0);
    for (const url of [a, b]) {
      expect((await traffic.client.on(url).user()).body).toMatchObject({
        auth_status: 'logged_in',
      });
    }
  }, 120_000);

  it('afterwards holds no advisory lock, and pruning removes every expired row', async () => {
    // Login sessions nobody finished, aged past their expiry behind the servers' backs (the
    // revoked-token records of the logouts above expired with their 2 s tokens).
    for (const url of [a, b, a]) {
      expect((await new BodhiClient(url).post('/bodhi/v1/auth/initiate')).status).toBe(201);
    }
    const aged = await stack.db.query(
      `UPDATE ${stack.db.qualifiedTable} SET expires_at = $1 WHERE user_id IS NULL RETURNING id`,
      [Date.now() - 1000],
    );
    expect(aged.length).toBeGreaterThanOrEqual(3);
    const expired = async () => {
      const [{ n }] = await stack.db.query<{ n: string }>(
        `SELECT (SELECT count(*) FROM ${stack.db.qualifiedTable} WHERE expires_at <= $1) + ` +
          `(SELECT count(*) FROM ${stack.db.besideTable('revoked_tokens')} WHERE expires_at <= $1) AS n`,
        [Date.now()],
      );
      return Number(n);
    };
    expect(await untilReading(expired, (n) => n === 0)).toBe(0);
    // Only the expired: the logins of the tests above are still there.
    expect((await stack.rows()).filter((r) => r.user_id !== null).length).toBeGreaterThan(0);
    // A prune round (every second) holds its lock for a moment; one left held never goes.
    const held = () => heldAdvisoryLocks(stack.db, owners);
    expect(await untilReading(held, (n) => n === 0)).toBe(0);
  });
});
