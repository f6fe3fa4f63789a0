import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { SignJWT } from 'jose';
import type { DataSource } from 'typeorm';
import {
  createTestSessionDb,
  deferred,
  openTestStore,
  parseExposition,
  SESSION_BACKENDS,
  sessionFixture,
  TEST_ENCRYPTION_KEY,
  testSessionOptions,
  TestSessionDb,
  tracked,
} from '@bodhi/testing';
import type { AuthService } from '../auth/auth.service.js';
import { AuthGrantRejectedError, AuthProviderUnavailableError } from '../auth/auth.errors.js';
import type { IdentityProviderAdmin } from '../auth/identity-provider-admin.js';
import { BodhiMetrics } from '../metrics/bodhi-metrics.js';
import { parseEncryptionKeys, SessionCipher } from '../session/crypto/session-cipher.js';
import { DefaultSessionService } from '../session/session.service.js';
import { SessionLock } from '../session/locks/session-lock.js';
import { resolveSessionOptions } from '../session/config/session.options.js';
import type { SessionRevocations } from './session-revocations.js';
import {
  REVOCATION_GIVE_UP_MS,
  REVOCATION_RETRY_FIRST_MS,
  RevocationService,
  TokenRevokedError,
  type RevocationReason,
} from './revocation.service.js';

/**
 * The provider's side is a stand-in that records what it was asked and fails while `down`
 * (the e2e revokes at the real provider); the session database, on both backends, is real.
 */
class FakeProvider {
  down = false;
  refusing = false;
  /** While set, a refresh-token revocation waits for it: a provider that stalls. */
  stalled?: Promise<void>;
  revokedTokens: string[] = [];
  revokedUsers: string[] = [];

  private answer(): void {
    if (this.down) throw new AuthProviderUnavailableError('identity provider unreachable');
    if (this.refusing) throw new AuthGrantRejectedError('unknown to the provider');
  }

  async revokeRefreshToken(token: string): Promise<void> {
    await this.stalled;
    this.answer();
    this.revokedTokens.push(token);
  }

  async revokeUserGrants(userId: string): Promise<void> {
    this.answer();
    this.revokedUsers.push(userId);
  }
}

const accessToken = (claims: Record<string, unknown>) =>
  new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(new Uint8Array(32));

