import { jest } from '@jest/globals';
import { INestApplication, MiddlewareConsumer, Module, NestModule } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { AppServicesModule } from '@bodhi/app-service-builder';
import { ApiErrorFilter, AuthContextMiddleware } from '@bodhi/auth-middleware';
import {
  AuthService,
  BodhiMetrics,
  DefaultSessionService,
  RevocationService,
  SESSION_COOKIE_NAME,
} from '@bodhi/services';
import type { SessionDbKind } from '@bodhi/services';
import {
  CLIENT_ID,
  CLIENT_SECRET,
  createTestSessionDb,
  DEMO_ADMIN,
  DEMO_USER,
  deferred,
  parseExposition,
  serverEnv,
  SESSION_BACKENDS,
  tempHome,
  untilNextSecond,
  TEST_PG_URL,
  TestSessionDb,
  type TempHome,
} from '@bodhi/testing';
import {
  createDevAuthServer,
  DevAuthServer,
  loginThroughForm,
} from '@bodhi/dev-auth-server/testing';
import Database from 'better-sqlite3';
import pg from 'pg';
import request from 'supertest';
import { RoutesAppModule } from './routes-app.module.js';

const PUBLIC_URL = 'http://localhost:1135';

/** The server's chain in front of the routes (server-app wires the same): session, caller. */
@Module({})
class SessionAndCaller implements NestModule {
  constructor(private readonly sessions: DefaultSessionService) {}

  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(this.sessions.sessionMiddleware(), AuthContextMiddleware).forRoutes('*path');
  }
}

/**
 * Another connection takes the session table's write lock and keeps it, as another process
 * would: on SQLite a `BEGIN IMMEDIATE` on the same file (the store's writes retry, then fail
 * with "database is locked" once BODHI_SESSION_DB_BUSY_TIMEOUT_MS has passed), on PostgreSQL
 * a SHARE lock on the table (reads go on, writes wait; the store's connections give up after
 * lock_timeout, see below).
 */
async function holdWriteLock(db: TestSessionDb): Promise<() => Promise<void>> {
  if (db.kind === 'sqlite') {
    const holder = new Database(db.url.slice('sqlite:'.length));
    holder.exec('BEGIN IMMEDIATE');
    return async () => {
      holder.exec('ROLLBACK');
      holder.close();
    };
  }
  const holder = new pg.Client({ connectionString: TEST_PG_URL });
  await holder.connect();
  await holder.query('BEGIN');
  await holder.query(`LOCK TABLE ${db.qualifiedTable} IN SHARE MODE`);
  return async () => {
    await holder.query('ROLLBACK');
    await holder.end();
  };
}

/** The session cookie a response set, as a Cookie header sends it. */
function sessionCookie(res: request.Response): string {
  const cookies = ([] as string[]).concat(res.headers['set-cookie'] ?? []);
  const cookie = cookies.find((c) => c.startsWith(`${SESSION_COOKIE_NAME}=`));
  if (!cookie) throw new Error('the response set no session cookie');
  return cookie.split(';')[0];
}

const STORE_UNAVAILABLE = {
  error: {
    message: expect.any(String),
    type: 'service_unavailable',
    code: 'session_store_unavailable',
  },
};

