import type BetterSqlite3 from 'better-sqlite3';
import type { DataSource } from 'typeorm';

/** The better-sqlite3 handle a SQLite DataSource opened. */
export function sqliteHandle(dataSource: DataSource): BetterSqlite3.Database {
  return (dataSource.driver as unknown as { databaseConnection: BetterSqlite3.Database })
    .databaseConnection;
}
