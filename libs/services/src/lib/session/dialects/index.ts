import type { SessionDbKind } from '../config/session-db-url.util.js';
import { postgresDialect } from './postgres/postgres.dialect.js';
import type { SessionDialect } from './session-dialect.js';
import { sqliteDialect } from './sqlite/sqlite.dialect.js';

export type { SessionDialect } from './session-dialect.js';

const DIALECTS: Record<SessionDbKind, SessionDialect> = {
  postgres: postgresDialect,
  sqlite: sqliteDialect,
};

/** The dialect object of a backend: everything of the store that differs between them. */
export function sessionDialect(kind: SessionDbKind): SessionDialect {
  return DIALECTS[kind];
}
