import { INestApplication, MiddlewareConsumer, Module, NestModule } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { AppServicesModule } from '@bodhi/app-service-builder';
import { ApiErrorFilter, AuthContextMiddleware } from '@bodhi/auth-middleware';
import { DefaultSessionService } from '@bodhi/services';
import type { SessionDbKind } from '@bodhi/services';
import {
  CLIENT_ID,
  CLIENT_SECRET,
  createTestSessionDb,
  DEMO_ADMIN,
  DEMO_USER,
  serverEnv,
  SESSION_BACKENDS,
  tempHome,
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
 * would: on SQLite a `BEGIN IMMEDIATE` on the same file (the store's writes fail with
 * "database is locked" once its busy timeout passes), on PostgreSQL a SHARE lock on the table
 * (reads go on, writes wait; the store's connections give up after lock_timeout, see below).
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
              // PostgreSQL counterpart of SQLite's busy timeout.
              url:
                kind === 'postgres'
                  ? `${db.url}?options=${encodeURIComponent('-c lock_timeout=200')}`
                  : db.url,
              table: db.table,
              schema: db.schema,
            },
            provider: { issuer: idp.issuer, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET },
            env: { BODHI_PUBLIC_HOST: 'localhost', BODHI_PUBLIC_PORT: '1135' },
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

  /** A browser's login through the API and the provider's form; the agent keeps the cookie. */
  async function loggedIn(who: { username: string; password: string }) {
    const agent = request.agent(app.getHttpServer());
    const initiated = await agent.post('/bodhi/v1/auth/initiate').expect(201);
    const callback = await loginThroughForm({ authorizationUrl: initiated.body.location, ...who });
    await agent
      .post('/bodhi/v1/auth/callback')
      .send(Object.fromEntries(callback.searchParams))
      .expect(200);
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
  });

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
  });

  it('POST /logout answers 503 when the session cannot be removed, and keeps the login', async () => {
    const { agent, userId } = await loggedIn(DEMO_USER);
    const res = await whileLocked(() => agent.post('/bodhi/v1/logout'));
    expect({ status: res.status, body: res.body }).toEqual({
      status: 503,
      body: STORE_UNAVAILABLE,
    });
    expect(res.headers['set-cookie']).toBeUndefined();
    expect((await rows()).map((row) => row.user_id)).toEqual([userId]);

    await agent.post('/bodhi/v1/logout').expect(200);
    expect(await rows()).toEqual([]);
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
  });
});
