/** The session database did not answer or failed; requests that need it answer 503. */
export class SessionStoreUnavailableError extends Error {
  constructor(message: string) {
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
