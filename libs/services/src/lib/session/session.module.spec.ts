import { Logger } from '@nestjs/common';
import { jest } from '@jest/globals';
import { Test } from '@nestjs/testing';
import type { DataSource } from 'typeorm';
import {
  createTestSessionDb,
  SESSION_BACKENDS,
  serverEnv,
  sessionFixture,
  tempHome,
  TEST_PG_URL,
  TEST_SECRET,
  testSessionOptions,
} from '@bodhi/testing';
import { SettingService } from '../settings/setting.service.js';
import { SettingsModule } from '../settings/settings.module.js';
import { SESSION_DATA_SOURCE } from './session.constants.js';
import { SessionModule } from './session.module.js';
import { sessionOptionsFromSettings } from './config/session-options.from-settings.js';
import { SessionPruner } from './store/session.pruner.js';
import { DefaultSessionService } from './session.service.js';
import { sessionKey } from './store/session-key.js';
import { SessionRevocations } from '../revocation/session-revocations.js';
import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

describe.each(SESSION_BACKENDS)('SessionModule on %s', (kind) => {
  it('forRootAsync with settings injects DefaultSessionService that round-trips a session', async () => {
    const db = await createTestSessionDb(kind);
    const home = tempHome('bodhi-home-');
    const moduleRef = await Test.createTestingModule({
      imports: [
        SettingsModule.forRoot({ env: serverEnv({ home: home.dir, db }) }),
        SessionModule.forRootAsync({
          useFactory: sessionOptionsFromSettings,
          inject: [SettingService],
        }),
      ],
    }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    await app.init();
    const service = app.get(DefaultSessionService);
    const dataSource = app.get<DataSource>(SESSION_DATA_SOURCE);
    const pruner = app.get(SessionPruner);
    try {
      await service
        .getSessionStore()
        .saveSession('nest-sid', sessionFixture(60_000, { user_id: 'nest-user' }));
      expect(await service.getSessionStore().findSession('nest-sid')).toMatchObject({
        user_id: 'nest-user',
      });
      expect(await service.countSessionsForUser('nest-user')).toBe(1);
      expect(await service.getSessionKeysForUser('nest-user')).toEqual([sessionKey('nest-sid')]);
      expect(await service.dumpAllSessions()).toEqual([[sessionKey('nest-sid'), 'nest-user']]);
      await expect(service.ping()).resolves.toBeUndefined();
      const revocations = app.get(SessionRevocations);
      expect((await revocations.tokenState('nest-user', 'jti')).notBefore).toBeUndefined();
      const before = Date.now();
      expect(await service.clearSessionsForUser('nest-user')).toBe(1);
      // Logging a user out everywhere also revokes every token issued to them until now.
      const { notBefore } = await revocations.tokenState('nest-user', 'jti');
      expect(notBefore).toBeGreaterThanOrEqual(before);
      expect(notBefore).toBeLessThanOrEqual(Date.now());
      await service.getSessionStore().saveSession('a', sessionFixture(60_000));
      expect(await service.clearAllSessions()).toBe(1);
      // The pruner was started by bootstrap (settings default: every 60 s).
      expect((pruner as unknown as { timer?: NodeJS.Timeout }).timer).toBeDefined();
    } finally {
      await app.close();
      await db.drop();
      home.remove();
    }
    expect(dataSource.isInitialized).toBe(false);
    expect((pruner as unknown as { timer?: NodeJS.Timeout }).timer).toBeUndefined();
  });

  it('forRoot with plain options works without settings', async () => {
    const db = await createTestSessionDb(kind);
    const moduleRef = await Test.createTestingModule({
      imports: [SessionModule.forRoot(testSessionOptions(db))],
    }).compile();
    const app = await moduleRef.createNestApplication({ logger: false }).init();
    try {
      const store = app.get(DefaultSessionService).getSessionStore();
      expect(store.kind).toBe(kind);
      await store.saveSession('x', sessionFixture(60_000));
      expect(await store.keys()).toEqual([sessionKey('x')]);
    } finally {
      await app.close();
      await db.drop();
    }
  });
});

describe('SessionModule on sqlite::memory:', () => {
  it('keeps sessions in memory for the life of the app', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [SessionModule.forRoot({ url: 'sqlite::memory:', secret: TEST_SECRET })],
    }).compile();
    const app = await moduleRef.createNestApplication({ logger: false }).init();
    try {
      const store = app.get(DefaultSessionService).getSessionStore();
      await store.saveSession('m', sessionFixture(60_000, { user_id: 'mem' }));
      expect(await store.dump()).toEqual([[sessionKey('m'), 'mem']]);
    } finally {
      await app.close();
    }
  });
});

