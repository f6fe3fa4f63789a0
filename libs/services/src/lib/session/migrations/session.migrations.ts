import type { SessionTableRef } from '../sql/session-sql.js';
import { migrationContext, type MigrationClass } from './migration-context.js';
import { createSessionTable } from './v1-create-session-table.js';
import { addSessionUserId } from './v2-add-session-user-id.js';
import { addRevocationTables } from './v3-add-revocation-tables.js';
import { hashSessionIds } from './v4-hash-session-ids.js';
import { addSessionCreatedAt } from './v5-add-session-created-at.js';
import { addSessionDevice } from './v6-add-session-device.js';
import { addSessionChangeNotify } from './v7-add-session-change-notify.js';

/** The migrations in the order they run; a new one goes at the end, in a file of its own. */
const MIGRATIONS = [
  createSessionTable,
  addSessionUserId,
  addRevocationTables,
  hashSessionIds,
  addSessionCreatedAt,
  addSessionDevice,
  addSessionChangeNotify,
];

/**
 * The versioned schema of the session table, for one table on one backend. The table name
 * is configurable, so migrations are built per table; every statement is idempotent
 * (`IF NOT EXISTS`) so a table made by an older release without a migrations record, or a
 * second process racing this one, finds its work already done rather than failing.
 */
export function sessionMigrations(ref: SessionTableRef): MigrationClass[] {
  const context = migrationContext(ref);
  return MIGRATIONS.map((migration) => migration(context));
}
