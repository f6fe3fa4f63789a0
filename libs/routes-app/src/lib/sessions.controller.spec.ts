import { INestApplication, MiddlewareConsumer, Module, NestModule } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { AppServicesModule } from '@bodhi/app-service-builder';
import { ApiErrorFilter, AuthContextMiddleware } from '@bodhi/auth-middleware';
import {
  BodhiMetrics,
  DefaultSessionService,
  RevocationService,
  SESSION_COOKIE_NAME,
  sessionKey,
} from '@bodhi/services';
import type { SessionDbKind } from '@bodhi/services';
import {
  CLIENT_ID,
  CLIENT_SECRET,
  createTestSessionDb,
  DEMO_ADMIN,
  DEMO_USER,
  parseExposition,
  serverEnv,
  SESSION_BACKENDS,
  tempHome,
  TEST_AUTH_RATE_LIMIT,
  TestSessionDb,
  tokenRequest,
  type TempHome,
} from '@bodhi/testing';
import {
  createDevAuthServer,
  DevAuthServer,
  loginThroughForm,
} from '@bodhi/dev-auth-server/testing';
import request from 'supertest';
import { RoutesAppModule } from './routes-app.module.js';

const PUBLIC_URL = 'http://localhost:1136';
const FIREFOX = 'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0';
const IPHONE =
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1';

/** The server's chain in front of the routes (server-app wires the same): session, caller. */
@Module({})
class SessionAndCaller implements NestModule {
  constructor(private readonly sessions: DefaultSessionService) {}

  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(this.sessions.sessionMiddleware(), AuthContextMiddleware).forRoutes('*path');
  }
}

type Agent = ReturnType<typeof request.agent>;

interface LoggedIn {
  agent: Agent;
  userId: string;
  /** The handle of the agent's session (what the list calls its id). */
  handle: string;
}

/** The signed session id a response's Set-Cookie carries, as its handle. */
function handleOf(res: request.Response): string {
  const cookies = ([] as string[]).concat(res.headers['set-cookie'] ?? []);
  const cookie = cookies.find((c) => c.startsWith(`${SESSION_COOKIE_NAME}=`));
  if (!cookie) throw new Error('the response set no session cookie');
  const signed = decodeURIComponent(cookie.split(';')[0].slice(SESSION_COOKIE_NAME.length + 1));
  return sessionKey(signed.slice(2, signed.lastIndexOf('.')));
}

