import { jest } from '@jest/globals';
import { INestApplication, MiddlewareConsumer, Module, NestModule } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { AppServicesModule } from '@bodhi/app-service-builder';
import { ApiErrorFilter } from '@bodhi/auth-middleware';
import type { AuthContext } from '@bodhi/auth-middleware';
import {
  AuthGrantRejectedError,
  AuthProviderUnavailableError,
  BodhiMetrics,
  DefaultSessionService,
  IdentityProviderAdmin,
  NoIdentityProviderAdmin,
  sessionKey,
} from '@bodhi/services';
import {
  createTestSessionDb,
  parseExposition,
  serverEnv,
  SESSION_BACKENDS,
  sessionFixture,
  tempHome,
  TestSessionDb,
  UNREACHABLE_PROVIDER,
  type TempHome,
} from '@bodhi/testing';
import type { NextFunction, Request, Response } from 'express';
import request from 'supertest';
import { RoutesAppModule } from './routes-app.module.js';

/** Stands in for AuthContextMiddleware (tested in auth-middleware): the caller comes from a header. */
function fakeAuthContext(req: Request, _res: Response, next: NextFunction): void {
  const who = req.headers['x-test-auth'];
  const contexts: Record<string, AuthContext> = {
    admin: {
      kind: 'session',
      userId: 'admin-1',
      username: 'ada',
      firstName: 'Ada',
      lastName: 'Admin',
      email: null,
      role: 'resource_admin',
    },
    user: {
      kind: 'session',
      userId: 'user-1',
      username: 'uma',
      firstName: 'Uma',
      lastName: 'User',
      email: null,
      role: 'resource_user',
    },
    token: { kind: 'api_token', subject: 'svc', role: 'resource_power_user' },
  };
  req.authContext = contexts[String(who)] ?? { kind: 'anonymous' };
  next();
}

@Module({})
class FakeAuthContextModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(fakeAuthContext).forRoutes('*path');
  }
}

