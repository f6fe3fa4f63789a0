import type { SessionDbKind } from '../config/session-db-url.util.js';

/**
 * How one backend spells what the store's SQL needs; the statements themselves are written
 * once for both (session-sql.ts, revocation-statements.ts, the migrations). Kept apart from
 * the dialect objects, which open, migrate and lock, so that building SQL needs nothing else.
 */
export interface SqlDialect {
  /** The `n`th (from 1) positional parameter. */
  param(n: number): string;
  /** The smaller of two values. */
  least: string;
  /** What a batched DELETE selects rows by. */
  batchKey: string;
  /** Whether tables live in a schema of their own. */
  hasSchemas: boolean;
  /** Column types. */
  types: { bigint: string; text: string; serialKey: string };
  /** `ALTER TABLE … ADD COLUMN IF NOT EXISTS` (SQLite has no IF NOT EXISTS there). */
  addColumnIfNotExists: boolean;
}

export const SQL_DIALECTS: Record<SessionDbKind, SqlDialect> = {
  postgres: {
    param: (n) => `$${n}`,
    least: 'LEAST',
    batchKey: 'id',
    hasSchemas: true,
    types: { bigint: 'bigint', text: 'text', serialKey: 'bigserial PRIMARY KEY' },
    addColumnIfNotExists: true,
  },
  sqlite: {
    param: () => '?',
    least: 'MIN',
    // The implicit rowid: deleting by it walks the table's own b-tree.
    batchKey: 'rowid',
    hasSchemas: false,
    types: { bigint: 'INTEGER', text: 'TEXT', serialKey: 'INTEGER PRIMARY KEY AUTOINCREMENT' },
    addColumnIfNotExists: false,
  },
};
