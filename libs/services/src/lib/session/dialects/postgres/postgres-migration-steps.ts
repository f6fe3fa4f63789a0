import { qualifiedTable, SessionTableRef } from '../../sql/session-sql.js';
import { SESSION_KEY_PATTERN } from '../../store/session-key.js';
import { pgSessionKey } from './pg-session-key.js';
import { dropInvalidationTriggerSql, invalidationTriggerSql } from './notify-triggers.js';
import type { DialectMigrationSteps } from '../session-dialect.js';

/**
 * Rows one statement of the re-key migration changes: each statement stays bounded, though
 * all of them commit together with the other migrations.
 */
export const REKEY_BATCH_SIZE = 1000;

/** The migrations' PostgreSQL ways. */
export const postgresMigrationSteps: DialectMigrationSteps = {
  async addColumn(q, ref, column, type) {
    await q.query(`ALTER TABLE ${qualifiedTable(ref)} ADD COLUMN IF NOT EXISTS ${column} ${type}`);
  },

  /**
   * In bounded batches, walking the primary key forward so no batch scans rows an earlier
   * one passed; `after` is compared, ordered and maximised in the column's own collation, in
   * SQL.
   */
  async rekeySessionIds(q, ref: SessionTableRef) {
    const t = qualifiedTable(ref);
    let after = '';
    for (;;) {
      const [batch] = (await q.query(
        `WITH batch AS (SELECT id FROM ${t} WHERE id > $1 AND id !~ '${SESSION_KEY_PATTERN}' ` +
          `ORDER BY id LIMIT ${REKEY_BATCH_SIZE}), ` +
          `rekeyed AS (UPDATE ${t} SET id = ${pgSessionKey(`${t}.id`)} ` +
          `FROM batch WHERE ${t}.id = batch.id RETURNING 1) ` +
          // The batch's own size decides when to stop: a row deleted meanwhile (an
          // instance of the previous release logging out) is not re-keyed, yet more may
          // follow. (A data-modifying WITH runs whether or not the query reads it.)
          'SELECT (SELECT count(*) FROM batch) AS n, (SELECT max(id) FROM batch) AS last',
        [after],
      )) as { n: string; last: string | null }[];
      if (Number(batch.n) < REKEY_BATCH_SIZE || batch.last === null) return;
      after = batch.last;
    }
  },

  changeNotifyTriggers: (ref) => ({
    install: invalidationTriggerSql(ref),
    drop: dropInvalidationTriggerSql(ref),
  }),
};