describe('SessionModule boot failures', () => {
  const boot = async (url: string) => {
    const moduleRef = Test.createTestingModule({
      imports: [SessionModule.forRoot({ url, secret: TEST_SECRET })],
    });
    return moduleRef.compile();
  };

  beforeAll(() => jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined));
  afterAll(() => jest.restoreAllMocks());

  it('rejects an unknown scheme naming BODHI_SESSION_DB_URL, without the password', async () => {
    await expect(boot('mysql://root:hunter22@db/x')).rejects.toThrow(
      /BODHI_SESSION_DB_URL must start with/,
    );
    await expect(boot('mysql://root:hunter22@db/x')).rejects.not.toThrow(/hunter22/);
  });

  it('names the database and hides the password when PostgreSQL refuses the credentials', async () => {
    const url = new URL(TEST_PG_URL);
    url.password = 'wrong-hunter22';
    const error = await boot(url.href).catch((e: Error) => e);
    expect((error as Error).message).toMatch(
      /Cannot open session database \(PostgreSQL .*\): .*password authentication failed/,
    );
    expect((error as Error).message).not.toContain('hunter22');
  });

  it('warns at boot when session data will be stored unencrypted', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const app = await (
      await boot('sqlite::memory:')
    )
      .createNestApplication({ logger: false })
      .init();
    await app.close();
    expect(warn.mock.calls.flat().join(' ')).toContain('set BODHI_SESSION_ENCRYPTION_KEYS');
    warn.mockRestore();
  });

  it('fails fast with host and database named when PostgreSQL does not answer, password hidden', async () => {
    const error = await boot('postgres://bodhi:hunter22@127.0.0.1:1/nowhere').catch(
      (e: Error) => e,
    );
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(
      /Cannot open session database \(PostgreSQL 127\.0\.0\.1:1\/nowhere\)/,
    );
    expect((error as Error).message).not.toContain('hunter22');
  });

  it('fails with a clear error, not a hang, when another process holds the SQLite file locked', async () => {
    const dir = tempHome('bodhi-locked-');
    const file = path.join(dir.dir, 'session.sqlite');
    const holder = new Database(file);
    holder.exec('CREATE TABLE squatter (x INTEGER)');
    holder.exec('BEGIN EXCLUSIVE');
    try {
      // It waits busy_timeout (5 s) for the lock, then says so; a hang would hit the test's
      // timeout instead of this rejection.
      await expect(boot(`sqlite:${file}`)).rejects.toThrow(
        /Cannot (open|migrate) session database \(SQLite .*\): .*database is locked/,
      );
    } finally {
      holder.exec('ROLLBACK');
      holder.close();
      dir.remove();
    }
  });

  it('fails at once, not a hang, where the SQLite directory can never be created (/proc)', async () => {
    await expect(boot(`sqlite:/proc/bodhi-${process.pid}/session.sqlite`)).rejects.toThrow(
      /Cannot open session database \(SQLite \/proc\/.*\): .*ENOENT/,
    );
  });

  it('fails with a clear error when the SQLite directory cannot be created', async () => {
    const file = path.join(os.tmpdir(), `bodhi-not-a-dir-${process.pid}`);
    fs.writeFileSync(file, 'x');
    try {
      await expect(boot(`sqlite:${file}/sub/session.sqlite`)).rejects.toThrow(
        /Cannot open session database \(SQLite /,
      );
    } finally {
      fs.rmSync(file, { force: true });
    }
  });
});
