import { Injectable, Logger, Module } from '@nestjs/common';
import { jest } from '@jest/globals';
import { Test } from '@nestjs/testing';
import {
  AuthService,
  DefaultSessionService,
  DevAuthServerAdmin,
  IdentityProviderAdmin,
  IdentityProviderAdminUnsupportedError,
  NoIdentityProviderAdmin,
  InvalidSettingsError,
  sessionKey,
  SettingService,
} from '@bodhi/services';
import {
  createTestSessionDb,
  serverEnv,
  SESSION_BACKENDS,
  sessionFixture,
  tempHome,
  UNREACHABLE_PROVIDER,
  type TempHome,
} from '@bodhi/testing';
import { AppServicesModule } from './app-services.module.js';

/** Stands for a higher layer: injects the services without importing their modules. */
@Injectable()
class Consumer {
  constructor(
    readonly sessions: DefaultSessionService,
    readonly settings: SettingService,
  ) {}
}
@Module({ providers: [Consumer] })
class ConsumerModule {}

describe.each(SESSION_BACKENDS)('AppServicesModule on %s', (kind) => {
  it('builds settings and the session store from env and serves them to other modules', async () => {
    const db = await createTestSessionDb(kind);
    const home = tempHome('bodhi-asb-');
    const app = await (
      await Test.createTestingModule({
        imports: [
          AppServicesModule.forRoot({
            env: serverEnv({
              home: home.dir,
              db,
              deployment: kind === 'postgres' ? 'cluster' : 'standalone',
              // Discovery is lazy: no provider needs to answer for the services to boot.
              provider: UNREACHABLE_PROVIDER,
            }),
          }),
          ConsumerModule,
        ],
      }).compile()
    )
      .createNestApplication({ logger: false })
      .init();
    try {
      const { sessions, settings } = app.get(Consumer);
      expect(settings.server.deployment).toBe(kind === 'postgres' ? 'cluster' : 'standalone');
      expect(sessions.getSessionStore().kind).toBe(kind);
      expect(app.get(AuthService).clientId()).toBe('bodhi-server');
      expect(app.get(IdentityProviderAdmin)).toBeInstanceOf(DevAuthServerAdmin);
      await sessions.getSessionStore().saveSession('s', sessionFixture(60_000, { user_id: 'u' }));
      expect(await sessions.getSessionKeysForUser('u')).toEqual([sessionKey('s')]);
      const raw = await db.query<{ user_id: string }>(`SELECT user_id FROM ${db.qualifiedTable}`);
      expect(raw).toEqual([{ user_id: 'u' }]);
    } finally {
      await app.close();
      await db.drop();
      home.remove();
    }
  });
});

describe('AppServicesModule identity-provider admin', () => {
  it('binds the adapter BODHI_AUTH_ADMIN_API names, and none (refusing) by default', async () => {
    const home = tempHome('bodhi-asb-admin-');
    const adminOf = async (adminApi?: string) => {
      const moduleRef = await Test.createTestingModule({
        imports: [
          AppServicesModule.forRoot({
            env: serverEnv({
              home: home.dir,
              db: { url: 'sqlite::memory:' },
              provider: UNREACHABLE_PROVIDER,
              env: { BODHI_AUTH_ADMIN_API: adminApi },
            }),
          }),
        ],
      }).compile();
      try {
        return moduleRef.get(IdentityProviderAdmin);
      } finally {
        await moduleRef.close();
      }
    };
    try {
      expect(await adminOf('dev-auth-server')).toBeInstanceOf(DevAuthServerAdmin);
      const none = await adminOf(undefined);
      expect(none).toBeInstanceOf(NoIdentityProviderAdmin);
      await expect(none.setUserRole('u', 'resource_user')).rejects.toThrow(
        IdentityProviderAdminUnsupportedError,
      );
    } finally {
      home.remove();
    }
  });
});

describe('AppServicesModule boot errors', () => {
  // Settings that fail validation may still create BODHI_HOME first: keep it in a temp dir.
  let home: TempHome;
  beforeAll(() => {
    home = tempHome('bodhi-asb-errors-');
    jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
  });
  afterAll(() => {
    jest.restoreAllMocks();
    home.remove();
  });

  it('requires the identity provider settings, naming each variable', async () => {
    await expect(
      Test.createTestingModule({
        imports: [
          AppServicesModule.forRoot({
            env: serverEnv({ home: home.dir, db: { url: 'sqlite::memory:' } }),
          }),
        ],
      }).compile(),
    ).rejects.toThrow(
      /BODHI_AUTH_URL is required.*BODHI_AUTH_CLIENT_ID is required.*BODHI_AUTH_CLIENT_SECRET is required/,
    );
  });

  it('refuses cluster mode on SQLite, naming the variable', async () => {
    const boot = Test.createTestingModule({
      imports: [
        AppServicesModule.forRoot({
          env: serverEnv({
            home: home.dir,
            deployment: 'cluster',
            db: { url: 'sqlite::memory:' },
          }),
        }),
      ],
    }).compile();
    await expect(boot).rejects.toThrow(InvalidSettingsError);
    await expect(
      Test.createTestingModule({
        imports: [
          AppServicesModule.forRoot({
            env: serverEnv({ home: home.dir, deployment: 'cluster' }),
          }),
        ],
      }).compile(),
    ).rejects.toThrow(
      /BODHI_SESSION_DB_URL must be a postgres:\/\/ URL when BODHI_DEPLOYMENT=cluster/,
    );
  });
});
