import { createHash } from 'node:crypto';
import type { Pool } from 'pg';
import {
  BODHI_SESSION_DB_STATEMENTS,
  type SessionDbStatementMode,
} from '../../../settings/setting.constants.js';
import { Row, SessionSqlExecutor, unavailable } from '../../sql/session-sql.executor.js';
import { isLockNotAvailable } from './transaction-lock.js';
import { connectionFor } from './pinned-connection.js';

/**
 * SQLSTATEs of a named statement the server connection does not have (26000) or already
 * has (42P05): what a transaction pooler without prepared-statement support answers, since
 * each query may land on another server connection than the one that prepared it.
 */
const LOST_PREPARED_STATEMENT = new Set(['26000', '42P05']);

export class PostgresExecutor implements SessionSqlExecutor {
  private readonly names = new Map<string, string>();

  constructor(
    private readonly pool: Pool,
    private readonly statements: SessionDbStatementMode,
  ) {}

  async rows(sql: string, params: unknown[]): Promise<Row[]> {
    return (await this.query(sql, params)).rows;
  }

  async run(sql: string, params: unknown[]): Promise<number> {
    return (await this.query(sql, params)).rowCount ?? 0;
  }

  private async query(sql: string, params: unknown[]) {
    try {
      return await connectionFor(this.pool).query(
        this.statements === 'named'
          ? { name: this.nameOf(sql), text: sql, values: params }
          : { text: sql, values: params },
      );
    } catch (e) {
      const code = (e as { code?: unknown } | null)?.code;
      if (
        this.statements === 'named' &&
        typeof code === 'string' &&
        LOST_PREPARED_STATEMENT.has(code)
      ) {
        throw unavailable(e, {
          detail: `named prepared statements do not survive this connection's pooler; set ${BODHI_SESSION_DB_STATEMENTS}=unnamed`,
          kind: 'lost_prepared_statement',
        });
      }
      throw unavailable(e, { kind: isLockNotAvailable(e) ? 'lock_timeout' : 'unavailable' });
    }
  }

  /** A stable statement name per SQL text (pg prepares it once per connection). */
  private nameOf(sql: string): string {
    let name = this.names.get(sql);
    if (!name) {
      name = `bodhi_${createHash('sha1').update(sql).digest('hex').slice(0, 16)}`;
      this.names.set(sql, name);
    }
    return name;
  }
}
