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

/** No admin API of the identity provider is configured: the change cannot be made here. */
export class IdentityProviderAdminUnsupportedError extends Error {
  constructor(what: string) {
    super(
      `${what} needs the identity provider's admin API, and none is configured (BODHI_AUTH_ADMIN_API)`,
    );
    this.name = 'IdentityProviderAdminUnsupportedError';
  }
}
