import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import {
  createTestSessionDb,
  openTestStore,
  SESSION_BACKENDS,
  sessionFixture,
  TEST_ENCRYPTION_KEY,
  tamperEncrypted,
  TestSessionDb,
} from '@bodhi/testing';
import { SessionTooLargeError } from '../session.errors.js';
import type { SessionStoreBackend } from './session-store.backend.js';
import { sessionKey } from './session-key.js';

const HOUR = 3_600_000;
const OTHER_KEY = Buffer.alloc(32, 9).toString('base64');
const TOKEN = 'eyJ-access-token-that-must-never-be-stored-in-plaintext';

describe.each(SESSION_BACKENDS)('encryption at rest and size limits on %s', (kind) => {
  let db: TestSessionDb;
  const sources: DataSource[] = [];
  let warn: jest.SpiedFunction<Logger['warn']>;

  const open = async (overrides: Parameters<typeof openTestStore>[1]) => {
    const opened = await openTestStore(db, overrides);
    sources.push(opened.dataSource);
    return opened.store;
  };
  // Rows are keyed by the hash of the session id.
  const raw = async (id: string) =>
    (
      await db.query<{ data: string }>(`SELECT data FROM ${db.qualifiedTable} WHERE id = $1`, [
        sessionKey(id),
      ])
    )[0]?.data;

  beforeAll(async () => {
    db = await createTestSessionDb(kind);
    warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
  });
  afterAll(async () => {
    warn.mockRestore();
    await Promise.all(sources.map((ds) => ds.destroy()));
    await db?.drop();
  });
  beforeEach(() => warn.mockClear());

  it('stores ciphertext only, and reads it back', async () => {
    const store = await open({ encryptionKeys: [TEST_ENCRYPTION_KEY] });
    await store.saveSession(
      'enc-1',
      sessionFixture(HOUR, { user_id: 'user-identity-in-clear', access_token: TOKEN }),
    );
    const stored = await raw('enc-1');
    expect(stored).toMatch(/^enc:v1:/);
    expect(stored).not.toContain(TOKEN);
    expect(stored).not.toContain('user-identity-in-clear');
    expect(await store.findSession('enc-1')).toMatchObject({
      user_id: 'user-identity-in-clear',
      access_token: TOKEN,
    });
    // The user id column stays queryable for per-user operations.
    expect(await store.sessionKeysForUser('user-identity-in-clear')).toEqual([sessionKey('enc-1')]);
  });

  it('reads plaintext rows from before encryption and encrypts them on the next save', async () => {
    const plain = await open({});
    await plain.saveSession('legacy', sessionFixture(HOUR, { user_id: 'u2', access_token: TOKEN }));
    expect(await raw('legacy')).toContain(TOKEN);
    const store = await open({ encryptionKeys: [TEST_ENCRYPTION_KEY] });
    const session = await store.findSession('legacy');
    expect(session).toMatchObject({ access_token: TOKEN });
    await store.saveSession('legacy', session as NonNullable<typeof session>);
    expect(await raw('legacy')).toMatch(/^enc:v1:/);
    expect(await raw('legacy')).not.toContain(TOKEN);
  });

  it('rotates keys without logging anyone out', async () => {
    const before = await open({ encryptionKeys: [TEST_ENCRYPTION_KEY] });
    await before.saveSession('rot', sessionFixture(HOUR, { user_id: 'u3' }));
    const after = await open({ encryptionKeys: [OTHER_KEY, TEST_ENCRYPTION_KEY] });
    expect(await after.findSession('rot')).toMatchObject({ user_id: 'u3' });
  });

  it('treats a row it cannot decrypt as absent, warns once, keeps the row and other sessions', async () => {
    const writer = await open({ encryptionKeys: [TEST_ENCRYPTION_KEY] });
    await writer.saveSession('mine', sessionFixture(HOUR, { user_id: 'u4' }));
    await writer.saveSession('neighbour', sessionFixture(HOUR, { user_id: 'u5' }));
    const wrongKey: SessionStoreBackend = await open({ encryptionKeys: [OTHER_KEY] });
    expect(await wrongKey.findSession('mine')).toBeNull();
    expect(await wrongKey.findSession('mine')).toBeNull();
    expect(warn.mock.calls.filter(([m]) => String(m).includes('not configured'))).toHaveLength(1);
    expect(await raw('mine')).toMatch(/^enc:v1:/);
    expect(await writer.findSession('neighbour')).toMatchObject({ user_id: 'u5' });
    // Without any keys, encrypted rows are absent too (not an error).
    expect(await (await open({})).findSession('mine')).toBeNull();
  });

  it('refuses a row copied under another id, and a tampered row', async () => {
    const store = await open({ encryptionKeys: [TEST_ENCRYPTION_KEY] });
    await store.saveSession('victim', sessionFixture(HOUR, { user_id: 'admin' }));
    await store.saveSession('attacker', sessionFixture(HOUR, { user_id: 'nobody' }));
    await db.query(`UPDATE ${db.qualifiedTable} SET data = $1 WHERE id = $2`, [
      await raw('victim'),
      sessionKey('attacker'),
    ]);
    expect(await store.findSession('attacker')).toBeNull();
    const victim = (await raw('victim')) as string;
    await db.query(`UPDATE ${db.qualifiedTable} SET data = $1 WHERE id = $2`, [
      tamperEncrypted(victim),
      sessionKey('victim'),
    ]);
    expect(await store.findSession('victim')).toBeNull();
  });

  it('refuses a session over the size limit with a clear error and writes nothing', async () => {
    const store = await open({ maxDataBytes: 2048 });
    await store.saveSession('big', sessionFixture(HOUR, { user_id: 'u6', note: 'small' }));
    const before = await raw('big');
    const error = await store
      .saveSession('big', sessionFixture(HOUR, { user_id: 'u6', note: 'x'.repeat(4000) }))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SessionTooLargeError);
    expect((error as Error).message).toMatch(/over the 2048-byte limit; nothing was saved/);
    expect(await raw('big')).toBe(before);
    await expect(
      store.saveSession('new-big', sessionFixture(HOUR, { note: 'x'.repeat(4000) })),
    ).rejects.toThrow(SessionTooLargeError);
    expect(await raw('new-big')).toBeUndefined();
  });
});