describe.each(SESSION_BACKENDS)('the session routes on %s', (kind: SessionDbKind) => {
  let db: TestSessionDb;
  let idp: DevAuthServer;
  let app: INestApplication;
  let home: TempHome;

  beforeAll(async () => {
    db = await createTestSessionDb(kind);
    home = tempHome('bodhi-session-routes-');
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
            db,
            provider: { issuer: idp.issuer, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET },
            // Every test logs in several times from one address.
            authRateLimit: TEST_AUTH_RATE_LIMIT,
            env: {
              BODHI_PUBLIC_HOST: 'localhost',
              BODHI_PUBLIC_PORT: '1136',
              BODHI_SESSION_CLIENT_ADDRESS: 'full',
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

  beforeEach(async () => {
    await db.query(`DELETE FROM ${db.qualifiedTable}`);
    app.get(BodhiMetrics).registry.resetMetrics();
  });

  /**
   * bodhi_revocations_total{reason, outcome} since the test began, as a scrape reads it, once
   * the provider revocations sent in the background have been answered.
   */
  const revocations = async (reason: string, outcome: string) => {
    await app.get(RevocationService).settled();
    return parseExposition((await app.get(BodhiMetrics).exposition()).body).sum(
      'bodhi_revocations_total',
      { reason, outcome },
    );
  };

  /** A browser's real login (the provider's form), from a browser with `userAgent`. */
  async function loggedIn(
    who: { username: string; password: string },
    userAgent = FIREFOX,
  ): Promise<LoggedIn> {
    const agent = request.agent(app.getHttpServer());
    const initiated = await agent
      .post('/bodhi/v1/auth/initiate')
      .set('user-agent', userAgent)
      .expect(201);
    const callback = await loginThroughForm({ authorizationUrl: initiated.body.location, ...who });
    const done = await agent
      .post('/bodhi/v1/auth/callback')
      .set('user-agent', userAgent)
      .send(Object.fromEntries(callback.searchParams))
      .expect(200);
    const user = await agent.get('/bodhi/v1/user').expect(200);
    return { agent, userId: user.body.user_id as string, handle: handleOf(done) };
  }

  /** What the stored session of a browser with `userAgent` holds, read past the server. */
  async function storedWith(userAgent: string) {
    const stored = await app.get(DefaultSessionService).getSessionStore().allSessions();
    const session = Object.values(stored).find((s) => s.device?.user_agent === userAgent);
    if (!session?.access_token || !session.refresh_token) throw new Error('no such login');
    return { accessToken: session.access_token, refreshToken: session.refresh_token };
  }

  it('lists the caller’s own sessions, newest first, with the device of each and this one marked', async () => {
    const laptop = await loggedIn(DEMO_USER, FIREFOX);
    const phone = await loggedIn(DEMO_USER, IPHONE);
    await loggedIn(DEMO_ADMIN);

    const res = await phone.agent.get('/bodhi/v1/user/sessions').expect(200);
    expect(res.body).toEqual([
      expect.objectContaining({
        id: phone.handle,
        current: true,
        browser: 'Mobile Safari 17',
        os: 'iOS 17.5',
        user_agent: IPHONE,
      }),
      expect.objectContaining({
        id: laptop.handle,
        current: false,
        browser: 'Firefox 133',
        os: 'Linux',
        user_agent: FIREFOX,
      }),
    ]);
    const [first] = res.body as Record<string, unknown>[];
    expect(Object.keys(first).sort()).toEqual(
      [
        'browser',
        'created_at',
        'current',
        'expires_at',
        'id',
        'ip',
        'last_seen_at',
        'max_expires_at',
        'os',
        'user_agent',
      ].sort(),
    );
    for (const field of ['created_at', 'last_seen_at', 'expires_at']) {
      expect(new Date(first[field] as string).toISOString()).toBe(first[field]);
    }
    // supertest's connection comes from the loopback address; kept whole (BODHI_SESSION_CLIENT_ADDRESS=full).
    expect(first.ip).toMatch(/^(127\.0\.0\.1|::1)$/);
  });

  it('DELETE /user/sessions/:id ends one of the caller’s sessions; that session is logged out', async () => {
    const laptop = await loggedIn(DEMO_USER);
    const phone = await loggedIn(DEMO_USER, IPHONE);

    await laptop.agent.delete(`/bodhi/v1/user/sessions/${phone.handle}`).expect(200, { ended: 1 });
    // The session here, its refresh token at the provider.
    expect(await revocations('session_ended', 'ended')).toBe(1);
    expect(await revocations('session_ended', 'revoked')).toBe(1);

    await phone.agent.get('/bodhi/v1/user').expect(200, { auth_status: 'logged_out' });
    await laptop.agent.get('/bodhi/v1/user').expect(200);
    const left = await laptop.agent.get('/bodhi/v1/user/sessions').expect(200);
    expect(left.body.map((s: { id: string }) => s.id)).toEqual([laptop.handle]);
  });

  it('another user’s handle is 404 and that session goes on', async () => {
    const user = await loggedIn(DEMO_USER);
    const admin = await loggedIn(DEMO_ADMIN);

    const res = await user.agent.delete(`/bodhi/v1/user/sessions/${admin.handle}`).expect(404);
    expect(res.body).toEqual({
      error: { message: expect.any(String), type: 'not_found_error', code: 'session_not_found' },
    });
    const still = await admin.agent.get('/bodhi/v1/user').expect(200);
    expect(still.body).toMatchObject({ auth_status: 'logged_in', user_id: admin.userId });
  });

  it.each([
    ['too short', 'abc'],
    ['not hex', 'z'.repeat(64)],
    ['upper case', 'A'.repeat(64)],
    ['one digit too many', 'a'.repeat(65)],
    ['SQL', encodeURIComponent("' OR 1=1 --")],
    ['a NUL', `${'a'.repeat(63)}%00`],
  ])('a malformed handle (%s) is 404, never a crash', async (_what, handle) => {
    const user = await loggedIn(DEMO_USER);
    const res = await user.agent.delete(`/bodhi/v1/user/sessions/${handle}`).expect(404);
    expect(res.body).toMatchObject({ error: { code: 'session_not_found' } });
    const admin = await loggedIn(DEMO_ADMIN);
    await admin.agent.delete(`/bodhi/v1/users/${user.userId}/sessions/${handle}`).expect(404);
    await user.agent.get('/bodhi/v1/user').expect(200);
  });

  it('ending the current session logs the caller out and clears the cookie', async () => {
    const user = await loggedIn(DEMO_USER);
    const res = await user.agent.delete(`/bodhi/v1/user/sessions/${user.handle}`).expect(200, {
      ended: 1,
    });
    const cookies = ([] as string[]).concat(res.headers['set-cookie'] ?? []);
    expect(cookies).toEqual([expect.stringMatching(new RegExp(`^${SESSION_COOKIE_NAME}=;`))]);
    expect(
      await db.query(`SELECT id FROM ${db.qualifiedTable} WHERE id = $1`, [user.handle]),
    ).toEqual([]);
  });

  it('DELETE /user/sessions needs current=false, then ends every session but the current one', async () => {
    const laptop = await loggedIn(DEMO_USER);
    const phone = await loggedIn(DEMO_USER, IPHONE);
    const tablet = await loggedIn(DEMO_USER, IPHONE);
    const admin = await loggedIn(DEMO_ADMIN);

    for (const query of ['', '?current=true', '?current=0', '?current=false&current=false']) {
      const res = await laptop.agent.delete(`/bodhi/v1/user/sessions${query}`).expect(400);
      expect(res.body).toMatchObject({ error: { code: 'current_false_required' } });
    }
    await phone.agent.get('/bodhi/v1/user').expect(200);

    await laptop.agent.delete('/bodhi/v1/user/sessions?current=false').expect(200, { ended: 2 });
    expect(await revocations('other_sessions_ended', 'ended')).toBe(2);
    expect(await revocations('other_sessions_ended', 'revoked')).toBe(2);
    for (const gone of [phone, tablet]) {
      await gone.agent.get('/bodhi/v1/user').expect(200, { auth_status: 'logged_out' });
    }
    await laptop.agent.get('/bodhi/v1/user').expect(200);
    await admin.agent.get('/bodhi/v1/user').expect(200);
    await laptop.agent.delete('/bodhi/v1/user/sessions?current=false').expect(200, { ended: 0 });
    expect(await revocations('other_sessions_ended', 'ended')).toBe(2);
  });

  it('an ended session’s refresh token is revoked at the provider', async () => {
    const laptop = await loggedIn(DEMO_USER);
    const phone = await loggedIn(DEMO_USER, IPHONE);
    const { refreshToken } = await storedWith(IPHONE);

    await laptop.agent.delete(`/bodhi/v1/user/sessions/${phone.handle}`).expect(200);
    // Sent in the background: the ending waited for no provider.
    await app.get(RevocationService).settled();

    const refresh = await tokenRequest(
      { issuer: idp.issuer, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET },
      { grant_type: 'refresh_token', refresh_token: refreshToken },
    );
    expect(refresh).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
  });

  it('the self routes are for logged-in sessions: anonymous 401, a bearer token 403', async () => {
    const anonymous = request(app.getHttpServer());
    const routes = [
      () => anonymous.get('/bodhi/v1/user/sessions'),
      () => anonymous.delete('/bodhi/v1/user/sessions?current=false'),
      () => anonymous.delete(`/bodhi/v1/user/sessions/${'a'.repeat(64)}`),
    ];
    for (const route of routes) {
      const res = await route().expect(401);
      expect(res.body).toMatchObject({ error: { code: 'not_authenticated' } });
    }
    // A bearer token of the user (the access token of their own login): no session to list from.
    await loggedIn(DEMO_USER, IPHONE);
    const bearer = { authorization: `Bearer ${(await storedWith(IPHONE)).accessToken}` };
    await request(app.getHttpServer()).get('/bodhi/v1/user').set(bearer).expect(200);
    for (const route of routes) {
      const res = await route().set(bearer).expect(403);
      expect(res.body).toMatchObject({ error: { code: 'session_required' } });
    }
  });

  it('admins list and end any user’s sessions; below resource_admin 403', async () => {
    const laptop = await loggedIn(DEMO_USER);
    const phone = await loggedIn(DEMO_USER, IPHONE);
    const admin = await loggedIn(DEMO_ADMIN);
    const base = `/bodhi/v1/users/${laptop.userId}/sessions`;

    for (const [method, path] of [
      ['get', base],
      ['delete', base],
      ['delete', `${base}/${phone.handle}`],
    ] as const) {
      const res = await laptop.agent[method](path).expect(403);
      expect(res.body).toMatchObject({ error: { code: 'insufficient_role' } });
      await request(app.getHttpServer())[method](path).expect(401);
    }

    const listed = await admin.agent.get(base).expect(200);
    expect(listed.body.map((s: { id: string; current: boolean }) => [s.id, s.current])).toEqual([
      [phone.handle, false],
      [laptop.handle, false],
    ]);
    await admin.agent.delete(`${base}/${admin.handle}`).expect(404);
    await admin.agent.delete(`${base}/${phone.handle}`).expect(200, { ended: 1 });
    expect(await revocations('admin_revoke', 'ended')).toBe(1);
    await phone.agent.get('/bodhi/v1/user').expect(200, { auth_status: 'logged_out' });
    await laptop.agent.get('/bodhi/v1/user').expect(200);

    await loggedIn(DEMO_USER, IPHONE);
    await admin.agent.delete(base).expect(200, { ended: 2 });
    expect(await revocations('admin_revoke', 'ended')).toBe(3);
    expect(await revocations('admin_revoke', 'revoked')).toBe(3);
    await laptop.agent.get('/bodhi/v1/user').expect(200, { auth_status: 'logged_out' });
    await admin.agent.get(base).expect(200, []);
    await admin.agent.get('/bodhi/v1/user').expect(200);
  });
});
