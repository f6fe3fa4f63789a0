import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import {
  AuthGrantRejectedError,
  AuthService,
  DefaultSessionService,
  IdentityProviderAdmin,
  InvalidAccessTokenError,
  resolveSessionOptions,
  RevocationService,
  SessionLock,
  SessionRevocations,
} from '@bodhi/services';
import type { AccessTokenClaims, VerifiedAccessToken } from '@bodhi/services';
import {
  createTestSessionDb,
  openTestStore,
  SESSION_BACKENDS,
  sessionFixture,
  testSessionOptions,
  TestSessionDb,
} from '@bodhi/testing';
import type { Request } from 'express';
import type { DataSource } from 'typeorm';
import { ApiError } from './api-error.js';
import { AuthContextMiddleware } from './auth-context.middleware.js';

/**
 * The identity provider's side is a stand-in here (the HTTP e2e uses the real one): tokens
 * are strings "<name>" and "expired:<name>", issued ten seconds ago with jti "jti-<name>";
 * refresh hands out "fresh-<n>". The session store, the session lock and the revocation
 * records are real, on both backends.
 */
class FakeAuth {
  refreshes = 0;
  failRefresh = false;

  async verifyAccessToken(token: string): Promise<VerifiedAccessToken> {
    if (token === 'garbage') throw new InvalidAccessTokenError('bad signature');
    const now = Math.floor(Date.now() / 1000);
    const claims: AccessTokenClaims = {
      sub: 'user-1',
      iat: now - 10,
      exp: now + 60,
      jti: `jti-${token}`,
      preferred_username: 'uma',
      given_name: 'Uma',
      family_name: 'User',
      resource_access: { 'bodhi-server': { roles: ['resource_user'] } },
    };
    return { claims, expired: token.startsWith('expired:') };
  }

  async refresh(refreshToken: string) {
    // A turn of the event loop, as a provider round trip would take: the other requests
    // of the session reach the lock meanwhile.
    await new Promise((resolve) => setImmediate(resolve));
    if (this.failRefresh || refreshToken === 'revoked')
      throw new AuthGrantRejectedError('invalid_grant');
    this.refreshes++;
    return { accessToken: `fresh-${this.refreshes}`, refreshToken: `refresh-${this.refreshes}` };
  }

  roleOf(): string {
    return 'resource_user';
  }
}

