import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import {
  AuthGrantRejectedError,
  AuthProviderUnavailableError,
  AuthService,
  BodhiMetrics,
  DefaultSessionService,
  IdentityProviderAdmin,
  InvalidAccessTokenError,
  RevocationService,
  SessionLockTimeoutError,
  sessionKey,
  SessionRevocations,
} from '@bodhi/services';
import type { AccessTokenClaims, VerifiedAccessToken } from '@bodhi/services';
import { resolveSessionOptions, SessionLock, sessionLockKey } from '@bodhi/services/testing';
import {
  createTestSessionDb,
  openTestStore,
  deferred,
  parseExposition,
  SESSION_BACKENDS,
  sessionFixture,
  testSessionOptions,
  TEST_PG_URL,
  TestSessionDb,
  timed,
  tracked,
  until,
} from '@bodhi/testing';
import type { Request } from 'express';
import type { SessionData } from 'express-session';
import pg from 'pg';
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
  down = false;
  /** While set, a refresh waits for it before answering: the provider stalls. */
  stalled?: Promise<void>;
  /** Resolves at each refresh call, once it has reached the provider. */
  atProvider = deferred();
  /** How a refreshed token ("fresh-<n>") verifies: the key set cannot be had, or it is refused. */
  freshTokens: 'valid' | 'unverifiable' | 'refused' = 'valid';
  /** BODHI_AUTH_TIMEOUT_MS: what a request waits on the provider (long here, unless a test stalls it). */
  requestWaitMs = 30_000;

  timeoutMs(): number {
    return this.requestWaitMs;
  }

  refreshTimeoutMs(): number {
    return 60_000;
  }

  async verifyAccessToken(token: string): Promise<VerifiedAccessToken> {
    if (token === 'garbage') throw new InvalidAccessTokenError('bad signature');
    if (token.startsWith('fresh-') && this.freshTokens === 'unverifiable')
      throw new AuthProviderUnavailableError('key set fetch failed');
    if (token.startsWith('fresh-') && this.freshTokens === 'refused')
      throw new InvalidAccessTokenError(
        'access token rejected: ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
      );
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
    this.atProvider.resolve();
    // A turn of the event loop, as a provider round trip would take: the other requests
    // of the session reach the lock meanwhile.
    await new Promise((resolve) => setImmediate(resolve));
    await this.stalled;
    if (this.down) throw new AuthProviderUnavailableError('identity provider unreachable');
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
  let metrics: BodhiMetrics;
  let middleware: AuthContextMiddleware;

  beforeAll(async () => {
    db = await createTestSessionDb(kind);
    const opened = await openTestStore(db);
    dataSource = opened.dataSource;
    revocations = opened.revocations;
    sessions = new DefaultSessionService(
      opened.store,
      resolveSessionOptions(testSessionOptions(db)),
      new SessionLock({ dataSource, kind }),
      revocations,
    );
    jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
  });
  afterAll(async () => {
    jest.restoreAllMocks();
    await dataSource?.destroy();
    await db?.drop();
  });
  /** The middleware over `over` (the suite's session service unless given), counting afresh. */
  function middlewareOver(over: DefaultSessionService = sessions): AuthContextMiddleware {
    metrics = new BodhiMetrics();
    const revocation = new RevocationService(
      auth as unknown as AuthService,
      {} as IdentityProviderAdmin,
      over,
      revocations,
      metrics,
    );
    return new AuthContextMiddleware(auth as unknown as AuthService, over, revocation, metrics);
  }

  beforeEach(() => {
    auth = new FakeAuth();
    middleware = middlewareOver();
  });

  /** A sample of this test's metrics, as a scrape reads it (a histogram's `_count` too). */
  const counted = async (name: string, labels?: Record<string, string>) =>
    parseExposition((await metrics.exposition()).body).sum(name, labels);
  const refreshesCounted = (outcome: string) => counted('bodhi_token_refreshes_total', { outcome });
  const lockWaits = () => counted('bodhi_token_refresh_lock_wait_seconds_count');

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
      // As express-session saves a session it loaded: an update, which never re-creates a
      // row deleted meanwhile (a logout).
      save(cb: (err?: unknown) => void) {
        const { save: _save, ...plain } = session;
        store.updateSession(sid, plain).then(() => cb(), cb);
      },
    });
    return { headers, session, sessionID: sid } as unknown as Request;
  }

  const run = async (req: Request, by = middleware) =>
    new Promise<unknown>(
      (resolve) => void by.use(req, {} as never, (err?: unknown) => resolve(err)),
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
    // A token that has not expired takes no lock and counts no refresh.
    expect(await counted('bodhi_token_refreshes_total')).toBe(0);
    expect(await lockWaits()).toBe(0);
  });

  it('an expired session token is refreshed: counted as refreshed, its wait for the lock observed', async () => {
    await sessions.getSessionStore().saveSession(
      'expired-once',
      sessionFixture(60_000, {
        user_id: 'user-1',
        access_token: 'expired:a',
        refresh_token: 'r0',
      }),
    );
    expect(await run(await requestFor('expired-once'))).toBeUndefined();
    expect(auth.refreshes).toBe(1);
    expect(await refreshesCounted('refreshed')).toBe(1);
    expect(await counted('bodhi_token_refreshes_total')).toBe(1);
    expect(await lockWaits()).toBe(1);
  });

  it('a refresh the provider cannot answer is a 503 counted as unavailable, and keeps the login', async () => {
    await sessions.getSessionStore().saveSession(
      'provider-down',
      sessionFixture(60_000, {
        user_id: 'user-1',
        access_token: 'expired:a',
        refresh_token: 'r0',
      }),
    );
    auth.down = true;
    const err = await run(await requestFor('provider-down'));
    expect((err as ApiError).getStatus()).toBe(503);
    expect(await refreshesCounted('unavailable')).toBe(1);
    expect(await counted('bodhi_token_refreshes_total')).toBe(1);
    const kept = await sessions.getSessionStore().findSession('provider-down');
    expect(kept).toMatchObject({ access_token: 'expired:a', refresh_token: 'r0' });
    // Its lease is gone with it: the next request refreshes at once.
    expect(kept).not.toHaveProperty('refresh_lease');
    auth.down = false;
    expect(await run(await requestFor('provider-down'))).toBeUndefined();
    expect(auth.refreshes).toBe(1);
  });

  if (kind === 'postgres') {
    it("a refresh that cannot get the session's lock from another instance is counted as lock_timeout", async () => {
      const sid = 'lock-held';
      await sessions.getSessionStore().saveSession(
        sid,
        sessionFixture(60_000, {
          user_id: 'user-1',
          access_token: 'expired:a',
          refresh_token: 'r0',
        }),
      );
      // Another instance holds the session's lock (in its open transaction) throughout.
      const holder = new pg.Client({ connectionString: TEST_PG_URL });
      await holder.connect();
      try {
        await holder.query('BEGIN');
        const [namespace, name] = sessionLockKey(sessionKey(sid)) as [number, string];
        await holder.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [namespace, name]);
        const shortWait = new DefaultSessionService(
          sessions.getSessionStore(),
          resolveSessionOptions(testSessionOptions(db)),
          new SessionLock({ dataSource, kind, timeoutMs: 100 }),
          revocations,
        );
        // Passed on as is: the error filter answers it with 503 session_store_unavailable.
        const err = await run(await requestFor(sid), middlewareOver(shortWait));
        expect(err).toBeInstanceOf(SessionLockTimeoutError);
      } finally {
        await holder.query('ROLLBACK');
        await holder.end();
      }
      expect(await refreshesCounted('lock_timeout')).toBe(1);
      expect(await counted('bodhi_token_refreshes_total')).toBe(1);
      // The lock was never had, and that wait (the worst kind) is observed all the same.
      expect(await lockWaits()).toBe(1);
      // It lasted the lock's 100 ms budget.
      expect(await counted('bodhi_token_refresh_lock_wait_seconds_sum')).toBeGreaterThanOrEqual(
        0.09,
      );
      expect(auth.refreshes).toBe(0);
    });
  }

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
    const errors = await Promise.all(requests.map((req) => run(req)));
    expect(errors.every((e) => e === undefined)).toBe(true);
    expect(auth.refreshes).toBe(1);
    // One called the provider; the others waited for its refresh, taking no lock.
    expect(await refreshesCounted('refreshed')).toBe(1);
    expect(await refreshesCounted('reused')).toBe(19);
    expect(await lockWaits()).toBe(1);
    for (const req of requests)
      expect(req.authContext).toMatchObject({ kind: 'session', userId: 'user-1' });
    expect(await sessions.getSessionStore().findSession('race')).toMatchObject({
      access_token: 'fresh-1',
      refresh_token: 'refresh-1',
    });
  });

  /** Stores session `sid` logged in with an expired access token: its next request refreshes. */
  const expiredLogin = (sid: string, extra: Record<string, unknown> = {}) =>
    sessions.getSessionStore().saveSession(
      sid,
      sessionFixture(60_000, {
        user_id: 'user-1',
        access_token: 'expired:a',
        refresh_token: 'r0',
        ...extra,
      }),
    );
  const stored = (sid: string) => sessions.getSessionStore().findSession(sid);
  /** The refresh-token revocations the middleware sends (to no provider here). */
  const revokedAtProvider = () =>
    jest
      .spyOn(RevocationService.prototype, 'revokeRefreshToken')
      .mockImplementation(() => undefined);

  it('holds no session lock while the provider answers: the lock is free meanwhile', async () => {
    await expiredLogin('no-lock-held');
    const stall = deferred();
    auth.stalled = stall.promise;
    const refreshing = tracked(run(await requestFor('no-lock-held')));
    await auth.atProvider.promise;
    // What a logout of the session takes: had at once, while the refresh still waits.
    const locked = await timed(
      () => sessions.withSessionLock('no-lock-held', async () => 'had'),
      5_000,
    );
    expect(locked).toMatchObject({ answer: 'had' });
    expect(refreshing.settled).toBe(false);
    stall.resolve();
    expect(await refreshing.work).toBeUndefined();
    const after = await stored('no-lock-held');
    expect(after).toMatchObject({ access_token: 'fresh-1', refresh_token: 'refresh-1' });
    expect(after).not.toHaveProperty('refresh_lease');
  });

  it('a logout while the provider answers: the session stays ended, the new tokens are revoked, not stored', async () => {
    const revoked = revokedAtProvider();
    await expiredLogin('logged-out-meanwhile');
    const stall = deferred();
    auth.stalled = stall.promise;
    const refreshing = run(await requestFor('logged-out-meanwhile'));
    await auth.atProvider.promise;
    // The logout, under the session's lock as AuthController's.
    await sessions.withSessionLock('logged-out-meanwhile', () =>
      sessions.getSessionStore().destroySession('logged-out-meanwhile'),
    );
    stall.resolve();
    const err = await refreshing;
    expect((err as ApiError).getResponse()).toMatchObject({
      error: { code: 'token_refresh_failed' },
    });
    expect(revoked).toHaveBeenCalledWith('refresh-1', 'session_ended');
    revoked.mockRestore();
    expect(await stored('logged-out-meanwhile')).toBeNull();
  });

  it('a provider silent past BODHI_AUTH_TIMEOUT_MS: 503 with the login kept; the refresh goes on, and its late answer serves the next request', async () => {
    auth.requestWaitMs = 100;
    middleware = middlewareOver();
    await expiredLogin('late-answer');
    const stall = deferred();
    auth.stalled = stall.promise;
    const err = await run(await requestFor('late-answer'));
    expect((err as ApiError).getStatus()).toBe(503);
    expect(await refreshesCounted('unavailable')).toBe(1);
    expect(await stored('late-answer')).toMatchObject({
      access_token: 'expired:a',
      refresh_token: 'r0',
    });
    stall.resolve();
    await until(async () => (await stored('late-answer'))?.access_token === 'fresh-1');
    expect(await run(await requestFor('late-answer'))).toBeUndefined();
    expect(auth.refreshes).toBe(1);
  });

  it("another instance's refresh in progress (its lease in the session): waits for its tokens, calling no provider", async () => {
    await expiredLogin('leased', {
      refresh_lease: { id: 'other-instance', until: Date.now() + 60_000 },
    });
    const waiting = run(await requestFor('leased'));
    // The other instance saves its refresh, as SessionRefresh does.
    await sessions.withSessionLock('leased', async () => {
      const store = sessions.getSessionStore();
      const current = await store.findSession('leased');
      await store.updateSession('leased', {
        ...current,
        access_token: 'other-fresh',
        refresh_token: 'other-refresh',
        refresh_lease: undefined,
      } as SessionData);
    });
    expect(await waiting).toBeUndefined();
    expect(auth.refreshes).toBe(0);
    expect(await refreshesCounted('reused')).toBe(1);
  });

  it('a lease whose holder is gone (its term has passed) is taken over', async () => {
    await expiredLogin('holder-gone', { refresh_lease: { id: 'gone', until: Date.now() - 1 } });
    expect(await run(await requestFor('holder-gone'))).toBeUndefined();
    expect(auth.refreshes).toBe(1);
    const after = await stored('holder-gone');
    expect(after).toMatchObject({ access_token: 'fresh-1' });
    expect(after).not.toHaveProperty('refresh_lease');
  });

  it('new tokens the key set cannot check yet are kept, and the answer is 503', async () => {
    auth.freshTokens = 'unverifiable';
    await expiredLogin('unchecked');
    const err = await run(await requestFor('unchecked'));
    expect((err as ApiError).getStatus()).toBe(503);
    const after = await stored('unchecked');
    expect(after).toMatchObject({ access_token: 'fresh-1', refresh_token: 'refresh-1' });
    expect(after).not.toHaveProperty('refresh_lease');
    auth.freshTokens = 'valid';
    expect(await run(await requestFor('unchecked'))).toBeUndefined();
    expect(auth.refreshes).toBe(1);
  });

  it('new tokens that fail verification end the login, their refresh token revoked', async () => {
    const revoked = revokedAtProvider();
    auth.freshTokens = 'refused';
    await expiredLogin('refused-fresh');
    const err = await run(await requestFor('refused-fresh'));
    expect((err as ApiError).getResponse()).toMatchObject({
      error: { code: 'token_refresh_failed' },
    });
    expect(revoked).toHaveBeenCalledWith('refresh-1', 'session_ended');
    revoked.mockRestore();
    expect(await stored('refused-fresh')).not.toHaveProperty('access_token');
  });

  if (kind === 'postgres') {
    it('10 requests on each of two instances refresh once', async () => {
      // Another instance: its own connections, session lock and middleware.
      const other = await openTestStore(db);
      try {
        const onB = middlewareOver(
          new DefaultSessionService(
            other.store,
            resolveSessionOptions(testSessionOptions(db)),
            new SessionLock({ dataSource: other.dataSource, kind }),
            other.revocations,
          ),
        );
        await expiredLogin('two-instances');
        const errors = await Promise.all(
          Array.from({ length: 20 }, async (_, i) =>
            run(await requestFor('two-instances'), i % 2 ? onB : middleware),
          ),
        );
        expect(errors.filter((e) => e !== undefined)).toEqual([]);
        expect(auth.refreshes).toBe(1);
      } finally {
        await other.dataSource.destroy();
      }
    });
  }

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
    expect(await refreshesCounted('rejected')).toBe(1);
    expect(await counted('bodhi_token_refreshes_total')).toBe(1);
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
    expect(await refreshesCounted('rejected')).toBe(1);
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