describe.each(SESSION_BACKENDS)('RevocationService on %s', (kind) => {
  let db: TestSessionDb;
  let dataSource: DataSource;
  let revocations: SessionRevocations;
  let sessions: DefaultSessionService;
  let provider: FakeProvider;
  let service: RevocationService;
  let metrics: BodhiMetrics;
  let now: number;
  /** bodhi_revocations_total{reason, outcome}, as a scrape reads it. */
  const revocationsCounted = async (reason: string, outcome: string) =>
    parseExposition((await metrics.exposition()).body).sum('bodhi_revocations_total', {
      reason,
      outcome,
    });
  const queue = () =>
    db.query<{ kind: string; subject: string; attempts: number }>(
      `SELECT kind, subject, attempts FROM ${db.besideTable('revocation_queue')}`,
    );

  beforeAll(async () => {
    db = await createTestSessionDb(kind);
    const overrides = { encryptionKeys: [TEST_ENCRYPTION_KEY] };
    const opened = await openTestStore(db, overrides);
    dataSource = opened.dataSource;
    revocations = opened.revocations;
    sessions = new DefaultSessionService(
      opened.store,
      resolveSessionOptions(testSessionOptions(db, overrides)),
      new SessionLock({ dataSource, kind }),
      revocations,
    );
  });
  afterAll(async () => {
    await dataSource?.destroy();
    await db?.drop();
  });
  beforeEach(async () => {
    await db.query(`DELETE FROM ${db.besideTable('revocation_queue')}`);
    provider = new FakeProvider();
    metrics = new BodhiMetrics();
    service = new RevocationService(
      provider as unknown as AuthService,
      provider as unknown as IdentityProviderAdmin,
      sessions,
      revocations,
      metrics,
    );
    // The clock the retry schedule runs by, moved by the tests.
    now = Date.now();
    jest.spyOn(Date, 'now').mockImplementation(() => now);
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
  });
  afterEach(() => jest.restoreAllMocks());

  /** A refresh-token revocation, and its wait until the provider took it (or it was queued). */
  const revoke = async (token: string, reason: RevocationReason) => {
    service.revokeRefreshToken(token, reason);
    await service.settled();
  };

  it('revokes a refresh token in the background: the caller never waits on the provider', async () => {
    const stall = deferred();
    provider.stalled = stall.promise;
    service.revokeRefreshToken('rt-stalled', 'logout');
    const settled = tracked(service.settled());
    expect(provider.revokedTokens).toEqual([]);
    expect(settled.settled).toBe(false);
    stall.resolve();
    await settled.work;
    expect(provider.revokedTokens).toEqual(['rt-stalled']);
    expect(await revocationsCounted('logout', 'revoked')).toBe(1);
  });

  it('revokes a refresh token at once when the provider answers', async () => {
    await revoke('rt-1', 'logout');
    expect(provider.revokedTokens).toEqual(['rt-1']);
    expect(await queue()).toEqual([]);
    expect(await revocationsCounted('logout', 'revoked')).toBe(1);
  });

  it('queues a revocation the provider failed, encrypted, and retries it with backoff until it is taken', async () => {
    provider.down = true;
    await revoke('rt-secret-2', 'session_ended');
    expect(await revocationsCounted('session_ended', 'queued')).toBe(1);
    const [queued] = await queue();
    expect(queued).toMatchObject({ kind: 'refresh_token', attempts: 0 });
    expect(queued.subject).not.toContain('rt-secret-2');

    // Still down: the attempt counts and the next one waits out the backoff.
    expect(await service.retryPending()).toBe(0);
    expect(await queue()).toMatchObject([{ attempts: 1 }]);
    expect(await revocationsCounted('retry', 'queued')).toBe(1);
    now += REVOCATION_RETRY_FIRST_MS - 1;
    provider.down = false;
    expect(await service.retryPending()).toBe(0);
    expect(provider.revokedTokens).toEqual([]);

    now += 1;
    expect(await service.retryPending()).toBe(1);
    expect(provider.revokedTokens).toEqual(['rt-secret-2']);
    expect(await queue()).toEqual([]);
    expect(await revocationsCounted('retry', 'revoked')).toBe(1);
    expect(await revocationsCounted('session_ended', 'revoked')).toBe(0);
  });

  it('drops what the provider refuses (nothing left to revoke) and gives up after a day', async () => {
    provider.refusing = true;
    await revoke('rt-unknown', 'logout');
    expect(await queue()).toEqual([]);
    expect(await revocationsCounted('logout', 'refused')).toBe(1);

    provider.refusing = false;
    provider.down = true;
    await revoke('rt-3', 'logout');
    const error = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    now += REVOCATION_GIVE_UP_MS;
    expect(await service.retryPending()).toBe(0);
    expect(await queue()).toEqual([]);
    expect(error).toHaveBeenCalledWith(expect.stringContaining('Giving up'));
    expect(await revocationsCounted('retry', 'given_up')).toBe(1);
  });

  it('a revocation the provider failed and the queue could not keep is given up, and logged', async () => {
    provider.down = true;
    const table = db.besideTable('revocation_queue');
    const away = `"${db.table}_revocation_queue_away"`;
    const error = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    // The queue's table gone for the moment: its insert fails as a failing database's would.
    await db.query(`ALTER TABLE ${table} RENAME TO ${away}`);
    try {
      await revoke('rt-lost', 'logout');
    } finally {
      await db.query(
        `ALTER TABLE ${db.besideTable('revocation_queue_away')} RENAME TO "${db.table}_revocation_queue"`,
      );
    }
    expect(error).toHaveBeenCalledWith(expect.stringContaining('Could not queue'));
    expect(await revocationsCounted('logout', 'given_up')).toBe(1);
    expect(await revocationsCounted('logout', 'queued')).toBe(0);
    expect(await queue()).toEqual([]);
  });

  it('revokes a user: their tokens so far, their sessions, their grants (queued while the provider is down)', async () => {
    const store = sessions.getSessionStore();
    await store.saveSession('u-1', sessionFixture(60_000, { user_id: 'demoted' }));
    await store.saveSession('u-2', sessionFixture(60_000, { user_id: 'demoted' }));
    await store.saveSession('other', sessionFixture(60_000, { user_id: 'kept' }));
    const issued = Math.floor(now / 1000) - 1;

    provider.down = true;
    expect(await service.revokeUser('demoted', 'role_change')).toBe(2);
    expect(await revocationsCounted('role_change', 'ended')).toBe(2);
    expect(await revocationsCounted('role_change', 'queued')).toBe(1);
    expect(await store.findSession('u-1')).toBeNull();
    expect(await store.findSession('other')).not.toBeNull();
    await expect(
      service.checkBearer({ sub: 'demoted', iat: issued, exp: issued + 60, jti: 'j-1' }),
    ).rejects.toBeInstanceOf(TokenRevokedError);
    await expect(
      service.checkBearer({ sub: 'kept', iat: issued, exp: issued + 60, jti: 'j-2' }),
    ).resolves.toBeUndefined();
    expect(await queue()).toMatchObject([{ kind: 'user_grants', attempts: 0 }]);

    provider.down = false;
    now += REVOCATION_RETRY_FIRST_MS;
    expect(await service.retryPending()).toBe(1);
    expect(provider.revokedUsers).toEqual(['demoted']);
    expect(await revocationsCounted('retry', 'revoked')).toBe(1);
  });

  it("revokes a logged-out session's access token by jti until it expires", async () => {
    const exp = Math.floor(now / 1000) + 60;
    const claims = { sub: 'someone', iat: exp - 120, exp, jti: 'logged-out-jti' };
    await service.revokeAccessToken(await accessToken(claims));
    await expect(service.checkBearer(claims)).rejects.toBeInstanceOf(TokenRevokedError);
    await expect(service.checkBearer({ ...claims, jti: 'another-token' })).resolves.toBeUndefined();
    // Past its expiry the record no longer matters (and the pruner removes it).
    now = exp * 1000 + 1;
    await expect(service.checkBearer(claims)).resolves.toBeUndefined();
  });

  it('drops a queued refresh token it can no longer decrypt, and goes on with the rest', async () => {
    provider.down = true;
    await revoke('rt-lost-key', 'logout');
    await revoke('rt-kept', 'logout');
    // The first one's key is gone (rotated out of the configuration): its row no longer decrypts.
    const table = db.besideTable('revocation_queue');
    const [first] = await db.query<{ id: number }>(`SELECT id FROM ${table} ORDER BY id LIMIT 1`);
    await db.query(`UPDATE ${table} SET subject = $1 WHERE id = $2`, [
      new SessionCipher(parseEncryptionKeys([Buffer.alloc(32, 9).toString('base64')])).encrypt(
        'bodhi-revocation-queue:refresh_token',
        'rt-lost-key',
      ),
      first.id,
    ]);
    const error = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    provider.down = false;
    expect(await service.retryPending()).toBe(1);
    expect(provider.revokedTokens).toEqual(['rt-kept']);
    expect(await queue()).toEqual([]);
    expect(error).toHaveBeenCalledWith(expect.stringContaining('cannot be decrypted'));
    expect(await revocationsCounted('retry', 'given_up')).toBe(1);
    expect(await revocationsCounted('retry', 'revoked')).toBe(1);
  });

  it("refuses a session login older than its user's not-before, by login time and by a whole second of iat", () => {
    const notBefore = now;
    const iat = Math.floor(now / 1000);
    const claims = { sub: 'u', iat, exp: iat + 60, jti: 'j' };
    expect(() => service.checkSession(claims, undefined, now - 1)).not.toThrow();
    expect(() => service.checkSession(claims, notBefore, notBefore - 1)).toThrow(TokenRevokedError);
    expect(() => service.checkSession(claims, notBefore, notBefore)).not.toThrow();
    // A login this instance saw start after the revocation, but whose token the provider
    // issued a whole second before it: the instance's clock ran ahead.
    const early = { ...claims, iat: Math.floor(notBefore / 1000) - 1 };
    expect(() => service.checkSession(early, notBefore, notBefore + 5)).toThrow(TokenRevokedError);
    // Sessions from before login times were kept: judged by iat alone.
    expect(() => service.checkSession(claims, iat * 1000 + 1, undefined)).toThrow(
      TokenRevokedError,
    );
    expect(() => service.checkSession(claims, iat * 1000, undefined)).not.toThrow();
  });
});
