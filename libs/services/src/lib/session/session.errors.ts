/**
 * Why a statement failed, as `storeErrors` counts it (a fixed set, never a message):
 * - `unavailable`: the database did not answer or refused the statement (down, closed,
 *   read-only, disk full, a pool out of connections…);
 * - `lock_timeout`: another connection held a lock the statement needed for longer than it
 *   waits (SQLite's busy timeout, PostgreSQL's lock_timeout, 55P03);
 * - `lost_prepared_statement`: a pooler without prepared-statement support lost a named
 *   statement (BODHI_SESSION_DB_STATEMENTS=unnamed fixes it).
 */
export type StoreFailureKind = 'unavailable' | 'lock_timeout' | 'lost_prepared_statement';

/**
 * Every `kind` of `storeErrors`: a statement's failure, or a save refused before any
 * statement ran (`too_large`: SessionTooLargeError; `invalid_input`: InvalidSessionInputError).
 */
export type StoreErrorKind = StoreFailureKind | 'too_large' | 'invalid_input';

/** The session database did not answer or failed; requests that need it answer 503. */
export class SessionStoreUnavailableError extends Error {
  constructor(
    message: string,
    readonly kind: StoreFailureKind = 'unavailable',
  ) {
    super(message);
    this.name = 'SessionStoreUnavailableError';
  }
}

/** A session grew past the configured limit; nothing was written (413). */
export class SessionTooLargeError extends Error {
  constructor(
    readonly bytes: number,
    readonly limit: number,
  ) {
    super(`session data is ${bytes} bytes, over the ${limit}-byte limit; nothing was saved`);
    this.name = 'SessionTooLargeError';
  }
}

/** Input no session can hold (e.g. a NUL character in an id); nothing was written (400). */
export class InvalidSessionInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidSessionInputError';
  }
}
