import type { Role } from './auth.constants.js';
import { IdentityProviderAdminUnsupportedError } from './auth.errors.js';

/**
 * What the server asks of the identity provider's admin API, apart from any one provider:
 * routes call this port, and `AppServicesModule` binds it to the adapter `BODHI_AUTH_ADMIN_API`
 * names (`DevAuthServerAdmin` for the development provider, `NoIdentityProviderAdmin` for
 * none). The abstract class is also the injection token.
 *
 * Changing a user's role, and ending all of a user's grants so that no refresh token issued
 * to them outlives the decision. (Revoking the one refresh token a session held needs no
 * admin API: `AuthService.revokeRefreshToken`, RFC 7009.)
 */
export abstract class IdentityProviderAdmin {
  /**
   * Gives `userId` this client's `role` in place of the one it has; the user's next token
   * (a refresh, a new login) carries it. Throws `AuthGrantRejectedError` when the provider
   * does not know the user, `AuthProviderUnavailableError` when it cannot be reached or
   * refuses otherwise, `IdentityProviderAdminUnsupportedError` when there is no admin API.
   */
  abstract setUserRole(userId: string, role: Role): Promise<void>;

  /**
   * Ends the user's grants at the provider: every refresh token issued to the user for this
   * client stops working (Keycloak: `POST /admin/realms/{realm}/users/{id}/logout`, which
   * ends the user's provider sessions too). Access tokens already issued are JWTs and live
   * until they expire. Throws as `setUserRole` does.
   */
  abstract revokeUserGrants(userId: string): Promise<void>;
}

/**
 * The adapter when no admin API is configured: every request is refused, none is guessed at
 * (no role changes, no ending of a user's grants at the provider).
 */
export class NoIdentityProviderAdmin extends IdentityProviderAdmin {
  async setUserRole(_userId: string, _role: Role): Promise<void> {
    throw new IdentityProviderAdminUnsupportedError('Changing a role');
  }

  async revokeUserGrants(_userId: string): Promise<void> {
    throw new IdentityProviderAdminUnsupportedError("Ending a user's grants");
  }
}