describe.each(SESSION_BACKENDS)('routes writing the session on %s', (kind: SessionDbKind) => {
  let db: TestSessionDb;
  let idp: DevAuthServer;
  let app: INestApplication;
  let home: TempHome;

  beforeAll(async () => {
    db = await createTestSessionDb(kind);
    home = tempHome('bodhi-session-writes-');
    idp = await createDevAuthServer({
      port: 0,
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      redirectUris: [`${PUBLIC_URL}/ui/auth/callback`],
    });
    const moduleRef = await Test.createTestingModule({
      imports: [
        AppServicesModule.forRoot({
          env: serverEnv({
            home: home.dir,
            db: {
              // A store connection waits this long for a lock held elsewhere, then fails: the
              // PostgreSQL counterpart of the SQLite budget below.
              url:
                kind === 'postgres'
                  ? `${db.url}?options=${encodeURIComponent('-c lock_timeout=200')}`
                  : db.url,
              table: db.table,
              schema: db.schema,
            },
            provider: { issuer: idp.issuer, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET },
            env: {
              BODHI_PUBLIC_HOST: 'localhost',
              BODHI_PUBLIC_PORT: '1135',
              // A SQLite write retries this long for a lock held elsewhere, then fails.
              BODHI_SESSION_DB_BUSY_TIMEOUT_MS: '200',
            },
          }),
        }),
        SessionAndCaller,
        RoutesAppModule,
      ],
    }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    app.useGlobalFilters(new ApiErrorFilter());
    await app.init();
  });
  afterAll(async () => {
    await app?.close();
    await idp?.close();
    await db?.drop();
    home?.remove();
  });

  const rows = () =>
    db.query<{ id: string; user_id: string | null }>(
      `SELECT id, user_id FROM ${db.qualifiedTable} ORDER BY id`,
    );

  /**
   * A browser's login through the API and the provider's form, up to the callback: the agent
   * (which keeps the cookie) and what the provider redirected with.
   */
  async function answeredLogin(who: { username: string; password: string }) {
    const agent = request.agent(app.getHttpServer());
    const initiated = await agent.post('/bodhi/v1/auth/initiate').expect(201);
    const callback = await loginThroughForm({ authorizationUrl: initiated.body.location, ...who });
    return { agent, params: Object.fromEntries(callback.searchParams) };
  }

  /** A browser's completed login; the agent keeps the cookie. */
  async function loggedIn(who: { username: string; password: string }) {
    const { agent, params } = await answeredLogin(who);
    await agent.post('/bodhi/v1/auth/callback').send(params).expect(200);
    const user = await agent.get('/bodhi/v1/user').expect(200);
    return { agent, userId: user.body.user_id as string };
  }

  /** Runs `call` while another connection holds the write lock, then lets go. */
  async function whileLocked<T>(call: () => Promise<T>): Promise<T> {
    const release = await holdWriteLock(db);
    try {
      return await call();
    } finally {
      await release();
    }
  }

  beforeEach(async () => {
    await db.query(`DELETE FROM ${db.qualifiedTable}`);
    app.get(BodhiMetrics).registry.resetMetrics();
  });

  /** A sample's value since the test began, as a scrape reads it (labels: a subset match). */
  const counted = async (name: string, labels?: Record<string, string>) =>
    parseExposition((await app.get(BodhiMetrics).exposition()).body).sum(name, labels);
  const loginFailures = (reason?: string) =>
    counted('bodhi_logins_total', { outcome: 'failure', ...(reason && { reason }) });
  const loginSuccesses = () => counted('bodhi_logins_total', { outcome: 'success', reason: 'ok' });

  it('POST /auth/initiate answers 503 when the login state cannot be stored, and stores nothing', async () => {
    const res = await whileLocked(() =>
      request(app.getHttpServer()).post('/bodhi/v1/auth/initiate'),
    );
    expect({ status: res.status, body: res.body }).toEqual({
      status: 503,
      body: STORE_UNAVAILABLE,
    });
    // No cookie for a session that was never stored.
    expect(res.headers['set-cookie']).toBeUndefined();
    expect(await rows()).toEqual([]);
    expect(await loginFailures('store_unavailable')).toBe(1);

    // Once the store takes writes again, the same request stores the login state.
    await request(app.getHttpServer()).post('/bodhi/v1/auth/initiate').expect(201);
    expect(await rows()).toHaveLength(1);
  });

  it('POST /auth/callback answers 503 when the login cannot be stored, and logs nobody in', async () => {
    const agent = request.agent(app.getHttpServer());
    const initiated = await agent.post('/bodhi/v1/auth/initiate').expect(201);
    const callback = await loginThroughForm({
      authorizationUrl: initiated.body.location,
      ...DEMO_USER,
    });
    const res = await whileLocked(() =>
      agent.post('/bodhi/v1/auth/callback').send(Object.fromEntries(callback.searchParams)),
    );
    expect({ status: res.status, body: res.body }).toEqual({
      status: 503,
      body: STORE_UNAVAILABLE,
    });
    expect(res.headers['set-cookie']).toBeUndefined();
    expect((await rows()).filter((row) => row.user_id !== null)).toEqual([]);
    await agent.get('/bodhi/v1/user').expect(200, { auth_status: 'logged_out' });
    expect(await loginFailures('store_unavailable')).toBe(1);
    expect(await loginFailures()).toBe(1);
    expect(await loginSuccesses()).toBe(0);
  });

  it('POST /logout answers 503 when the session cannot be removed, and keeps the login', async () => {
    const { agent, userId } = await loggedIn(DEMO_USER);
    const res = await whileLocked(() => agent.post('/bodhi/v1/logout'));
    expect({ status: res.status, body: res.body }).toEqual({
      status: 503,
      body: STORE_UNAVAILABLE,
    });
    expect(res.headers['set-cookie']).toBeUndefined();
    // Beside it, the user-less session its login began in (it answers late callbacks).
    const logins = async () => (await rows()).filter((row) => row.user_id !== null);
    expect((await logins()).map((row) => row.user_id)).toEqual([userId]);
    // Nothing ended, nothing revoked.
    expect(await counted('bodhi_revocations_total')).toBe(0);

    await agent.post('/bodhi/v1/logout').expect(200);
    expect(await logins()).toEqual([]);
    // One session ended here, its refresh token revoked at the provider (in the background).
    await app.get(RevocationService).settled();
    expect(await counted('bodhi_revocations_total', { reason: 'logout', outcome: 'ended' })).toBe(
      1,
    );
    expect(await counted('bodhi_revocations_total', { reason: 'logout', outcome: 'revoked' })).toBe(
      1,
    );
    expect(await counted('bodhi_revocations_total')).toBe(2);

    // A logged-out browser's logout revokes nothing.
    await agent.post('/bodhi/v1/logout').expect(200);
    expect(await counted('bodhi_revocations_total')).toBe(2);
  });

  it("PUT /users/:id/role answers 503 when the user's sessions cannot be cleared", async () => {
    const user = await loggedIn(DEMO_USER);
    const { agent: admin } = await loggedIn(DEMO_ADMIN);
    const res = await whileLocked(() =>
      admin.put(`/bodhi/v1/users/${user.userId}/role`).send({ role: 'resource_power_user' }),
    );
    expect({ status: res.status, body: res.body }).toEqual({
      status: 503,
      body: STORE_UNAVAILABLE,
    });
    expect((await rows()).filter((row) => row.user_id === user.userId)).toHaveLength(1);
    expect(await counted('bodhi_revocations_total', { reason: 'role_change' })).toBe(0);
  });

  it('of three callbacks racing with one code, one logs in; two answer 409 and never reach the provider', async () => {
    const { agent, params } = await answeredLogin(DEMO_USER);
    const sessions = app.get(DefaultSessionService);
    const exchange = jest.spyOn(app.get(AuthService), 'exchangeCode');
    // The interleaving that burned logins: all three loaded the session, login state and
    // all, before any takes it out of the store.
    const allLoaded = deferred();
    let loaded = 0;
    const take = sessions.updateStoredSession.bind(sessions);
    const held = jest.spyOn(sessions, 'updateStoredSession').mockImplementation((async (
      sid: string,
      change: Parameters<typeof take>[1],
    ) => {
      if (++loaded === 3) allLoaded.resolve();
      await allLoaded.promise;
      return take(sid, change);
    }) as typeof take);
    try {
      const answers = await Promise.all(
        [1, 2, 3].map(() => agent.post('/bodhi/v1/auth/callback').send(params)),
      );
      expect(answers.map((a) => a.status).sort()).toEqual([200, 409, 409]);
      for (const refused of answers.filter((a) => a.status === 409)) {
        expect(refused.body.error).toMatchObject({
          type: 'conflict_error',
          code: 'login_already_completed',
        });
        expect(refused.headers['set-cookie']).toBeUndefined();
      }
      expect(exchange).toHaveBeenCalledTimes(1);
    } finally {
      held.mockRestore();
      exchange.mockRestore();
    }
    expect(await loginSuccesses()).toBe(1);
    expect(await loginFailures('login_replayed')).toBe(2);
    expect(await loginFailures()).toBe(2);
    expect((await rows()).filter((row) => row.user_id !== null)).toHaveLength(1);
    await agent.get('/bodhi/v1/user').expect(200);
    expect((await agent.get('/bodhi/v1/user')).body).toMatchObject({ auth_status: 'logged_in' });
  });

  it('a login begun on a logged-in session (a bearer call with its cookie) leaves the old id logged out', async () => {
    // An earlier test's role change revoked the demo user; bearers are judged by iat, in
    // whole seconds, so one issued in that same second would be refused as revoked.
    await untilNextSecond();
    const { agent, params } = await answeredLogin(DEMO_USER);
    const first = await agent.post('/bodhi/v1/auth/callback').send(params).expect(200);
    const oldCookie = sessionCookie(first);
    const stored = Object.values(
      await app.get(DefaultSessionService).getSessionStore().allSessions(),
    );
    // This login's session: the latest one (earlier tests' sessions may linger, their
    // tokens revoked by a logout or a role change).
    const token = stored
      .filter((session) => session.user_id)
      .sort((a, b) => (b.login_at ?? 0) - (a.login_at ?? 0))[0]?.access_token;
    // The bearer makes the caller an API token, not the session: initiate stores its login
    // in the logged-in session the cookie names.
    const initiated = await agent
      .post('/bodhi/v1/auth/initiate')
      .set('Authorization', `Bearer ${token}`)
      .expect(201);
    const redirect = await loginThroughForm({
      authorizationUrl: initiated.body.location,
      ...DEMO_USER,
    });
    await agent
      .post('/bodhi/v1/auth/callback')
      .send(Object.fromEntries(redirect.searchParams))
      .expect(200);

    const old = await request(app.getHttpServer()).get('/bodhi/v1/user').set('Cookie', oldCookie);
    expect(old.body).toEqual({ auth_status: 'logged_out' });
    // One login left, the new one's; the old id's row holds the mark and nothing else.
    expect((await rows()).filter((row) => row.user_id !== null)).toHaveLength(1);
    const marks = Object.values(
      await app.get(DefaultSessionService).getSessionStore().allSessions(),
    )
      .filter((session) => !session.user_id)
      .map((session) => Object.keys(session).sort());
    expect(marks).toEqual([
      ['cookie', 'login_taken'],
      ['cookie', 'login_taken'],
    ]);
  });

  it('initiate takes the session lock for a session from the store only, not a new one', async () => {
    const lock = jest.spyOn(app.get(DefaultSessionService), 'withSessionLock');
    try {
      const agent = request.agent(app.getHttpServer());
      await agent.post('/bodhi/v1/auth/initiate').expect(201);
      expect(lock).not.toHaveBeenCalled();
      // Now with the cookie of the session the first one stored.
      await agent.post('/bodhi/v1/auth/initiate').expect(201);
      expect(lock).toHaveBeenCalledTimes(1);
    } finally {
      lock.mockRestore();
    }
  });

  it('a logout or a callback whose cookie names no stored session takes no lock and writes nothing', async () => {
    const sessions = app.get(DefaultSessionService);
    const store = sessions.getSessionStore();
    const spies = [
      jest.spyOn(sessions, 'withSessionLock'),
      jest.spyOn(store, 'saveSession'),
      jest.spyOn(store, 'destroySession'),
      jest.spyOn(store, 'touchSession'),
    ];
    try {
      const unknown = `${SESSION_COOKIE_NAME}=s%3Anever-stored.bad-signature`;
      for (const cookie of [undefined, unknown]) {
        const logout = request(app.getHttpServer()).post('/bodhi/v1/logout');
        const callback = request(app.getHttpServer())
          .post('/bodhi/v1/auth/callback')
          .send({ code: 'c', state: 's' });
        if (cookie) {
          logout.set('Cookie', cookie);
          callback.set('Cookie', cookie);
        }
        await logout.expect(200);
        expect((await callback.expect(400)).body.error.code).toBe('no_login_in_progress');
      }
      for (const spy of spies) expect(spy).not.toHaveBeenCalled();
      expect(await rows()).toEqual([]);
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
  });

  it('a login writes each of its two sessions once: the old one its mark, the new one the login', async () => {
    const { agent, params } = await answeredLogin(DEMO_USER);
    const store = app.get(DefaultSessionService).getSessionStore();
    const writes = jest.spyOn(store, 'saveSession');
    const touches = jest.spyOn(store, 'touchSession');
    try {
      await agent.post('/bodhi/v1/auth/callback').send(params).expect(200);
      expect(writes.mock.calls.map(([, session]) => Boolean(session.user_id))).toEqual([
        false,
        true,
      ]);
      expect(await loginSuccesses()).toBe(1);
      expect(await loginFailures()).toBe(0);
      expect(touches).not.toHaveBeenCalled();
    } finally {
      writes.mockRestore();
      touches.mockRestore();
    }
    await agent.get('/bodhi/v1/user').expect(200);
    expect((await agent.get('/bodhi/v1/user')).body).toMatchObject({ auth_status: 'logged_in' });
  });

  it("a callback with another login's state (or a forged one) leaves the login in progress", async () => {
    const { agent, params } = await answeredLogin(DEMO_USER);
    const callback = (body: object) => agent.post('/bodhi/v1/auth/callback').send(body);
    for (const forged of [
      { ...params, state: 'forged' },
      { code: params.code },
      { error: 'access_denied', state: 'forged' },
    ]) {
      const res = await callback(forged);
      expect({ status: res.status, code: res.body.error?.code }).toEqual({
        status: 400,
        code: 'state_mismatch',
      });
    }
    expect(await loginFailures('state_mismatch')).toBe(3);
    await callback(params).expect(200);
    expect(await loginSuccesses()).toBe(1);
    expect(await loginFailures()).toBe(3);
  });

  it('a callback on a session with no login in progress counts as no_login_in_progress', async () => {
    const res = await request(app.getHttpServer())
      .post('/bodhi/v1/auth/callback')
      .send({ code: 'c', state: 's' })
      .expect(400);
    expect(res.body.error.code).toBe('no_login_in_progress');
    expect(await loginFailures('no_login_in_progress')).toBe(1);
    expect(await loginFailures()).toBe(1);
  });

  it('a callback with the state but neither a code nor an error counts as missing_code', async () => {
    const { agent, params } = await answeredLogin(DEMO_USER);
    const res = await agent
      .post('/bodhi/v1/auth/callback')
      .send({ state: params.state })
      .expect(400);
    expect(res.body.error.code).toBe('missing_code');
    expect(await loginFailures('missing_code')).toBe(1);
    expect(await loginFailures()).toBe(1);
  });

  it('a code the provider does not take counts as grant_rejected', async () => {
    const { agent, params } = await answeredLogin(DEMO_USER);
    const res = await agent
      .post('/bodhi/v1/auth/callback')
      .send({ ...params, code: 'not-a-code-it-issued' })
      .expect(401);
    expect(res.body.error.code).toBe('login_failed');
    expect(await loginFailures('grant_rejected')).toBe(1);
    expect(await loginFailures()).toBe(1);
  });

  it.each([
    ['access_denied', 'The login was cancelled or refused at the identity provider.'],
    [
      'temporarily_unavailable',
      'The identity provider is temporarily unavailable; try again shortly.',
    ],
    ['made_up_code', 'The identity provider refused the login.'],
  ])(
    'a provider error %s answers our message, never its description, and ends the login',
    async (error, message) => {
      const agent = request.agent(app.getHttpServer());
      const initiated = await agent.post('/bodhi/v1/auth/initiate').expect(201);
      const state = new URL(initiated.body.location).searchParams.get('state');
      const description = 'Your account is locked: call +1 555 0100 now';
      const res = await agent
        .post('/bodhi/v1/auth/callback')
        .send({ error, error_description: description, state })
        .expect(401);
      expect(res.body).toEqual({
        error: {
          type: 'authentication_error',
          code: 'oauth_error',
          provider_error: error,
          message,
        },
      });
      const again = await agent.post('/bodhi/v1/auth/callback').send({ error, state }).expect(409);
      expect(again.body.error.code).toBe('login_already_completed');
      // Counted by our fixed reasons, never by the provider's code or description.
      expect(await loginFailures('provider_error')).toBe(1);
      expect(await loginFailures('login_replayed')).toBe(1);
      expect(await loginFailures()).toBe(2);
    },
  );

  it('a provider error code that is not a plain token is not repeated', async () => {
    const agent = request.agent(app.getHttpServer());
    const initiated = await agent.post('/bodhi/v1/auth/initiate').expect(201);
    const state = new URL(initiated.body.location).searchParams.get('state');
    const res = await agent
      .post('/bodhi/v1/auth/callback')
      .send({ error: 'access_denied: call +1 555 0100', state })
      .expect(401);
    expect(res.body).toEqual({
      error: {
        type: 'authentication_error',
        code: 'oauth_error',
        message: 'The identity provider refused the login.',
      },
    });
    expect(await loginFailures('provider_error')).toBe(1);
  });
});
