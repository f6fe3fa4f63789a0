import type { DataSource } from 'typeorm';
import type { SessionTableRef } from '../session/sql/session-sql.js';
import type { SqlExecutorOptions } from '../session/sql/session-sql.executor.js';
import type { BodhiMetrics } from '../metrics/bodhi-metrics.js';
import { storeStatements, type StoreStatements } from '../session/cache/cached-statements.js';
import { revocationStatements, type RevocationStatements } from './revocation-statements.js';
import type { SessionCache } from '../session/cache/session-cache.js';
import { SessionCipher, SessionDecryptError } from '../session/crypto/session-cipher.js';

/** A revocation the identity provider has not confirmed yet. */
export type PendingRevocationKind = 'refresh_token' | 'user_grants';

export interface PendingRevocation {
  id: number;
  kind: PendingRevocationKind;
  /**
   * The refresh token, or the user id, to revoke; undefined when the row cannot be
   * decrypted (its key is no longer configured): nothing can be sent for it.
   */
  subject?: string;
  attempts: number;
  giveUpAt: number;
}

export interface SessionRevocationsConfig extends SqlExecutorOptions {
  /** Encrypts queued refresh tokens when set. */
  cipher?: SessionCipher;
  /** The app clock (epoch ms); tests may pass their own. */
  now?: () => number;
  /** Where its statements are measured; a private, unserved registry when not given. */
  metrics?: BodhiMetrics;
  /** The instance's session cache: a revocation drops the user's sessions from it at once. */
  cache?: SessionCache;
}

export interface TokenRevocationState {
  /** Tokens of the user issued before this instant (epoch ms) are revoked. */
  notBefore?: number;
  /** The token itself was revoked (its session logged out). */
  revoked: boolean;
}

/**
 * What revocation keeps in the session database, shared by every instance: per user a
 * not-before instant, revoked access tokens by `jti` until they expire, and the queue of
 * provider revocations still to retry. Each operation is one statement. Queued refresh
 * tokens are encrypted like session data (the queue's rows are credentials too).
 */
export class SessionRevocations {
  private readonly db: StoreStatements<RevocationStatements>;
  private readonly cipher?: SessionCipher;
  private readonly now: () => number;

  constructor(dataSource: DataSource, ref: SessionTableRef, config: SessionRevocationsConfig = {}) {
    this.db = storeStatements(dataSource, ref, revocationStatements, config);
    this.cipher = config.cipher;
    // Read at each use, not bound here: a clock a test installs later still applies.
    this.now = config.now ?? (() => Date.now());
  }

  /** Revokes every token issued to `userId` before `at` (epoch ms; default now). */
  async revokeUser(userId: string, at = this.now()): Promise<void> {
    await this.db.run('revokeUser', { userId, notBefore: at });
  }

  /** Revokes, as of now, every token of every user who has a session in the table. */
  async revokeSessionUsers(): Promise<void> {
    await this.db.run('revokeSessionUsers', { notBefore: this.now() });
  }

  /** Revokes one access token until it expires (`expiresAt`, epoch ms). */
  async revokeToken(jti: string, expiresAt: number): Promise<void> {
    await this.db.run('revokeToken', { jti, expiresAt });
  }

  async tokenState(userId: string, jti: string): Promise<TokenRevocationState> {
    const [row] = await this.db.rows('tokenRevocation', { userId, jti, now: this.now() });
    return {
      notBefore: row?.not_before == null ? undefined : Number(row.not_before),
      revoked: row?.revoked != null,
    };
  }

  /** Deletes up to `batchSize` revoked-token rows whose tokens have expired; returns how many. */
  pruneRevokedTokens(batchSize: number): Promise<number> {
    return this.db.run('pruneRevokedTokens', { now: this.now(), batchSize });
  }

  /**
   * Queues a revocation, due at once. A refresh token is a credential and stored encrypted
   * (with a cipher); a user id is not, and stays readable by any process on the table (the
   * admin CLI queues them without the server's keys).
   */
  async enqueue(kind: PendingRevocationKind, subject: string, giveUpAt: number): Promise<void> {
    const cipher = kind === 'refresh_token' ? this.cipher : undefined;
    await this.db.run('enqueueRevocation', {
      kind,
      subject: cipher ? cipher.encrypt(queueAad(kind), subject) : subject,
      nextAttemptAt: this.now(),
      giveUpAt,
    });
  }

  /** Up to `limit` queued revocations due now, the longest-waiting first. */
  async due(limit: number): Promise<PendingRevocation[]> {
    const rows = await this.db.rows('dueRevocations', { now: this.now(), limit });
    return rows.map((row) => {
      const kind = String(row.kind) as PendingRevocationKind;
      return {
        id: Number(row.id),
        kind,
        subject: this.readSubject(kind, String(row.subject)),
        attempts: Number(row.attempts),
        giveUpAt: Number(row.give_up_at),
      };
    });
  }

  /** One row that does not decrypt must not stop the rows behind it. */
  private readSubject(kind: PendingRevocationKind, stored: string): string | undefined {
    if (kind !== 'refresh_token') return stored;
    if (!this.cipher) return SessionCipher.isEncrypted(stored) ? undefined : stored;
    try {
      return this.cipher.decrypt(queueAad(kind), stored);
    } catch (e) {
      if (e instanceof SessionDecryptError) return undefined;
      throw e;
    }
  }

  async reschedule(id: number, attempts: number, nextAttemptAt: number): Promise<void> {
    await this.db.run('rescheduleRevocation', { id, attempts, nextAttemptAt });
  }

  async dequeue(id: number): Promise<void> {
    await this.db.run('dequeueRevocation', { id });
  }
}

const queueAad = (kind: PendingRevocationKind) => `bodhi-revocation-queue:${kind}`;
