import type { MigrationInterface } from 'typeorm';
import { sessionDialect, type SessionDialect } from '../dialects/index.js';
import { qualifiedTable, quoteIdent, type SessionTableRef } from '../sql/session-sql.js';
import { indexName } from '../sql/table-names.js';

export type MigrationClass = new () => MigrationInterface;

/**
 * What every migration of one session table builds on: the table's name is configurable, so
 * each migration is made per table (a function of this), in its dialect's spelling.
 */
export interface MigrationContext {
  ref: SessionTableRef;
  /** The session table's qualified, quoted name. */
  table: string;
  /** The quoted name of the session table's index on `column`. */
  index(column: string): string;
  dialect: SessionDialect;
}

export function migrationContext(ref: SessionTableRef): MigrationContext {
  return {
    ref,
    table: qualifiedTable(ref),
    index: (column) => quoteIdent(indexName(ref.table, column)),
    dialect: sessionDialect(ref.kind),
  };
}
