import type { SessionDbKind } from '../config/session-db-url.util.js';
import { sessionDialect } from '../dialects/index.js';
import { pruneExpired, statementBuilder } from './sql-statement.js';

/** Where the session table lives; names are validated SQL identifiers. */
export interface SessionTableRef {
  kind: SessionDbKind;
  table: string;
  /** PostgreSQL only. */
  schema?: string;
}

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export function qualifiedTable(ref: SessionTableRef): string {
  return sessionDialect(ref.kind).sql.hasSchemas && ref.schema
    ? `${quoteIdent(ref.schema)}.${quoteIdent(ref.table)}`
    : quoteIdent(ref.table);
}

/**
 * The tables kept beside the session table, named after it so that two session tables in
 * one schema never share them: what revocation needs to outlive the sessions it ended.
 */
export const COMPANION_TABLES = {
  /** Per user, the instant before which no token issued to them is accepted. */
  userRevocations: 'user_revocations',
  /** Access tokens revoked before their expiry (logout), by `jti`, until they expire. */
  revokedTokens: 'revoked_tokens',
  /** Revocations the identity provider has not confirmed yet, retried until it does. */
  revocationQueue: 'revocation_queue',
} as const;

export function companionTable(
  ref: SessionTableRef,
  companion: keyof typeof COMPANION_TABLES,
): SessionTableRef {
  return { ...ref, table: `${ref.table}_${COMPANION_TABLES[companion]}` };
}

/** What saves copy from a session's data to columns of their own, for its owner's list. */
const DEVICE_COLUMNS = 'last_seen_at, user_agent, client_address';

/** Most sessions a list of one user's returns (the newest). */
export const LISTED_SESSIONS_LIMIT = 100;

/** What a save (`set`, `update`) writes to a session's row. */
interface SessionRowParams {
  key: string;
  /** The session's JSON, or its ciphertext. */
  data: string;
  /** The expiry the save asks for (epoch ms), which the statement caps. */
  expiresAt: number;
  userId: string | null;
  /** The creation time the write gives a row that has none (a new one, or an older row). */
  createdAt: number;
  lastSeenAt: number;
  userAgent: string | null;
  clientAddress: string | null;
  maxLifetimeMs: number;
}

/**
 * Every statement the session store runs, one per operation, written once for both
 * dialects, its parameters by name (see Statement). Expiry times are epoch milliseconds
 * computed by the application clock and passed in, never `now()` of the DB. Every statement
 * that writes `expires_at` caps it at the session's end, `created_at` plus the maximum
 * lifetime (also passed in), from the row's own creation time: reads, counts and prunes
 * then see a session past its end as expired with no rule of their own. The revocation
 * records' statements are theirs (revocation/revocation-statements.ts).
 */