describe.each(SESSION_BACKENDS)('AuthContextMiddleware on %s', (kind) => {
  let db: TestSessionDb;
  let dataSource: DataSource;
  let sessions: DefaultSessionService;
  let revocations: SessionRevocations;
  let auth: FakeAuth;
  let middleware: AuthContextMiddleware;

  beforeAll(async () => {
    db = await createTestSessionDb(kind);
    const opened = await openTestStore(db);
    dataSource = opened.dataSource;
    revocations = opened.revocations;
    sessions = new DefaultSessionService(
      opened.store,
      resolveSessionOptions(testSessionOptions(db)),
      new SessionLock(dataSource, kind),
      revocations,
    );
    jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
  });
  afterAll(async () => {
    jest.restoreAllMocks();
    await dataSource?.destroy();
    await db?.drop();
  });
  beforeEach(() => {
    auth = new FakeAuth();
    const revocation = new RevocationService(
      auth as unknown as AuthService,
      {} as IdentityProviderAdmin,
      sessions,
      revocations,
    );
    middleware = new AuthContextMiddleware(auth as unknown as AuthService, sessions, revocation);
  });

  /** A request whose session is the stored one, saving back to the store like express-session. */
  async function requestFor(sid: string, headers: Record<string, string> = {}): Promise<Request> {
    const store = sessions.getSessionStore();
    const data = (await store.findSession(sid)) ?? {};
    // With what the store read beside the data (the user's not-before), as express-session's
    // createSession keeps it.
    const session = Object.defineProperties(Object.create(null), {
      ...Object.getOwnPropertyDescriptors(data),
    });
    Object.assign(session, {
      save(cb: (err?: unknown) => void) {
        const { save: _save, ...plain } = session;
        store.saveSession(sid, plain).then(() => cb(), cb);
      },
    });
    return { headers, session, sessionID: sid } as unknown as Request;
  }

  const run = async (req: Request) =>
    new Promise<unknown>(
      (resolve) => void middleware.use(req, {} as never, (err?: unknown) => resolve(err)),
    );

  it('an anonymous session is anonymous', async () => {
    await sessions.getSessionStore().saveSession('anon', sessionFixture(60_000));
    const req = await requestFor('anon');
    expect(await run(req)).toBeUndefined();
    expect(req.authContext).toEqual({ kind: 'anonymous' });
  });

  it('a valid session token yields the user', async () => {
    await sessions
      .getSessionStore()
      .saveSession(
        'valid',
        sessionFixture(60_000, { user_id: 'user-1', access_token: 'good', refresh_token: 'r' }),
      );
    const req = await requestFor('valid');
    expect(await run(req)).toBeUndefined();
    expect(req.authContext).toMatchObject({
      kind: 'session',
      userId: 'user-1',
      username: 'uma',
      role: 'resource_user',
    });
    expect(auth.refreshes).toBe(0);
  });

  it('20 concurrent requests with an expired token refresh exactly once and all get the user', async () => {
    await sessions.getSessionStore().saveSession(
      'race',
      sessionFixture(60_000, {
        user_id: 'user-1',
        access_token: 'expired:a',
        refresh_token: 'r0',
      }),
    );
    const requests = await Promise.all(Array.from({ length: 20 }, () => requestFor('race')));
    const errors = await Promise.all(requests.map(run));
    expect(errors.every((e) => e === undefined)).toBe(true);
    expect(auth.refreshes).toBe(1);
    for (const req of requests)
      expect(req.authContext).toMatchObject({ kind: 'session', userId: 'user-1' });
    expect(await sessions.getSessionStore().findSession('race')).toMatchObject({
      access_token: 'fresh-1',
      refresh_token: 'refresh-1',
    });
  });

  it('a failed refresh removes the auth keys and answers 401', async () => {
    await sessions.getSessionStore().saveSession(
      'revoked',
      sessionFixture(60_000, {
        user_id: 'user-1',
        access_token: 'expired:a',
        refresh_token: 'revoked',
        keep: 1,
      }),
    );
    const err = await run(await requestFor('revoked'));
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).getStatus()).toBe(401);
    expect((err as ApiError).getResponse()).toMatchObject({
      error: { code: 'token_refresh_failed' },
    });
    const left = await sessions.getSessionStore().findSession('revoked');
    expect(left).toMatchObject({ keep: 1 });
    expect(left).not.toHaveProperty('access_token');
    expect(left).not.toHaveProperty('refresh_token');
    expect(left).not.toHaveProperty('user_id');
  });

  it('a missing refresh token ends the login with 401', async () => {
    await sessions
      .getSessionStore()
      .saveSession(
        'no-refresh',
        sessionFixture(60_000, { user_id: 'user-1', access_token: 'expired:a' }),
      );
    const err = await run(await requestFor('no-refresh'));
    expect((err as ApiError).getStatus()).toBe(401);
    expect(await sessions.getSessionStore().findSession('no-refresh')).not.toHaveProperty(
      'access_token',
    );
  });

  it('a session token with a bad signature ends the login with 401', async () => {
    await sessions
      .getSessionStore()
      .saveSession(
        'forged',
        sessionFixture(60_000, { user_id: 'x', access_token: 'garbage', refresh_token: 'r' }),
      );
    const err = await run(await requestFor('forged'));
    expect((err as ApiError).getResponse()).toMatchObject({
      error: { code: 'invalid_session_token' },
    });
    expect(await sessions.getSessionStore().findSession('forged')).not.toHaveProperty(
      'access_token',
    );
  });

  it('a bearer token is an api_token context; a bad or expired one is 401', async () => {
    const req = await requestFor('none', { authorization: 'Bearer good' });
    expect(await run(req)).toBeUndefined();
    expect(req.authContext).toEqual({
      kind: 'api_token',
      subject: 'user-1',
      role: 'resource_user',
    });
    const bad = await run(await requestFor('none', { authorization: 'Bearer garbage' }));
    expect((bad as ApiError).getResponse()).toMatchObject({ error: { code: 'invalid_token' } });
    const expired = await run(await requestFor('none', { authorization: 'Bearer expired:x' }));
    expect((expired as ApiError).getResponse()).toMatchObject({ error: { code: 'token_expired' } });
  });

  it('a session whose login predates its user being revoked is ended with 401 token_revoked', async () => {
    const loginAt = Date.now() - 1000;
    await sessions.getSessionStore().saveSession(
      'demoted',
      sessionFixture(60_000, {
        user_id: 'user-1',
        access_token: 'good',
        refresh_token: 'r',
        login_at: loginAt,
        keep: 1,
      }),
    );
    await revocations.revokeUser('user-1', loginAt + 1);
    const err = await run(await requestFor('demoted'));
    expect((err as ApiError).getStatus()).toBe(401);
    expect((err as ApiError).getResponse()).toMatchObject({ error: { code: 'token_revoked' } });
    const left = await sessions.getSessionStore().findSession('demoted');
    expect(left).toMatchObject({ keep: 1 });
    expect(left).not.toHaveProperty('access_token');
    expect(left).not.toHaveProperty('login_at');
  });

  it('a login that began after its user was revoked is let through, to the millisecond', async () => {
    // Half-way through the second the stand-in provider's tokens were issued in (ten
    // seconds ago): by iat alone the token counts as earlier, by the login's start it is
    // later. (A revocation a whole second after its iat would refuse it whatever the login
    // time.) A user of its own: not-before instants only move forward.
    const revokedAt = (Math.floor(Date.now() / 1000) - 10) * 1000 + 500;
    await revocations.revokeUser('relogin-user', revokedAt);
    await sessions.getSessionStore().saveSession(
      'relogin',
      sessionFixture(60_000, {
        user_id: 'relogin-user',
        access_token: 'good',
        refresh_token: 'r',
        login_at: revokedAt + 1,
      }),
    );
    const req = await requestFor('relogin');
    expect(await run(req)).toBeUndefined();
    expect(req.authContext).toMatchObject({ kind: 'session', userId: 'user-1' });
  });

  it('a bearer token of a revoked user, or itself revoked, is 401 token_revoked', async () => {
    await revocations.revokeUser('user-1');
    const demoted = await run(await requestFor('none', { authorization: 'Bearer good' }));
    expect((demoted as ApiError).getResponse()).toMatchObject({
      error: { code: 'token_revoked' },
    });
    await db.query(`DELETE FROM ${db.besideTable('user_revocations')}`);
    expect(await run(await requestFor('none', { authorization: 'Bearer good' }))).toBeUndefined();
    await revocations.revokeToken('jti-good', Date.now() + 60_000);
    const loggedOut = await run(await requestFor('none', { authorization: 'Bearer good' }));
    expect((loggedOut as ApiError).getResponse()).toMatchObject({
      error: { code: 'token_revoked' },
    });
  });
});
