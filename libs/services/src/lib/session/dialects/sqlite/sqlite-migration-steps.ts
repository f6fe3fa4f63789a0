import { qualifiedTable, quoteIdent } from '../../sql/session-sql.js';
import { SESSION_KEY_PATTERN, sessionKey } from '../../store/session-key.js';
import type { DialectMigrationSteps } from '../session-dialect.js';
import { sqliteHandle } from './sqlite-handle.js';

/** The migrations' SQLite ways. */
export const sqliteMigrationSteps: DialectMigrationSteps = {
  /** SQLite has no ADD COLUMN IF NOT EXISTS: the table's columns are read first. */
  async addColumn(q, ref, column, type) {
    const columns: { name: string }[] = await q.query(
      `PRAGMA table_info(${quoteIdent(ref.table)})`,
    );
    if (!columns.some((c) => c.name === column)) {
      await q.query(`ALTER TABLE ${qualifiedTable(ref)} ADD COLUMN ${column} ${type}`);
    }
  },

  /**
   * In one statement calling the store's own hash (the file is local: a million rows take
   * seconds).
   */
  async rekeySessionIds(q, ref) {
    const db = sqliteHandle(q.connection);
    const isKey = new RegExp(SESSION_KEY_PATTERN);
    db.function('bodhi_session_key', { deterministic: true }, (id) => sessionKey(String(id)));
    db.function('bodhi_is_session_key', { deterministic: true }, (id) =>
      isKey.test(String(id)) ? 1 : 0,
    );
    await q.query(
      `UPDATE ${qualifiedTable(ref)} SET id = bodhi_session_key(id) WHERE NOT bodhi_is_session_key(id)`,
    );
  },
};