export function sessionStatements(ref: SessionTableRef) {
  const dialect = sessionDialect(ref.kind).sql;
  const statement = statementBuilder(ref.kind);
  const t = qualifiedTable(ref);
  const ur = qualifiedTable(companionTable(ref, 'userRevocations'));
  /**
   * `expiry`, but never past `created_at + maxLifetime`; a row older than the column (NULL)
   * counts from `createdIfNull`, the creation time the same write gives it. The arguments
   * appear in the SQL in this order (placeholders are numbered as they are made).
   */
  const lifetimeCap = (expiry: string, createdAt: string, createdIfNull: string, max: string) =>
    `${dialect.least}(${expiry}, COALESCE(${createdAt}, ${createdIfNull}) + ${max})`;
  const byKey = ({ key }: { key: string }) => ({ key });
  const byUser = ({ userId }: { userId: string }) => ({ userId });
  return {
    /**
     * The row and, in the same round trip, its user's not-before instant: a session read
     * is all a session request costs, revocation check included.
     */
    get: statement<{ key: string; now: number }>(
      (p) =>
        `SELECT s.data, s.expires_at, s.created_at, s.user_id, r.not_before FROM ${t} s ` +
        `LEFT JOIN ${ur} r ON r.user_id = s.user_id ` +
        `WHERE s.id = ${p.key} AND s.expires_at > ${p.now}`,
    ),
    /** Writes a session, new or not. A second save keeps the creation time. */
    set: statement<SessionRowParams>(
      (p) => {
        const created = `${quoteIdent(ref.table)}.created_at`;
        const cap = (max: string) =>
          lifetimeCap('excluded.expires_at', created, 'excluded.created_at', max);
        return (
          `INSERT INTO ${t} (id, data, expires_at, user_id, created_at, ${DEVICE_COLUMNS}) ` +
          `VALUES (${p.key}, ${p.data}, ${p.expiresAt}, ${p.userId}, ${p.createdAt}, ` +
          `${p.lastSeenAt}, ${p.userAgent}, ${p.clientAddress}) ` +
          'ON CONFLICT (id) DO UPDATE SET data = excluded.data, user_id = excluded.user_id, ' +
          'last_seen_at = excluded.last_seen_at, user_agent = excluded.user_agent, ' +
          'client_address = excluded.client_address, ' +
          `created_at = COALESCE(${created}, excluded.created_at), ` +
          `expires_at = ${cap(p.maxLifetimeMs)}`
        );
      },
      { effect: byKey },
    ),
    /** Saves a session loaded from the store: never re-creates a row that was destroyed. */
    update: statement<SessionRowParams>(
      (p) =>
        `UPDATE ${t} SET data = ${p.data}, user_id = ${p.userId}, last_seen_at = ${p.lastSeenAt}, ` +
        `user_agent = ${p.userAgent}, client_address = ${p.clientAddress}, ` +
        `created_at = COALESCE(created_at, ${p.createdAt}), ` +
        `expires_at = ${lifetimeCap(p.expiresAt, 'created_at', p.createdAt, p.maxLifetimeMs)} ` +
        `WHERE id = ${p.key}`,
      { effect: byKey },
    ),
    /**
     * Moves the expiry and, with it, the last-seen time, of a session live at `now`: both
     * move only when a touch writes.
     */
    touch: statement<{
      key: string;
      now: number;
      expiresAt: number;
      lastSeenAt: number;
      createdAt: number;
      maxLifetimeMs: number;
    }>(
      (p) =>
        `UPDATE ${t} SET last_seen_at = ${p.lastSeenAt}, ` +
        `created_at = COALESCE(created_at, ${p.createdAt}), ` +
        `expires_at = ${lifetimeCap(p.expiresAt, 'created_at', p.createdAt, p.maxLifetimeMs)} ` +
        `WHERE id = ${p.key} AND expires_at > ${p.now}`,
      { effect: byKey },
    ),
    destroy: statement<{ key: string }>((p) => `DELETE FROM ${t} WHERE id = ${p.key}`, {
      effect: byKey,
      ends: true,
    }),
    /** Removes a row only if it still holds the unreadable data we saw (no lost update). */
    destroyIfData: statement<{ key: string; data: string }>(
      (p) => `DELETE FROM ${t} WHERE id = ${p.key} AND data = ${p.data}`,
      { effect: byKey },
    ),
    all: statement<{ now: number }>(
      (p) => `SELECT id, data, expires_at FROM ${t} WHERE expires_at > ${p.now}`,
    ),
    length: statement<{ now: number }>(
      (p) => `SELECT COUNT(*) AS n FROM ${t} WHERE expires_at > ${p.now}`,
    ),
    /** The keys (hashes of the session ids) of the live sessions, sorted. */
    keys: statement<{ now: number }>(
      (p) => `SELECT id FROM ${t} WHERE expires_at > ${p.now} ORDER BY id`,
    ),
    clear: statement(() => `DELETE FROM ${t}`, { effect: () => 'all', ends: true }),
    /** The keys of a user's live sessions, sorted. */
    sessionKeysForUser: statement<{ userId: string; now: number }>(
      (p) =>
        `SELECT id FROM ${t} WHERE user_id = ${p.userId} AND expires_at > ${p.now} ORDER BY id`,
    ),
    countForUser: statement<{ userId: string; now: number }>(
      (p) => `SELECT COUNT(*) AS n FROM ${t} WHERE user_id = ${p.userId} AND expires_at > ${p.now}`,
    ),
    /** Returns the expiry of each removed row so only live sessions are counted. */
    destroyForUser: statement<{ userId: string }>(
      (p) => `DELETE FROM ${t} WHERE user_id = ${p.userId} RETURNING expires_at`,
      { effect: byUser, ends: true },
    ),
    /**
     * A user's live sessions, newest first (rows older than `created_at` last), from their
     * columns alone: no data to decrypt. At most LISTED_SESSIONS_LIMIT: nothing bounds how
     * many sessions one user makes, and each listed one costs a user-agent parse on the
     * request thread.
     */
    listForUser: statement<{ userId: string; now: number }>(
      (p) =>
        `SELECT id, created_at, last_seen_at, expires_at, ${DEVICE_COLUMNS} FROM ${t} ` +
        `WHERE user_id = ${p.userId} AND expires_at > ${p.now} ` +
        `ORDER BY created_at DESC NULLS LAST, id LIMIT ${LISTED_SESSIONS_LIMIT}`,
    ),
    /** Ends one live session of a user, by key; its data comes back for revocation. */
    destroyUserSession: statement<{ key: string; userId: string; now: number }>(
      (p) =>
        `DELETE FROM ${t} WHERE id = ${p.key} AND user_id = ${p.userId} AND expires_at > ${p.now} ` +
        'RETURNING id, data',
      { effect: byKey, ends: true },
    ),
    /** Ends every session of a user but one (by key: `keepKey`). */
    destroyUserSessionsExcept: statement<{ userId: string; keepKey: string }>(
      (p) =>
        `DELETE FROM ${t} WHERE user_id = ${p.userId} AND id <> ${p.keepKey} ` +
        'RETURNING id, data, expires_at',
      { effect: byUser, ends: true },
    ),
    dump: statement<{ now: number }>(
      (p) => `SELECT id, user_id FROM ${t} WHERE expires_at > ${p.now} ORDER BY id`,
    ),
    /** Deletes expired rows only, which no cache serves: no effect. */
    pruneBatch: pruneExpired(statement, t, dialect.batchKey),
    ping: statement(() => 'SELECT 1 AS ok'),
  } as const;
}

export type SessionStatements = ReturnType<typeof sessionStatements>;
