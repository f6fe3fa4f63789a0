import type { SessionDbKind } from '../config/session-db-url.util.js';
import { sessionDialect } from '../dialects/index.js';

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

/**
 * Every statement the store runs, one per operation, written once for both dialects.
 * Parameters are positional and appear in the SQL in numeric order, so the same argument
 * arrays bind to PostgreSQL's `$n` and SQLite's `?` alike. Expiry times are epoch
 * milliseconds computed by the application clock and passed in, never `now()` of the DB.
 * Every statement that writes `expires_at` caps it at the session's end, `created_at` plus
 * the maximum lifetime (also passed in), from the row's own creation time: reads, counts and
 * prunes then see a session past its end as expired with no rule of their own.
 */
export function sessionStatements(ref: SessionTableRef) {
  const dialect = sessionDialect(ref.kind).sql;
  // Each statement numbers its own placeholders from 1.
  const sql = (build: (p: () => string) => string) => {
    let n = 0;
    return build(() => dialect.param(++n));
  };
  const t = qualifiedTable(ref);
  const revocations = companionTable(ref, 'userRevocations');
  const ur = qualifiedTable(revocations);
  const rt = qualifiedTable(companionTable(ref, 'revokedTokens'));
  const rq = qualifiedTable(companionTable(ref, 'revocationQueue'));
  const current = `${quoteIdent(revocations.table)}.not_before`;
  const keepLatestNotBefore =
    'ON CONFLICT (user_id) DO UPDATE SET not_before = ' +
    `CASE WHEN excluded.not_before > ${current} THEN excluded.not_before ELSE ${current} END`;
  /**
   * `expiry`, but never past `created_at + maxLifetime`; a row older than the column (NULL)
   * counts from `createdIfNull`, the creation time the same write gives it. The arguments
   * appear in the SQL in this order (placeholders are numbered as they are made).
   */
  const lifetimeCap = (expiry: string, createdAt: string, createdIfNull: string, max: string) =>
    `${dialect.least}(${expiry}, COALESCE(${createdAt}, ${createdIfNull}) + ${max})`;
  const prune = (table: string, key: string) =>
    sql(
      (p) =>
        `DELETE FROM ${table} WHERE ${key} IN ` +
        `(SELECT ${key} FROM ${table} WHERE expires_at <= ${p()} LIMIT ${p()})`,
    );
  return {
    /**
     * The row and, in the same round trip, its user's not-before instant: a session read
     * is all a session request costs, revocation check included.
     */
    get: sql(
      (p) =>
        `SELECT s.data, s.expires_at, s.created_at, s.user_id, r.not_before FROM ${t} s ` +
        `LEFT JOIN ${ur} r ON r.user_id = s.user_id WHERE s.id = ${p()} AND s.expires_at > ${p()}`,
    ),
    /**
     * Params: key, data, expiry, user id, creation time, last seen, user agent, client
     * address, max lifetime. A second save keeps the creation time.
     */
    set: sql((p) => {
      const created = `${quoteIdent(ref.table)}.created_at`;
      return (
        `INSERT INTO ${t} (id, data, expires_at, user_id, created_at, ${DEVICE_COLUMNS}) ` +
        `VALUES (${p()}, ${p()}, ${p()}, ${p()}, ${p()}, ${p()}, ${p()}, ${p()}) ` +
        'ON CONFLICT (id) DO UPDATE SET data = excluded.data, user_id = excluded.user_id, ' +
        'last_seen_at = excluded.last_seen_at, user_agent = excluded.user_agent, ' +
        'client_address = excluded.client_address, ' +
        `created_at = COALESCE(${created}, excluded.created_at), ` +
        `expires_at = ${lifetimeCap('excluded.expires_at', created, 'excluded.created_at', p())}`
      );
    }),
    /**
     * Saves a session loaded from the store: never re-creates a row that was destroyed.
     * Params: data, user id, last seen, user agent, client address, now, expiry, now, max
     * lifetime, key.
     */
    update: sql(
      (p) =>
        `UPDATE ${t} SET data = ${p()}, user_id = ${p()}, last_seen_at = ${p()}, ` +
        `user_agent = ${p()}, client_address = ${p()}, created_at = COALESCE(created_at, ${p()}), ` +
        `expires_at = ${lifetimeCap(p(), 'created_at', p(), p())} WHERE id = ${p()}`,
    ),
    /**
     * Moves the expiry and, with it, the last-seen time: both move only when a touch writes.
     * Params: last seen, now, expiry, now, max lifetime, key, now.
     */
    touch: sql(
      (p) =>
        `UPDATE ${t} SET last_seen_at = ${p()}, created_at = COALESCE(created_at, ${p()}), ` +
        `expires_at = ${lifetimeCap(p(), 'created_at', p(), p())} ` +
        `WHERE id = ${p()} AND expires_at > ${p()}`,
    ),
    destroy: sql((p) => `DELETE FROM ${t} WHERE id = ${p()}`),
    /** Removes a row only if it still holds the unreadable data we saw (no lost update). */
    destroyIfData: sql((p) => `DELETE FROM ${t} WHERE id = ${p()} AND data = ${p()}`),
    all: sql((p) => `SELECT id, data, expires_at FROM ${t} WHERE expires_at > ${p()}`),
    length: sql((p) => `SELECT COUNT(*) AS n FROM ${t} WHERE expires_at > ${p()}`),
    ids: sql((p) => `SELECT id FROM ${t} WHERE expires_at > ${p()} ORDER BY id`),
    clear: `DELETE FROM ${t}`,
    idsForUser: sql(
      (p) => `SELECT id FROM ${t} WHERE user_id = ${p()} AND expires_at > ${p()} ORDER BY id`,
    ),
    countForUser: sql(
      (p) => `SELECT COUNT(*) AS n FROM ${t} WHERE user_id = ${p()} AND expires_at > ${p()}`,
    ),
    /** Returns the expiry of each removed row so only live sessions are counted. */
    destroyForUser: sql((p) => `DELETE FROM ${t} WHERE user_id = ${p()} RETURNING expires_at`),
    /**
     * A user's live sessions, newest first (rows older than `created_at` last), from their
     * columns alone: no data to decrypt. At most LISTED_SESSIONS_LIMIT: nothing bounds how
     * many sessions one user makes, and each listed one costs a user-agent parse on the
     * request thread. Params: user id, now.
     */
    listForUser: sql(
      (p) =>
        `SELECT id, created_at, last_seen_at, expires_at, ${DEVICE_COLUMNS} FROM ${t} ` +
        `WHERE user_id = ${p()} AND expires_at > ${p()} ORDER BY created_at DESC NULLS LAST, id ` +
        `LIMIT ${LISTED_SESSIONS_LIMIT}`,
    ),
    /** Ends one live session of a user, by key; its data comes back for revocation. Params: key, user id, now. */
    destroyUserSession: sql(
      (p) =>
        `DELETE FROM ${t} WHERE id = ${p()} AND user_id = ${p()} AND expires_at > ${p()} ` +
        'RETURNING id, data',
    ),
    /** Ends every session of a user but one (by key). Params: user id, key kept. */
    destroyUserSessionsExcept: sql(
      (p) =>
        `DELETE FROM ${t} WHERE user_id = ${p()} AND id <> ${p()} RETURNING id, data, expires_at`,
    ),
    dump: sql((p) => `SELECT id, user_id FROM ${t} WHERE expires_at > ${p()} ORDER BY id`),
    pruneBatch: prune(t, dialect.batchKey),
    ping: 'SELECT 1 AS ok',

    // ---- revocation -------------------------------------------------------------------
    /** Moves a user's not-before forward (never back: the latest revocation wins). */
    revokeUser: sql(
      (p) =>
        `INSERT INTO ${ur} (user_id, not_before) VALUES (${p()}, ${p()}) ${keepLatestNotBefore}`,
    ),
    /** Moves the not-before of every user who has a session (before all rows are cleared). */
    revokeSessionUsers: sql(
      (p) =>
        `INSERT INTO ${ur} (user_id, not_before) SELECT DISTINCT user_id, CAST(${p()} AS bigint) ` +
        `FROM ${t} WHERE user_id IS NOT NULL ${keepLatestNotBefore}`,
    ),
    /** What a bearer token needs checked, in one round trip: its user's not-before and its jti. */
    tokenRevocation: sql(
      (p) =>
        `SELECT (SELECT not_before FROM ${ur} WHERE user_id = ${p()}) AS not_before, ` +
        `(SELECT 1 FROM ${rt} WHERE jti = ${p()} AND expires_at > ${p()}) AS revoked`,
    ),
    revokeToken: sql(
      (p) =>
        `INSERT INTO ${rt} (jti, expires_at) VALUES (${p()}, ${p()}) ON CONFLICT (jti) DO NOTHING`,
    ),
    pruneRevokedTokens: prune(rt, 'jti'),
    enqueueRevocation: sql(
      (p) =>
        `INSERT INTO ${rq} (kind, subject, attempts, next_attempt_at, give_up_at) ` +
        `VALUES (${p()}, ${p()}, 0, ${p()}, ${p()})`,
    ),
    dueRevocations: sql(
      (p) =>
        `SELECT id, kind, subject, attempts, give_up_at FROM ${rq} ` +
        `WHERE next_attempt_at <= ${p()} ORDER BY next_attempt_at LIMIT ${p()}`,
    ),
    rescheduleRevocation: sql(
      (p) => `UPDATE ${rq} SET attempts = ${p()}, next_attempt_at = ${p()} WHERE id = ${p()}`,
    ),
    dequeueRevocation: sql((p) => `DELETE FROM ${rq} WHERE id = ${p()}`),
  } as const;
}

