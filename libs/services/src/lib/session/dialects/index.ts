import type { SessionDbKind } from '../config/session-db-url.util.js';
import { postgresDialect } from './postgres/postgres.dialect.js';
import type { SessionDialect } from './session-dialect.js';
import { sqliteDialect } from './sqlite/sqlite.dialect.js';

export type { SessionDialect } from './session-dialect.js';

/**
 * The dialect object of a backend: everything of the store that differs between them, its
 * SQL spelling included. The one lookup by backend.
 */
export function sessionDialect(kind: SessionDbKind): SessionDialect {
  // Read at the call, not into a table when this module loads: the dialects import the SQL
  // builders that import this lookup, and a table built during that cycle would hold holes.
  return kind === 'postgres' ? postgresDialect : sqliteDialect;
}
