import { jest } from '@jest/globals';
import type { SessionData } from 'express-session';
import type { DataSource } from 'typeorm';
import {
  createTestSessionDb,
  openTestStore,
  SESSION_BACKENDS,
  sessionFixture,
  TEST_ENCRYPTION_KEY,
  TestSessionDb,
} from '@bodhi/testing';
import { parseEncryptionKeys, SessionCipher } from '../session/crypto/session-cipher.js';
import { sessionTableRef } from '../session/store/session-data-source.factory.js';
import type { ResolvedSessionOptions } from '../session/config/session.options.js';
import { SessionPruner } from '../session/store/session.pruner.js';
import { SessionRevocations } from './session-revocations.js';
import { SessionStoreBackend, userNotBefore } from '../session/store/session-store.backend.js';

const HOUR = 3_600_000;
/** The app clock of these revocations; tests move it, nothing waits. */
const T0 = 1_800_000_000_000;
const REFRESH_TOKEN = 'refresh-eyJhbGciOiJSUzI1NiJ9.must-never-sit-in-the-queue-in-clear';

describe.each(SESSION_BACKENDS)('SessionRevocations on %s', (kind) => {
  let db: TestSessionDb;
  let dataSource: DataSource;
  let store: SessionStoreBackend;
  let options: ResolvedSessionOptions;
  let clock: number;
  let revocations: SessionRevocations;

  const companion = (name: string) => db.besideTable(name);
  const count = async (name: string) =>
    Number(
      (await db.query<{ n: number | string }>(`SELECT COUNT(*) AS n FROM ${companion(name)}`))[0].n,
    );
  const revocationsWith = (cipher?: SessionCipher) =>
    new SessionRevocations(dataSource, sessionTableRef(options), { cipher, now: () => clock });

  beforeAll(async () => {
    db = await createTestSessionDb(kind);
    ({ dataSource, store, options } = await openTestStore(db, { pruneBatchSize: 100 }));
  });
  afterAll(async () => {
    await dataSource?.destroy();
    await db?.drop();
  });
  beforeEach(async () => {
    clock = T0;
    revocations = revocationsWith();
    await store.clearSessions();
    for (const name of ['user_revocations', 'revoked_tokens', 'revocation_queue']) {
      await db.query(`DELETE FROM ${companion(name)}`);
    }
  });

  it("revokeUser moves a user's not-before forward, never back", async () => {
    expect(await revocations.tokenState('alice', 'jti-1')).toEqual({
      notBefore: undefined,
      revoked: false,
    });
    await revocations.revokeUser('alice', T0 + 1000);
    expect((await revocations.tokenState('alice', 'jti-1')).notBefore).toBe(T0 + 1000);
    // An older revocation (a slower instance, a retried request) does not move it back.
    await revocations.revokeUser('alice', T0 + 500);
    expect((await revocations.tokenState('alice', 'jti-1')).notBefore).toBe(T0 + 1000);
    await revocations.revokeUser('alice', T0 + 2000);
    expect((await revocations.tokenState('alice', 'jti-1')).notBefore).toBe(T0 + 2000);
    // The default instant is the app clock's now.
    clock = T0 + 5000;
    await revocations.revokeUser('alice');
    expect((await revocations.tokenState('alice', 'jti-1')).notBefore).toBe(T0 + 5000);
    // One row per user; other users are untouched.
    expect(await count('user_revocations')).toBe(1);
    expect((await revocations.tokenState('bob', 'jti-1')).notBefore).toBeUndefined();
  });

  it("tokenState reports the user's not-before and whether the jti was revoked", async () => {
    await revocations.revokeUser('alice', T0 - 1000);
    await revocations.revokeToken('jti-out', T0 + HOUR);
    // Revoking again (two logouts of one token) keeps the one row.
    await revocations.revokeToken('jti-out', T0 + 2 * HOUR);
    expect(await count('revoked_tokens')).toBe(1);
    expect(await revocations.tokenState('alice', 'jti-out')).toEqual({
      notBefore: T0 - 1000,
      revoked: true,
    });
    expect(await revocations.tokenState('alice', 'jti-live')).toEqual({
      notBefore: T0 - 1000,
      revoked: false,
    });
    expect(await revocations.tokenState('bob', 'jti-out')).toEqual({
      notBefore: undefined,
      revoked: true,
    });
  });

  it('a revoked token past its expiry is no longer reported, and the pruner removes its row', async () => {
    for (let i = 0; i < 250; i++) await revocations.revokeToken(`jti-old-${i}`, T0 + 1000);
    await revocations.revokeToken('jti-live', T0 + HOUR);
    expect((await revocations.tokenState('u', 'jti-old-0')).revoked).toBe(true);

    clock = T0 + 1000;
    expect((await revocations.tokenState('u', 'jti-old-0')).revoked).toBe(false);
    expect((await revocations.tokenState('u', 'jti-live')).revoked).toBe(true);
    expect(await count('revoked_tokens')).toBe(251);

    const pruneBatch = jest.spyOn(revocations, 'pruneRevokedTokens');
    try {
      const pruner = new SessionPruner(store, revocations, dataSource, options);
      await pruner.pruneOnce();
      // In bounded batches, like the sessions.
      expect(pruneBatch.mock.calls).toEqual([[100], [100], [100]]);
    } finally {
      pruneBatch.mockRestore();
    }
    expect(
      await db.query<{ jti: string }>(`SELECT jti FROM ${companion('revoked_tokens')}`),
    ).toEqual([{ jti: 'jti-live' }]);
    expect((await revocations.tokenState('u', 'jti-live')).revoked).toBe(true);
  });

  it('queues provider revocations: enqueue, due by next attempt, reschedule, dequeue', async () => {
    await revocations.enqueue('refresh_token', 'rt-1', T0 + HOUR);
    clock = T0 + 1;
    await revocations.enqueue('user_grants', 'user-9', T0 + 2 * HOUR);
    const [first, second] = await revocations.due(10);
    expect([first, second]).toEqual([
      {
        id: expect.any(Number),
        kind: 'refresh_token',
        subject: 'rt-1',
        attempts: 0,
        giveUpAt: T0 + HOUR,
      },
      {
        id: expect.any(Number),
        kind: 'user_grants',
        subject: 'user-9',
        attempts: 0,
        giveUpAt: T0 + 2 * HOUR,
      },
    ]);
    expect(await revocations.due(1)).toEqual([first]);

    // A failed attempt: not due again until its next attempt.
    await revocations.reschedule(first.id, 1, T0 + 60_000);
    expect((await revocations.due(10)).map((r) => r.subject)).toEqual(['user-9']);
    clock = T0 + 59_999;
    expect((await revocations.due(10)).map((r) => r.subject)).toEqual(['user-9']);
    clock = T0 + 60_000;
    // The longest-waiting first.
    expect(await revocations.due(10)).toEqual([second, { ...first, attempts: 1 }]);

    await revocations.dequeue(first.id);
    expect(await revocations.due(10)).toEqual([second]);
    await revocations.dequeue(second.id);
    expect(await revocations.due(10)).toEqual([]);
    expect(await count('revocation_queue')).toBe(0);
  });

  it('a revocation enqueued for later is not due before then', async () => {
    clock = T0 + 10_000;
    await revocations.enqueue('refresh_token', 'rt-later', T0 + HOUR);
    clock = T0;
    expect(await revocations.due(10)).toEqual([]);
    clock = T0 + 10_000;
    expect((await revocations.due(10)).map((r) => r.subject)).toEqual(['rt-later']);
  });

  it('stores a queued refresh token encrypted when a cipher is configured; a user id plain, for any process to send', async () => {
    const cipher = new SessionCipher(parseEncryptionKeys([TEST_ENCRYPTION_KEY]));
    const encrypted = revocationsWith(cipher);
    await encrypted.enqueue('refresh_token', REFRESH_TOKEN, T0 + HOUR);
    await encrypted.enqueue('user_grants', 'user-in-queue', T0 + HOUR);
    const rows = await db.query<{ kind: string; subject: string }>(
      `SELECT kind, subject FROM ${companion('revocation_queue')} ORDER BY id`,
    );
    expect(rows.map((r) => r.kind)).toEqual(['refresh_token', 'user_grants']);
    expect(rows[0].subject).toMatch(/^enc:v1:/);
    expect(JSON.stringify(rows)).not.toContain(REFRESH_TOKEN);
    // The admin CLI queues user ids without the server's keys; they are no credential.
    expect(rows[1].subject).toBe('user-in-queue');
    expect((await encrypted.due(10)).map((r) => r.subject)).toEqual([
      REFRESH_TOKEN,
      'user-in-queue',
    ]);
  });

  it("a session read from the store carries its user's not-before", async () => {
    await store.saveSession('alice-sid', sessionFixture(HOUR, { user_id: 'alice' }));
    await store.saveSession('bob-sid', sessionFixture(HOUR, { user_id: 'bob' }));
    await store.saveSession('anon-sid', sessionFixture(HOUR));
    const notBeforeOf = async (sid: string) =>
      userNotBefore((await store.findSession(sid)) as SessionData);
    expect(await notBeforeOf('alice-sid')).toBeUndefined();

    await revocations.revokeUser('alice', T0 + 1234);
    expect(await notBeforeOf('alice-sid')).toBe(T0 + 1234);
    expect(await notBeforeOf('bob-sid')).toBeUndefined();
    expect(await notBeforeOf('anon-sid')).toBeUndefined();
    // express-session's own load keeps it on the session it builds.
    const loaded = await new Promise<SessionData>((resolve, reject) =>
      store.load('alice-sid', (err, s) =>
        err || !s ? reject(err ?? new Error('missing')) : resolve(s),
      ),
    );
    expect(userNotBefore(loaded)).toBe(T0 + 1234);
  });
});
