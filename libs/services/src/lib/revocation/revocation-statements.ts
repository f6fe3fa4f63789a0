import {
  companionTable,
  qualifiedTable,
  quoteIdent,
  type SessionTableRef,
} from '../session/sql/session-sql.js';
import { pruneExpired, statementBuilder } from '../session/sql/sql-statement.js';

/**
 * The statements of the revocation records (SessionRevocations), kept in the companion
 * tables of the session table, built like the session store's (see Statement): per user a
 * not-before instant, revoked access tokens by `jti`, the queue of provider revocations.
 * Their names are the `operation` label of the store metrics, beside the session store's.
 */
export function revocationStatements(ref: SessionTableRef) {
  const statement = statementBuilder(ref.kind);
  const t = qualifiedTable(ref);
  const revocations = companionTable(ref, 'userRevocations');
  const ur = qualifiedTable(revocations);
  const rt = qualifiedTable(companionTable(ref, 'revokedTokens'));
  const rq = qualifiedTable(companionTable(ref, 'revocationQueue'));
  const current = `${quoteIdent(revocations.table)}.not_before`;
  const keepLatestNotBefore =
    'ON CONFLICT (user_id) DO UPDATE SET not_before = ' +
    `CASE WHEN excluded.not_before > ${current} THEN excluded.not_before ELSE ${current} END`;
  return {
    /** Moves a user's not-before forward (never back: the latest revocation wins). */
    revokeUser: statement<{ userId: string; notBefore: number }>(
      (p) =>
        `INSERT INTO ${ur} (user_id, not_before) VALUES (${p.userId}, ${p.notBefore}) ` +
        keepLatestNotBefore,
      // The user's sessions read their not-before with their row: the cache holds it too.
      { effect: ({ userId }) => ({ userId }), ends: true },
    ),
    /** Moves the not-before of every user who has a session (before all rows are cleared). */
    revokeSessionUsers: statement<{ notBefore: number }>(
      (p) =>
        `INSERT INTO ${ur} (user_id, not_before) ` +
        `SELECT DISTINCT user_id, CAST(${p.notBefore} AS bigint) ` +
        `FROM ${t} WHERE user_id IS NOT NULL ${keepLatestNotBefore}`,
      { effect: () => 'all', ends: true },
    ),
    /** What a bearer token needs checked, in one round trip: its user's not-before and its jti. */
    tokenRevocation: statement<{ userId: string; jti: string; now: number }>(
      (p) =>
        `SELECT (SELECT not_before FROM ${ur} WHERE user_id = ${p.userId}) AS not_before, ` +
        `(SELECT 1 FROM ${rt} WHERE jti = ${p.jti} AND expires_at > ${p.now}) AS revoked`,
    ),
    // No cache holds the revoked tokens or the queue: the statements below have no effect.
    revokeToken: statement<{ jti: string; expiresAt: number }>(
      (p) =>
        `INSERT INTO ${rt} (jti, expires_at) VALUES (${p.jti}, ${p.expiresAt}) ` +
        'ON CONFLICT (jti) DO NOTHING',
    ),
    pruneRevokedTokens: pruneExpired(statement, rt, 'jti'),
    enqueueRevocation: statement<{
      kind: string;
      subject: string;
      nextAttemptAt: number;
      giveUpAt: number;
    }>(
      (p) =>
        `INSERT INTO ${rq} (kind, subject, attempts, next_attempt_at, give_up_at) ` +
        `VALUES (${p.kind}, ${p.subject}, 0, ${p.nextAttemptAt}, ${p.giveUpAt})`,
    ),
    dueRevocations: statement<{ now: number; limit: number }>(
      (p) =>
        `SELECT id, kind, subject, attempts, give_up_at FROM ${rq} ` +
        `WHERE next_attempt_at <= ${p.now} ORDER BY next_attempt_at LIMIT ${p.limit}`,
    ),
    rescheduleRevocation: statement<{ id: number; attempts: number; nextAttemptAt: number }>(
      (p) =>
        `UPDATE ${rq} SET attempts = ${p.attempts}, next_attempt_at = ${p.nextAttemptAt} ` +
        `WHERE id = ${p.id}`,
    ),
    dequeueRevocation: statement<{ id: number }>((p) => `DELETE FROM ${rq} WHERE id = ${p.id}`),
  } as const;
}

export type RevocationStatements = ReturnType<typeof revocationStatements>;
