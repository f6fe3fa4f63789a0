import type { SessionDbKind } from './session-db-url.util.js';

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
  return ref.kind === 'postgres' && ref.schema
    ? `${quoteIdent(ref.schema)}.${quoteIdent(ref.table)}`
    : quoteIdent(ref.table);
}

/**
 * Every statement the store runs, one per operation, written once for both dialects.
 * Parameters are positional and appear in the SQL in numeric order, so the same argument
 * arrays bind to PostgreSQL's `$n` and SQLite's `?` alike. Expiry times are epoch
 * milliseconds computed by the application clock and passed in, never `now()` of the DB.
 */
export function sessionStatements(ref: SessionTableRef) {
  // Each statement numbers its own placeholders from 1.
  const sql = (build: (p: () => string) => string) => {
    let n = 0;
    return build(() => (ref.kind === 'postgres' ? `$${++n}` : '?'));
  };
  const t = qualifiedTable(ref);
  // SQLite deletes in batches by rowid; PostgreSQL by primary key.
  const rowKey = ref.kind === 'postgres' ? 'id' : 'rowid';
  return {
    get: sql((p) => `SELECT data, expires_at FROM ${t} WHERE id = ${p()} AND expires_at > ${p()}`),
    set: sql(
      (p) =>
        `INSERT INTO ${t} (id, data, expires_at, user_id) VALUES (${p()}, ${p()}, ${p()}, ${p()}) ` +
        'ON CONFLICT (id) DO UPDATE SET data = excluded.data, expires_at = excluded.expires_at, user_id = excluded.user_id',
    ),
    /** Saves a session loaded from the store: never re-creates a row that was destroyed. */
    update: sql(
      (p) =>
        `UPDATE ${t} SET data = ${p()}, expires_at = ${p()}, user_id = ${p()} WHERE id = ${p()}`,
    ),
    touch: sql(
      (p) => `UPDATE ${t} SET expires_at = ${p()} WHERE id = ${p()} AND expires_at > ${p()}`,
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
    dump: sql((p) => `SELECT id, user_id FROM ${t} WHERE expires_at > ${p()} ORDER BY id`),
    pruneBatch: sql(
      (p) =>
        `DELETE FROM ${t} WHERE ${rowKey} IN ` +
        `(SELECT ${rowKey} FROM ${t} WHERE expires_at <= ${p()} LIMIT ${p()})`,
    ),
    ping: 'SELECT 1 AS ok',
  } as const;
}

export type SessionStatements = ReturnType<typeof sessionStatements>;