export type SessionStatements = ReturnType<typeof sessionStatements>;

/** What a write may have changed, for the session cache to drop: by key, by user, or all. */
export type StatementEffect = { key: unknown } | { userId: unknown } | 'all';

/**
 * Every statement that changes a session row or a user's revocation, and what of the cache
 * it makes stale, read from its parameters (in the order documented above). The triggers
 * tell the other instances; this tells the writer's own cache at once, before its answer.
 * Not here: `pruneBatch` deletes expired rows only, which no cache serves; the statements of
 * the other companion tables (revoked tokens, the queue), which no cache holds.
 */
export const STATEMENT_EFFECTS: Partial<
  Record<keyof SessionStatements, (params: unknown[]) => StatementEffect>
> = {
  set: (p) => ({ key: p[0] }),
  update: (p) => ({ key: p[9] }),
  touch: (p) => ({ key: p[5] }),
  destroy: (p) => ({ key: p[0] }),
  destroyIfData: (p) => ({ key: p[0] }),
  destroyUserSession: (p) => ({ key: p[0] }),
  destroyForUser: (p) => ({ userId: p[0] }),
  destroyUserSessionsExcept: (p) => ({ userId: p[0] }),
  clear: () => 'all',
  revokeUser: (p) => ({ userId: p[0] }),
  revokeSessionUsers: () => 'all',
};

/**
 * The writes that end access (a logout, ending sessions, clearing, revoking a user). Their
 * writer does not return until the change has been announced back to its own listener
 * (SessionCache.announced), so that by the time the request is answered every instance's
 * listener has been sent it, and has most likely dropped it already.
 */
export const ENDING_STATEMENTS: ReadonlySet<keyof SessionStatements> = new Set([
  'destroy',
  'destroyUserSession',
  'destroyUserSessionsExcept',
  'destroyForUser',
  'clear',
  'revokeUser',
  'revokeSessionUsers',
] as const);
