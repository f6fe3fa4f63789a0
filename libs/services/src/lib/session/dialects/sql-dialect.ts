/**
 * How one backend spells what the store's SQL needs; the statements themselves are written
 * once for both (sql/session-sql.ts, revocation/revocation-statements.ts, the migrations). Each dialect object carries its own
 * (`SessionDialect.sql`), beside what opens, migrates and locks.
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
}
