/** The identity provider could not be reached or answered unexpectedly (503-worthy). */
export class AuthProviderUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AuthProviderUnavailableError';
  }
}

/** The provider refused a grant (bad or replayed code, revoked refresh token: 401-worthy). */
export class AuthGrantRejectedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AuthGrantRejectedError';
  }
}

/** A token that is not a valid token of our provider (bad signature, issuer, shape). */
export class InvalidAccessTokenError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidAccessTokenError';
  }
}
