import { TEST_SECRET } from '@bodhi/testing';
import { parseSettings } from '../../settings/setting.schema.js';
import { InvalidSessionOptionsError, resolveSessionOptions } from './session.options.js';
import { PG_MAX_TABLE_NAME_LENGTH } from '../sql/table-names.js';

const resolve = (extra: Record<string, unknown> = {}) =>
  resolveSessionOptions({ url: 'sqlite::memory:', secret: TEST_SECRET, ...extra });

describe('resolveSessionOptions', () => {
  it('applies the defaults: 180-minute TTL, 60 s touch-after, SQLite prune batches of 100', () => {
    const o = resolve();
    expect(o.ttlMs).toBe(180 * 60_000);
    expect(o.touchAfterMs).toBe(60_000);
    expect(o.pruneBatchSize).toBe(100);
    expect(resolve({ url: 'postgres://u@h/db' }).pruneBatchSize).toBe(1000);
  });

  it('caps touch-after at a tenth of the TTL, so a short-lived session still slides', () => {
    expect(resolve({ ttlSeconds: 100 }).touchAfterMs).toBe(10_000);
    expect(resolve({ ttlSeconds: 100, touchAfterSeconds: 5 }).touchAfterMs).toBe(5000);
    expect(resolve({ touchAfterSeconds: 0 }).touchAfterMs).toBe(0);
  });

  it.each([
    [{ touchAfterSeconds: -1 }, /touchAfterSeconds must be a non-negative integer/],
    [{ touchAfterSeconds: 1.5 }, /touchAfterSeconds/],
    [{ ttlSeconds: 0 }, /ttlSeconds must be a positive integer/],
    [{ tableName: 'x; drop' }, /tableName must be a plain SQL name/],
    [{ secret: 'short' }, /secret must be at least 32 characters/],
  ])('rejects %j with a clear error', (extra, message) => {
    expect(() => resolve(extra)).toThrow(InvalidSessionOptionsError);
    expect(() => resolve(extra)).toThrow(message);
  });

  it(`refuses a table name past ${PG_MAX_TABLE_NAME_LENGTH} characters on PostgreSQL, whose 63-byte identifiers would cut the names derived from it`, () => {
    const longest = 's'.repeat(PG_MAX_TABLE_NAME_LENGTH);
    const postgres = { url: 'postgres://u@h/db' };
    expect(resolve({ ...postgres, tableName: longest }).tableName).toBe(longest);
    expect(() => resolve({ ...postgres, tableName: `${longest}s` })).toThrow(
      new RegExp(
        `BODHI_SESSION_DB_TABLE is ${PG_MAX_TABLE_NAME_LENGTH + 1} characters; on PostgreSQL at most ${PG_MAX_TABLE_NAME_LENGTH}`,
      ),
    );
    // SQLite cuts nothing: a name of any length it takes stays as it was.
    expect(resolve({ tableName: `${longest}s` }).tableName).toBe(`${longest}s`);
  });

  it('shares its rules with the BODHI_SESSION_* settings: one schema, one message', () => {
    expect(() => resolve({ maxDataBytes: 100 })).toThrow(
      'Invalid session options: maxDataBytes must be at least 1024 bytes',
    );
    expect(() => parseSettings({ BODHI_SESSION_MAX_BYTES: '100' })).toThrow(
      'Invalid configuration: BODHI_SESSION_MAX_BYTES must be at least 1024 bytes',
    );
    const error = (() => {
      try {
        return resolve({ ttlSeconds: 0, tableName: '1x' });
      } catch (e) {
        return e as InvalidSessionOptionsError;
      }
    })() as InvalidSessionOptionsError;
    expect(error.issues.map((issue) => issue.variable)).toEqual(['tableName', 'ttlSeconds']);
  });

  it('keeps a truncated client address by default; BODHI_SESSION_CLIENT_ADDRESS is full, truncated or none', () => {
    expect(resolve().clientAddress).toBe('truncated');
    for (const mode of ['full', 'truncated', 'none']) {
      const { session } = parseSettings({ BODHI_SESSION_CLIENT_ADDRESS: mode });
      expect(resolveSessionOptions({ ...session, secret: TEST_SECRET }).clientAddress).toBe(mode);
    }
    expect(() => parseSettings({ BODHI_SESSION_CLIENT_ADDRESS: 'partial' })).toThrow(
      /Invalid configuration: BODHI_SESSION_CLIENT_ADDRESS .*full.*truncated.*none/,
    );
  });

  it('uses named statements by default; BODHI_SESSION_DB_STATEMENTS is named or unnamed', () => {
    expect(resolve({ url: 'postgres://u@h/db' }).statements).toBe('named');
    const { session } = parseSettings({ BODHI_SESSION_DB_STATEMENTS: 'unnamed' });
    expect(resolveSessionOptions({ ...session, secret: TEST_SECRET }).statements).toBe('unnamed');
    expect(() => parseSettings({ BODHI_SESSION_DB_STATEMENTS: 'prepared' })).toThrow(
      /Invalid configuration: BODHI_SESSION_DB_STATEMENTS .*named.*unnamed/,
    );
  });

  it('migrates over the serving URL unless BODHI_SESSION_DB_MIGRATION_URL names another', () => {
    const pooled = 'postgres://u:p@pooler:6432/db';
    const direct = 'postgres://u:p@primary:5432/db';
    expect(resolve({ url: pooled }).migrationTarget).toEqual({ kind: 'postgres', url: pooled });
    expect(resolve({ url: pooled, migrationUrl: direct }).migrationTarget).toEqual({
      kind: 'postgres',
      url: direct,
    });
    // A migration URL of another backend would migrate a database the server never uses.
    expect(() => resolve({ url: pooled, migrationUrl: 'sqlite:/tmp/s.sqlite' })).toThrow(
      /BODHI_SESSION_DB_MIGRATION_URL must name the same kind of database/,
    );
    expect(() => parseSettings({ BODHI_SESSION_DB_MIGRATION_URL: 'mysql://h/db' })).toThrow(
      /Invalid configuration: BODHI_SESSION_DB_MIGRATION_URL/,
    );
    // On SQLite it would migrate another file than the one served.
    expect(() =>
      resolve({ url: 'sqlite:/tmp/served.sqlite', migrationUrl: 'sqlite:/tmp/other.sqlite' }),
    ).toThrow(/BODHI_SESSION_DB_MIGRATION_URL is for PostgreSQL only/);
  });

  it('opens 10 PostgreSQL connections per instance unless BODHI_SESSION_DB_POOL_SIZE says otherwise', () => {
    expect(resolve({ url: 'postgres://u@h/db' }).poolSize).toBe(10);
    const { session } = parseSettings({ BODHI_SESSION_DB_POOL_SIZE: '4' });
    expect(resolveSessionOptions({ ...session, secret: TEST_SECRET }).poolSize).toBe(4);
    expect(() => parseSettings({ BODHI_SESSION_DB_POOL_SIZE: '0' })).toThrow(
      /Invalid configuration: BODHI_SESSION_DB_POOL_SIZE must be a positive integer/,
    );
  });

  describe('the session cache plan', () => {
    const direct = 'postgres://u:p@primary:5432/db';
    const pooled = 'postgres://u:p@pooler:6432/db';

    it('is on by default on PostgreSQL, listening on the serving URL', () => {
      expect(resolve({ url: direct }).cache).toEqual({ on: true, listenUrl: direct });
    });

    it('is off on SQLite, and with BODHI_SESSION_CACHE=off, each with its reason', () => {
      expect(resolve().cache).toEqual({ on: false, reason: expect.stringMatching(/^SQLite /) });
      const { session } = parseSettings({
        BODHI_SESSION_CACHE: 'off',
        BODHI_SESSION_DB_URL: direct,
      });
      expect(resolveSessionOptions({ ...session, secret: TEST_SECRET }).cache).toEqual({
        on: false,
        reason: 'BODHI_SESSION_CACHE=off',
      });
      expect(() => parseSettings({ BODHI_SESSION_CACHE: 'maybe' })).toThrow(
        /Invalid configuration: BODHI_SESSION_CACHE .*on.*off/,
      );
    });

    it.each([
      [{ migrationUrl: direct }, 'BODHI_SESSION_DB_MIGRATION_URL is set'],
      [{ statements: 'unnamed' }, 'BODHI_SESSION_DB_STATEMENTS=unnamed'],
    ])(
      'is off behind what looks like a pooler (%j) without a listen URL, saying how to turn it on',
      (extra, why) => {
        const plan = resolve({ url: pooled, ...extra }).cache;
        expect(plan).toEqual({ on: false, reason: expect.stringContaining(why) });
        expect((plan as { reason: string }).reason).toMatch(
          /set BODHI_SESSION_CACHE_LISTEN_URL to a direct URL/,
        );
        // With one, it listens there (and never on the pooler).
        expect(resolve({ url: pooled, ...extra, cacheListenUrl: direct }).cache).toEqual({
          on: true,
          listenUrl: direct,
        });
      },
    );

    it('takes BODHI_SESSION_CACHE_LISTEN_URL from the environment, and refuses one not of PostgreSQL', () => {
      const { session } = parseSettings({
        BODHI_SESSION_DB_URL: pooled,
        BODHI_SESSION_DB_STATEMENTS: 'unnamed',
        BODHI_SESSION_CACHE_LISTEN_URL: direct,
      });
      expect(resolveSessionOptions({ ...session, secret: TEST_SECRET }).cache).toEqual({
        on: true,
        listenUrl: direct,
      });
      for (const url of [direct, 'sqlite::memory:']) {
        expect(() => resolve({ url, cacheListenUrl: 'sqlite:/tmp/s.sqlite' })).toThrow(
          /BODHI_SESSION_CACHE_LISTEN_URL must be a PostgreSQL URL/,
        );
      }
      expect(() => parseSettings({ BODHI_SESSION_CACHE_LISTEN_URL: 'mysql://h/db' })).toThrow(
        /Invalid configuration: BODHI_SESSION_CACHE_LISTEN_URL/,
      );
    });
  });

  it('settings from the environment are valid options as they stand', () => {
    const { session } = parseSettings({ BODHI_SESSION_TTL_SECONDS: '600', BODHI_HOME: '/srv/b' });
    const o = resolveSessionOptions({ ...session, secret: TEST_SECRET });
    expect(o.ttlMs).toBe(600_000);
    expect(o.target).toEqual({ kind: 'sqlite', database: '/srv/b/session.sqlite' });
  });
});
