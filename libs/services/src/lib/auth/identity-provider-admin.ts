import type { Role } from './auth.constants.js';
import { IdentityProviderAdminUnsupportedError } from './auth.errors.js';

/**
 * What the server asks of the identity provider's admin API, apart from any one provider:
 * routes call this port, and `AppServicesModule` binds it to the adapter `BODHI_AUTH_ADMIN_API`
 * names (`DevAuthServerAdmin` for the development provider, `NoIdentityProviderAdmin` for none). The abstract class is also the injection token.
 *
 * Logging a user out at the provider and revoking the refresh tokens a session held go here
 * next, so that ending a session ends its credentials too.
 */
export abstract class IdentityProviderAdmin {
  /**
   * Gives `userId` this client's `role` in place of the one it has; the user's next token
   * (a refresh, a new login) carries it. Throws `AuthGrantRejectedError` when the provider
   * does not know the user, `AuthProviderUnavailableError` when it cannot be reached or
   * refuses otherwise, `IdentityProviderAdminUnsupportedError` when there is no admin API.
   */
  abstract setUserRole(userId: string, role: Role): Promise<void>;
}

/** The adapter when no admin API is configured: every change is refused, none is guessed at. */
export class NoIdentityProviderAdmin extends IdentityProviderAdmin {
  async setUserRole(_userId: string, _role: Role): Promise<void> {
    throw new IdentityProviderAdminUnsupportedError('Changing a role');
  }
}