describe.each(SESSION_BACKENDS)('routes on %s', (kind) => {
  let db: TestSessionDb;
  let app: INestApplication;
  let home: TempHome;
  /** The provider's admin API is a port: the routes talk to it only, so a fake one serves. */
  const setUserRole = jest.fn<IdentityProviderAdmin['setUserRole']>();
  const revokeUserGrants = jest
    .fn<IdentityProviderAdmin['revokeUserGrants']>()
    .mockResolvedValue(undefined);

  beforeAll(async () => {
    db = await createTestSessionDb(kind);
    home = tempHome('bodhi-routes-');
    const moduleRef = await Test.createTestingModule({
      imports: [
        AppServicesModule.forRoot({
          env: serverEnv({
            home: home.dir,
            db,
            provider: UNREACHABLE_PROVIDER,
            env: { BODHI_ENV_TYPE: 'development' },
          }),
        }),
        FakeAuthContextModule,
        RoutesAppModule,
      ],
    })
      .overrideProvider(IdentityProviderAdmin)
      .useValue({ setUserRole, revokeUserGrants })
      .compile();
    app = moduleRef.createNestApplication({ logger: false });
    app.useGlobalFilters(new ApiErrorFilter());
    await app.init();
  });
  afterAll(async () => {
    await app?.close();
    await db?.drop();
    home?.remove();
  });

  const http = () => request(app.getHttpServer());
  const store = () => app.get(DefaultSessionService).getSessionStore();

  it('GET /user answers for each kind of caller', async () => {
    await http().get('/bodhi/v1/user').expect(200, { auth_status: 'logged_out' });
    await http().get('/bodhi/v1/user').set('x-test-auth', 'user').expect(200, {
      auth_status: 'logged_in',
      user_id: 'user-1',
      username: 'uma',
      first_name: 'Uma',
      last_name: 'User',
      role: 'resource_user',
    });
    await http()
      .get('/bodhi/v1/user')
      .set('x-test-auth', 'token')
      .expect(200, { auth_status: 'api_token', role: 'resource_power_user' });
  });

  it('PUT /users/:id/role: admin only, changes the role at the provider, then clears the sessions', async () => {
    await store().saveSession('u-laptop', sessionFixture(60_000, { user_id: 'user-1' }));
    await store().saveSession('u-phone', sessionFixture(60_000, { user_id: 'user-1' }));
    await store().saveSession('other', sessionFixture(60_000, { user_id: 'user-2' }));
    const put = (who?: string, body: unknown = { role: 'resource_manager' }) => {
      const req = http()
        .put('/bodhi/v1/users/user-1/role')
        .send(body as object);
      return who ? req.set('x-test-auth', who) : req;
    };
    expect((await put()).status).toBe(401);
    expect((await put('user')).status).toBe(403);
    expect((await put('admin', { role: 'king' })).body.error).toMatchObject({
      code: 'invalid_role',
    });
    expect(setUserRole).not.toHaveBeenCalled();

    setUserRole.mockResolvedValueOnce(undefined);
    const ok = await put('admin').expect(200);
    expect(ok.body).toEqual({ user_id: 'user-1', role: 'resource_manager', sessions_cleared: 2 });
    expect(setUserRole).toHaveBeenCalledWith('user-1', 'resource_manager');
    // And the user's grants at the provider end with the sessions.
    expect(revokeUserGrants).toHaveBeenCalledWith('user-1');
    const revocations = async (outcome: string) =>
      parseExposition((await app.get(BodhiMetrics).exposition()).body).sum(
        'bodhi_revocations_total',
        { reason: 'role_change', outcome },
      );
    expect(await revocations('ended')).toBe(2);
    expect(await revocations('revoked')).toBe(1);
    expect(await store().sessionKeysForUser('user-1')).toEqual([]);
    expect(await store().sessionKeysForUser('user-2')).toEqual([sessionKey('other')]);

    setUserRole.mockRejectedValueOnce(new AuthGrantRejectedError('user user-1 is unknown'));
    await store().saveSession('u-again', sessionFixture(60_000, { user_id: 'user-1' }));
    expect((await put('admin')).status).toBe(400);
    expect(await store().sessionKeysForUser('user-1')).toEqual([sessionKey('u-again')]);
  });

  it('PUT /users/:id/role answers 503 while the provider is unavailable, keeping the sessions', async () => {
    await store().saveSession('u-kept', sessionFixture(60_000, { user_id: 'user-3' }));
    setUserRole.mockRejectedValueOnce(new AuthProviderUnavailableError('down'));
    const res = await http()
      .put('/bodhi/v1/users/user-3/role')
      .set('x-test-auth', 'admin')
      .send({ role: 'resource_user' })
      .expect(503);
    expect(res.body.error).toMatchObject({ code: 'auth_provider_unavailable' });
    expect(setUserRole).toHaveBeenLastCalledWith('user-3', 'resource_user');
    expect(await store().sessionKeysForUser('user-3')).toEqual([sessionKey('u-kept')]);
  });

  it('PUT /users/:id/role answers 501 when no admin API is configured, keeping the sessions', async () => {
    await store().saveSession('u-none', sessionFixture(60_000, { user_id: 'user-4' }));
    setUserRole.mockImplementationOnce((...args) =>
      new NoIdentityProviderAdmin().setUserRole(...args),
    );
    const res = await http()
      .put('/bodhi/v1/users/user-4/role')
      .set('x-test-auth', 'admin')
      .send({ role: 'resource_user' })
      .expect(501);
    expect(res.body.error).toMatchObject({ code: 'role_change_unsupported' });
    expect(res.body.error.message).toMatch(/BODHI_AUTH_ADMIN_API/);
    expect(await store().sessionKeysForUser('user-4')).toEqual([sessionKey('u-none')]);
  });

  it('dev routes dump and reset the store in development', async () => {
    await store().saveSession('dev-1', sessionFixture(60_000, { user_id: 'd' }));
    // An admin's only: anonymous callers and users are refused, and nothing is reset.
    for (const [who, status] of [
      [undefined, 401],
      ['user', 403],
      ['token', 403],
    ] as const) {
      const asCaller = (r: request.Test) => (who ? r.set('x-test-auth', who) : r);
      await asCaller(http().get('/bodhi/v1/dev/sessions')).expect(status);
      await asCaller(http().post('/bodhi/v1/dev/db-reset')).expect(status);
    }
    expect(await store().findSession('dev-1')).not.toBeNull();
    const dump = await http().get('/bodhi/v1/dev/sessions').set('x-test-auth', 'admin').expect(200);
    expect(dump.body.sessions).toContainEqual({ id: sessionKey('dev-1'), user_id: 'd' });
    const reset = await http()
      .post('/bodhi/v1/dev/db-reset')
      .set('x-test-auth', 'admin')
      .expect(200);
    expect(reset.body.sessions_cleared).toBeGreaterThanOrEqual(1);
    expect(await store().countSessions()).toBe(0);
  });
});
