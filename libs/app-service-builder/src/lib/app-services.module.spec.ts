import { Injectable, Logger, Module } from '@nestjs/common';
import { jest } from '@jest/globals';
import { Test } from '@nestjs/testing';
import {
  AuthService,
  DefaultSessionService,
  DevAuthServerAdmin,
  IdentityProviderAdmin,
  InvalidSettingsError,
  SettingService,
} from '@bodhi/services';
import {
  createTestSessionDb,
  SESSION_BACKENDS,
  sessionFixture,
  TEST_ENCRYPTION_KEY,
  TEST_SECRET,
} from '@bodhi/testing';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
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
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'bodhi-asb-'));
    const app = await (
      await Test.createTestingModule({
        imports: [
          AppServicesModule.forRoot({
            env: {
              BODHI_HOME: home,
              BODHI_SESSION_DB_URL: db.url,
              BODHI_SESSION_DB_SCHEMA: db.schema,
              BODHI_SESSION_DB_TABLE: db.table,
              BODHI_DEPLOYMENT: kind === 'postgres' ? 'cluster' : 'standalone',
              BODHI_SESSION_SECRET: kind === 'postgres' ? TEST_SECRET : undefined,
              BODHI_SESSION_ENCRYPTION_KEYS: kind === 'postgres' ? TEST_ENCRYPTION_KEY : undefined,
              // Discovery is lazy: no provider needs to answer for the services to boot.
              BODHI_AUTH_URL: 'http://127.0.0.1:9/',
              BODHI_AUTH_CLIENT_ID: 'bodhi-server',
              BODHI_AUTH_CLIENT_SECRET: 'secret',
            },
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
      expect(await sessions.getSessionIdsForUser('u')).toEqual(['s']);
      const raw = await db.query<{ user_id: string }>(`SELECT user_id FROM ${db.qualifiedTable}`);
      expect(raw).toEqual([{ user_id: 'u' }]);
    } finally {
      await app.close();
      await db.drop();
      fs.rmSync(home, { recursive: true, force: true });
    }
  });
});

describe('AppServicesModule boot errors', () => {
  // Settings that fail validation may still create BODHI_HOME first: keep it in a temp dir.
  let home: string;
  beforeAll(() => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'bodhi-asb-errors-'));
    jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
  });
  afterAll(() => {
    jest.restoreAllMocks();
    fs.rmSync(home, { recursive: true, force: true });
  });

  it('requires the identity provider settings, naming each variable', async () => {
    await expect(
      Test.createTestingModule({
        imports: [
          AppServicesModule.forRoot({
            env: { BODHI_HOME: home, BODHI_SESSION_DB_URL: 'sqlite::memory:' },
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
          env: {
            BODHI_HOME: home,
            BODHI_DEPLOYMENT: 'cluster',
            BODHI_SESSION_SECRET: TEST_SECRET,
            BODHI_SESSION_DB_URL: 'sqlite::memory:',
          },
        }),
      ],
    }).compile();
    await expect(boot).rejects.toThrow(InvalidSettingsError);
    await expect(
      Test.createTestingModule({
        imports: [
          AppServicesModule.forRoot({
            env: {
              BODHI_HOME: home,
              BODHI_DEPLOYMENT: 'cluster',
              BODHI_SESSION_SECRET: TEST_SECRET,
            },
          }),
        ],
      }).compile(),
    ).rejects.toThrow(
      /BODHI_SESSION_DB_URL must be a postgres:\/\/ URL when BODHI_DEPLOYMENT=cluster/,
    );
  });
});
