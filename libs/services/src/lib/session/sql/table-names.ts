import { COMPANION_TABLES } from './session-sql.js';

/**
 * PostgreSQL's longest identifier (NAMEDATALEN - 1 bytes; the store's names are ASCII): a
 * longer one is cut to it silently, so two names derived from one long table name can come
 * out the same, and one of them is never made.
 */
export const PG_MAX_IDENTIFIER_LENGTH = 63;

/** The name of the index on `column` of `table`. */
export const indexName = (table: string, column: string) => `${table}_${column}_idx`;

/** Each session table keeps its own migration history, so tables sharing a schema never collide. */
export const migrationsTableName = (table: string) => `${table}_migrations`;

/**
 * Every name the store derives from the session table's, besides its own: the companion
 * tables, the indexes, the migrations record. (The triggers and their functions are named by
 * a hash of fixed length; PostgreSQL names constraints and sequences itself, without clashes.)
 */
export function derivedTableNames(table: string): string[] {
  const companions = Object.values(COMPANION_TABLES).map((c) => `${table}_${c}`);
  return [
    ...companions,
    indexName(table, 'expires_at'),
    indexName(table, 'user_id'),
    indexName(`${table}_${COMPANION_TABLES.revokedTokens}`, 'expires_at'),
    migrationsTableName(table),
  ];
}

/** The longest of the names derived from `table`. */
export const longestDerivedName = (table: string) =>
  derivedTableNames(table).reduce((a, b) => (b.length > a.length ? b : a));

/**
 * The longest session table name on PostgreSQL: every name derived from it still fits in
 * an identifier.
 */
export const PG_MAX_TABLE_NAME_LENGTH = PG_MAX_IDENTIFIER_LENGTH - longestDerivedName('').length;
