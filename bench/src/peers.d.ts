// better-sqlite3-session-store 0.1.0 ships no types.
declare module 'better-sqlite3-session-store' {
  import type BetterSqlite3 from 'better-sqlite3';
  import session, { SessionData, Store } from 'express-session';

  interface SqliteStore extends Store {
    /** Starts the expired-session sweep (a setInterval that is never cleared). */
    startInterval(): void;
    get(sid: string, callback: (err: unknown, session?: SessionData | null) => void): void;
    set(sid: string, session: SessionData, callback?: (err?: unknown) => void): void;
    destroy(sid: string, callback?: (err?: unknown) => void): void;
    touch(sid: string, session: SessionData, callback?: (err?: unknown) => void): void;
  }

  function betterSqlite3SessionStore(
    expressSession: typeof session,
  ): new (options: {
    client: BetterSqlite3.Database;
    expired?: { clear?: boolean; intervalMs?: number };
  }) => SqliteStore;
  export = betterSqlite3SessionStore;
}
